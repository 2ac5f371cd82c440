"""Include/exclude patterns over posix relative paths, gitignore-style.

``*`` and ``?`` never cross ``/``, ``**`` matches any number of directories, a
pattern without ``/`` matches a file or directory name at any depth (``*.md``,
``drafts``), and a pattern that matches a directory matches everything inside
it::

    from ossrag.ingest.patterns import match_path

    match_path("drafts", "x/drafts/y.md")        # True

Hand-written rather than ``fnmatch``/``pathlib.PurePath.match``: neither keeps
``*`` inside one path segment with ``**`` across them, nor gitignore's
directory rule, on every Python version ossrag supports.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MAGIC", "compile_glob", "hidden", "match_path"]

#: Characters that make a spec a glob rather than a path.
MAGIC = re.compile(r"[*?\[]")


@lru_cache(maxsize=256)
def compile_glob(pattern: str, anchored: bool) -> re.Pattern[str]:
    """Translate a gitignore-ish glob into a regex over posix relative paths."""
    pat = pattern.strip().replace("\\", "/")
    while pat.startswith("./"):
        pat = pat[2:]
    rooted = pat.startswith("/")
    pat = pat.strip("/")
    out: list[str] = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pat.find(
                "]", i + 2 if pat.startswith("[!", i) or pat.startswith("[^", i) else i + 1
            )
            if end < 0:  # an unclosed bracket is a literal, as in fnmatch
                out.append(re.escape(c))
                i += 1
                continue
            body = pat[i + 1 : end]
            if body[:1] in "!^":
                body = "^" + body[1:]
            out.append("(?!/)[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    regex = "".join(out)
    if anchored:  # a glob spec: the whole path must match, nothing more
        return re.compile(f"{regex}\\Z")
    # Without a slash the pattern names a file or directory at any depth; a
    # matching directory takes everything below it (as in .gitignore).
    prefix = "" if ("/" in pat or rooted) else "(?:.*/)?"
    return re.compile(f"{prefix}{regex}(?:/.*)?\\Z")


def match_path(pattern: str, path: str) -> bool:
    """True when the relative posix ``path`` matches an include/exclude ``pattern``.

    >>> match_path("en/faq/*.md", "en/faq/product_faq.md"), match_path("en/faq/*.md", "en/faq/a/b.md")
    (True, False)
    >>> match_path("**/*.md", "a/b/c.md"), match_path("*.md", "a/b/c.md"), match_path("drafts", "x/drafts/y.md")
    (True, True, True)
    """
    return compile_glob(pattern, False).match(path) is not None


def hidden(path: str) -> bool:
    """True for dot-files, dot-directories and macOS' ``__MACOSX`` folders in ``path``."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))
