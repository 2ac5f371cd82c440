"""Find source files and turn them into :class:`~ossrag.types.Document` objects.

Two steps, kept apart so a caller can report progress and skip bad files
(this module finds the files; :mod:`ossrag.ingest.parsers` parses them, and
:func:`parse` is re-exported here)::

    from ossrag.ingest.loaders import discover, parse

    sources = discover("docs/", include=["**/*.md"], exclude=["drafts/**"])
    for item in sources:                    # lazily, one file at a time
        if isinstance(item, Skipped):
            print("skipped", item.source, item.reason)
            continue
        try:
            doc = parse(item)               # RawSource -> Document
        except LoadError as exc:
            print("skipped", item.source, exc)

A spec is a file, a directory (recursive), a glob (``'docs/**/*.md'``), a
``.zip`` file, or an ``http(s)://`` URL of a page or of a zip (such as the
tutorial's ``milvus_docs_2.4.x_en.zip``).  Zip archives are read in memory and
never extracted to disk.

Include/exclude patterns are matched against the ``source`` path relative to
the origin, gitignore-style: ``*`` and ``?`` never cross ``/``, ``**`` matches
any number of directories, a pattern without ``/`` matches a file or directory
name at any depth (``*.md``, ``drafts``), and a pattern that matches a
directory matches everything inside it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ossrag.errors import SourceError
from ossrag.ingest.parsers import FORMATS, format_for_name, parse, split_front_matter
from ossrag.ingest.parsers._text import looks_binary
from ossrag.types import RawSource, Skipped

__all__ = [
    "FORMATS",
    "MAX_DOWNLOAD_BYTES",
    "MAX_FILE_BYTES",
    "SourceSet",
    "detect_format",
    "discover",
    "match_path",
    # Parsing lives in ossrag.ingest.parsers; these two stay importable from
    # here, where callers found them before the split.
    "parse",
    "split_front_matter",
]

MAX_FILE_BYTES = 50 * 1024 * 1024  # one document; anything larger is almost surely not prose
MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024  # a zip fetched from a URL is held in memory

_CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/x-rst": "rst",
    "text/plain": "text",
    "application/pdf": "pdf",
}
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
_MAGIC = re.compile(r"[*?\[]")


def detect_format(name: str) -> str | None:
    """Format of a file by its name, or None when ossrag cannot read it.

    Compound suffixes count: Sphinx's ``_sources/x.rst.txt`` is reST and
    ``x.md.txt`` Markdown.  Plain ``.txt`` is "text", whose content
    :func:`~ossrag.ingest.parsers.parse` sniffs for reST or Markdown.

    >>> detect_format("en/faq/product_faq.md"), detect_format("_sources/a.rst.txt"), detect_format("logo.png")
    ('markdown', 'rst', None)
    """
    return format_for_name(name)


def _format_or_text(name: str) -> str | None:
    """A found file's format; a file without any suffix (README, NOTES) is read as text.

    Its content then decides (reST, Markdown or plain text); binaries are
    reported by ``parse`` as such.
    """
    if not PurePosixPath(name).suffix:
        return "text"
    return detect_format(name)


# ---------------------------------------------------------------- patterns


@lru_cache(maxsize=256)
def _compile(pattern: str, anchored: bool) -> re.Pattern[str]:
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
    return _compile(pattern, False).match(path) is not None


def _hidden(path: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


def _unsafe_entry(name: str) -> str | None:
    """Why a zip entry name must not be trusted, or None when it is safe."""
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "absolute path"
    if re.match(r"[A-Za-z]:", norm):
        return "drive letter"
    if ".." in norm.split("/"):
        return "'..' component"
    if "\x00" in norm:
        return "NUL byte"
    return None


# ---------------------------------------------------------------- the set


@dataclass
class SourceSet:
    """The files named by one spec.  Iterate it to get ``RawSource`` or ``Skipped``.

    ``origin`` identifies the set in the index (absolute directory, absolute zip
    path or URL); every item's ``source`` is relative to it.
    """

    origin: str
    kind: str  # dir | file | glob | zip | url-zip | url
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    pattern: str | None = None  # kind=glob: the glob relative to origin
    only: str | None = None  # kind=file/url: the one source of the set
    _payload: bytes | None = field(default=None, repr=False)  # downloaded bytes
    _fmt: str | None = field(default=None, repr=False)  # kind=url: format of the page

    def in_scope(self, source: str) -> bool:
        """Would ``source`` (previously indexed under this origin) belong to this set?

        Used after re-ingesting to delete sources that disappeared: a source
        that is in scope but was not seen again is gone.  A single file or page
        only ever covers itself, so ingesting one file never deletes its
        siblings.
        """
        if self.only is not None:
            return source == self.only
        return self._selected(source)

    def _selected(self, path: str, *, explicit: bool = False) -> bool:
        if _hidden(path) and not explicit:  # a hidden file named on its own is wanted
            return False
        if self.pattern is not None and not _compile(self.pattern, True).match(path):
            return False
        if self.include and not any(match_path(p, path) for p in self.include):
            return False
        return not any(match_path(p, path) for p in self.exclude)

    def _excluded_dir(self, path: str) -> bool:
        return any(match_path(p, path) for p in self.exclude)

    def __iter__(self) -> Iterator[RawSource | Skipped]:
        if self.kind == "url":
            assert self._payload is not None and self.only is not None and self._fmt
            yield RawSource(self.origin, self.only, self._payload, self._fmt)
        elif self.kind == "url-zip":
            assert self._payload is not None
            yield from self._iter_zip(io.BytesIO(self._payload))
        elif self.kind == "zip":
            with open(self.origin, "rb") as fh:
                yield from self._iter_zip(fh)
        elif self.kind == "file":
            assert self.only is not None
            if self._selected(self.only, explicit=True):
                yield self._read_file(Path(self.origin) / self.only, self.only)
        else:
            yield from self._iter_dir()

    def _candidate(self, rel: str) -> Skipped | str | None:
        """None: silently not part of the set; Skipped: reported; str: the format."""
        if not self._selected(rel):
            return None
        fmt = _format_or_text(rel)
        if fmt is None:
            return Skipped(self.origin, rel, f"unsupported format {PurePosixPath(rel).suffix.lower()}")
        return fmt

    def _iter_dir(self) -> Iterator[RawSource | Skipped]:
        root = Path(self.origin)
        for dirpath, dirnames, filenames in os.walk(root):
            reldir = Path(dirpath).relative_to(root).as_posix()
            reldir = "" if reldir == "." else reldir + "/"
            # Prune hidden and excluded directories instead of walking them
            # (.git or node_modules can hold many thousand files).
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not self._excluded_dir(reldir + d)
            )
            for name in sorted(filenames):
                rel = reldir + name
                verdict = self._candidate(rel)
                if verdict is None or isinstance(verdict, Skipped):
                    if verdict is not None:
                        yield verdict
                    continue
                yield self._read_file(Path(dirpath) / name, rel, verdict)

    def _read_file(self, path: Path, rel: str, fmt: str | None = None) -> RawSource | Skipped:
        fmt = fmt or _format_or_text(rel)
        if fmt is None:
            return Skipped(self.origin, rel, f"unsupported format {path.suffix.lower()}")
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                return Skipped(self.origin, rel, _too_large(size))
            if not path.suffix:  # peek first: a large binary is not read whole
                with open(path, "rb") as fh:
                    why = _not_a_document(fh.read(8192))
                if why:
                    return Skipped(self.origin, rel, why)
            data = path.read_bytes()
        except OSError as exc:
            return Skipped(self.origin, rel, f"cannot read file: {exc.strerror or exc}")
        return RawSource(self.origin, rel, data, fmt)

    def _iter_zip(self, fh: io.BufferedIOBase | io.BytesIO) -> Iterator[RawSource | Skipped]:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(
                f"not a valid zip archive: {self.origin} ({exc})",
                hint="check that the download finished; `unzip -t FILE` tests an archive",
            ) from exc
        with zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                why = _unsafe_entry(name)
                if why:
                    # Never used as a path anyway (entries are read in memory),
                    # but such a name is a sign of a malicious archive.
                    yield Skipped(self.origin, name, f"unsafe path in zip ({why})")
                    continue
                rel = name.replace("\\", "/")
                while rel.startswith("./"):
                    rel = rel[2:]
                verdict = self._candidate(rel)
                if verdict is None or isinstance(verdict, Skipped):
                    if verdict is not None:
                        yield verdict
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    yield Skipped(self.origin, rel, _too_large(info.file_size))
                    continue
                try:
                    with zf.open(info) as member:
                        # The header's size can lie (zip bombs): read one byte more.
                        data = member.read(MAX_FILE_BYTES + 1)
                except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError) as exc:
                    yield Skipped(self.origin, rel, f"cannot read zip entry: {exc}")
                    continue
                if len(data) > MAX_FILE_BYTES:
                    yield Skipped(self.origin, rel, _too_large(len(data)))
                    continue
                why = _not_a_document(data) if not PurePosixPath(rel).suffix else None
                yield Skipped(self.origin, rel, why) if why else RawSource(self.origin, rel, data, verdict)


def _not_a_document(head: bytes) -> str | None:
    """Why a file without an extension is not read as text (a binary, a script), or None."""
    if head.startswith(b"#!"):
        return "a script (#! line) without an extension, not a document"
    if looks_binary(head):
        return "a binary file without an extension"
    return None


def _too_large(size: int) -> str:
    return f"file too large ({size / 1e6:.0f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB)"


# ---------------------------------------------------------------- discover


def discover(
    spec: str,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    timeout: float = 30.0,
) -> SourceSet:
    """Resolve one source spec into a lazily iterated :class:`SourceSet`.

    Raises :class:`SourceError` when the spec cannot be used at all (missing
    path, HTTP error, unreachable host, corrupt zip); problems with single
    files come out of the iteration as ``Skipped`` or later from ``parse``.

    >>> s = discover("docs", include=["*.md"])    # doctest: +SKIP  (ossrag's own docs/)
    >>> sorted(r.source for r in s)[:2]           # doctest: +SKIP
    ['architecture.md', 'benchmarks.md']
    """
    inc = tuple(p for p in include if p.strip())
    exc = tuple(p for p in exclude if p.strip())
    scheme = urlsplit(spec).scheme.lower()
    if scheme in ("http", "https"):
        return _discover_url(spec, inc, exc, timeout)
    if re.match(r"[a-z][a-z0-9+.-]+://", spec, re.IGNORECASE):
        raise SourceError(
            f"unsupported URL scheme in {spec!r}",
            hint="use an http(s):// URL, or download the file and ingest the local path",
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        return SourceSet(str(path.resolve()), "dir", inc, exc)
    if path.is_file():
        path = path.resolve()
        if path.suffix.lower() == ".zip":
            # Checked now so that a bad archive fails before anything is written.
            if not zipfile.is_zipfile(path):
                raise SourceError(
                    f"not a valid zip archive: {spec}",
                    hint="check that the download finished; `unzip -t FILE` tests an archive",
                )
            return SourceSet(str(path), "zip", inc, exc)
        if _format_or_text(path.name) is None:
            raise SourceError(
                f"unsupported format {path.suffix.lower()}: {spec}",
                hint="ossrag reads " + ", ".join(sorted(FORMATS)) + " files and .zip archives",
            )
        return SourceSet(str(path.parent), "file", inc, exc, only=path.name)
    if path.exists():
        raise SourceError(f"not a regular file or directory: {spec}")
    if _MAGIC.search(spec):
        return _discover_glob(spec, inc, exc)
    raise SourceError(
        f"no such file or directory: {spec}",
        hint="check the path; quote glob patterns ('docs/**/*.md') so the shell leaves them alone",
    )


def _discover_glob(spec: str, inc: tuple[str, ...], exc: tuple[str, ...]) -> SourceSet:
    parts = Path(spec).expanduser().as_posix().split("/")
    cut = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
    base_parts = parts[:cut]
    base = Path("/".join(base_parts) if base_parts else ".")
    if base_parts == [""]:  # a glob right below the filesystem root
        base = Path("/")
    if not base.is_dir():
        raise SourceError(
            f"no such directory: {base} (from the pattern {spec!r})",
            hint="the part of a glob before the first * must be an existing directory",
        )
    pattern = "/".join(parts[cut:])
    return SourceSet(str(base.resolve()), "glob", inc, exc, pattern=pattern)


def _discover_url(
    url: str, inc: tuple[str, ...], exc: tuple[str, ...], timeout: float
) -> SourceSet:
    data, ctype = _fetch(url, timeout)
    url_path = urlsplit(url).path
    if url_path.lower().endswith(".zip") or ctype in _ZIP_TYPES or data[:4] == b"PK\x03\x04":
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise SourceError(
                f"{url} did not return a zip archive (content type {ctype or 'none'}, "
                f"{len(data)} bytes)",
                hint="open the URL in a browser: it may need a login or point at a page, not a file",
            )
        return SourceSet(url, "url-zip", inc, exc, _payload=data)
    if data[:5] == b"%PDF-":
        fmt: str | None = "pdf"
    else:
        # The extension first: raw.githubusercontent.com serves .md as text/plain.
        fmt = detect_format(url_path) or _CONTENT_TYPES.get(ctype)
    if fmt is None:
        raise SourceError(
            f"unsupported content type {ctype or '(none)'} at {url}",
            hint="ossrag reads HTML, Markdown, reStructuredText, plain text, PDF and zip archives",
        )
    return SourceSet(url, "url", inc, exc, only=url, _payload=data, _fmt=fmt)


def _fetch(url: str, timeout: float) -> tuple[bytes, str]:
    """GET ``url`` (following redirects) into memory: (body, media type)."""
    import httpx

    hint = (
        "check the URL and your network; you can also download the file and ingest the local path"
    )
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise SourceError(
                    f"cannot download {url}: HTTP {resp.status_code} {resp.reason_phrase}".rstrip(),
                    hint=hint,
                )
            ctype = resp.headers.get("content-type", "")
            buf = bytearray()
            for block in resp.iter_bytes():
                buf += block
                if len(buf) > MAX_DOWNLOAD_BYTES:
                    raise SourceError(
                        f"download too large: {url} (over {MAX_DOWNLOAD_BYTES // 2**20} MiB)",
                        hint="download it yourself and ingest the local file",
                    )
    except httpx.TimeoutException as e:
        raise SourceError(f"timed out after {timeout:g}s fetching {url}", hint=hint) from e
    except httpx.InvalidURL as e:
        raise SourceError(f"invalid URL {url!r}: {e}") from e
    except httpx.HTTPError as e:
        raise SourceError(f"cannot reach {url}: {e}", hint=hint) from e
    media, _, params = ctype.partition(";")
    media = media.strip().lower()
    data = bytes(buf)
    charset = re.search(r"charset=[\"']?([\w.:-]+)", params, re.IGNORECASE)
    if charset and media.startswith("text/") and charset.group(1).lower() not in ("utf-8", "utf8"):
        # Store pages as UTF-8 so parse() needs no side channel for the charset.
        # On failure parse() reports the bytes as they are.
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            data = data.decode(charset.group(1)).encode("utf-8")
    return data, media
