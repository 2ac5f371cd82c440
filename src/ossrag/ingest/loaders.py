"""Find source files and turn them into :class:`~ossrag.types.Document` objects.

Two steps, kept apart so a caller can report progress and skip bad files::

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
import textwrap
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ossrag.errors import LoadError, SourceError
from ossrag.types import Document, RawSource, Skipped

__all__ = [
    "FORMATS",
    "MAX_DOWNLOAD_BYTES",
    "MAX_FILE_BYTES",
    "SourceSet",
    "detect_format",
    "discover",
    "match_path",
    "parse",
    "split_front_matter",
]

FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
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
    """Format of a file by its extension, or None when ossrag cannot read it.

    >>> detect_format("en/faq/product_faq.md"), detect_format("logo.png")
    ('markdown', None)
    """
    return FORMATS.get(PurePosixPath(name).suffix.lower())


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
        fmt = detect_format(rel)
        if fmt is None:
            suffix = PurePosixPath(rel).suffix.lower() or "(no extension)"
            return Skipped(self.origin, rel, f"unsupported format {suffix}")
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
        fmt = fmt or detect_format(rel)
        if fmt is None:
            suffix = path.suffix.lower() or "(no extension)"
            return Skipped(self.origin, rel, f"unsupported format {suffix}")
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                return Skipped(self.origin, rel, _too_large(size))
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
                yield RawSource(self.origin, rel, data, verdict)


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

    >>> s = discover("../shared/corpora/milvus_docs", include=["en/faq/*.md"])  # doctest: +SKIP
    >>> sorted(r.source for r in s)[:1]                                         # doctest: +SKIP
    ['en/faq/operational_faq.md']
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
        if detect_format(path.name) is None:
            raise SourceError(
                f"unsupported format {path.suffix.lower() or '(no extension)'}: {spec}",
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


# ---------------------------------------------------------------- parse


def parse(raw: RawSource) -> Document:
    """Decode and parse one source into a Document; raises LoadError with the reason.

    Markdown loses its YAML front matter (``title`` becomes ``Document.title``,
    ``id`` and ``summary`` go to metadata); HTML and reStructuredText become
    Markdown-like text whose ``#`` headings the chunker can cut at; PDF pages
    are joined with blank lines.

    >>> doc = parse(RawSource("/docs", "a.md", b"---\\ntitle: A\\n---\\n# A\\n\\nHello.\\n", "markdown"))
    >>> doc.title, doc.text
    ('A', '# A\\n\\nHello.\\n')
    """
    meta: dict[str, object] = {}
    if raw.fmt == "pdf":
        text, title, pages = _parse_pdf(raw.data)
        meta["pages"] = pages
    else:
        text = _decode(raw.data, raw.fmt)
        if raw.fmt == "markdown":
            front, text = split_front_matter(text)
            title = front.get("title", "") or _first_h1(text)
            meta.update({k: front[k] for k in ("id", "summary") if front.get(k)})
        elif raw.fmt == "html":
            text, title = _html_to_text(text)
        elif raw.fmt == "rst":
            text, title = _rst_to_markdown(text)
        elif raw.fmt == "text":
            title = ""
        else:
            raise LoadError(f"unknown format {raw.fmt!r}")
    if not re.search(r"[^\W_]", text):  # no letter or digit anywhere
        what = (
            "empty file" if raw.fmt in ("markdown", "text") else f"no text in this {raw.fmt} file"
        )
        raise LoadError(what)
    return Document(raw.origin, raw.source, text, raw.fmt, raw.source_hash, title, meta)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    # Control characters other than tab, newlines, form feed and escape are
    # rare in any text encoding (including latin-1) but common in binaries.
    controls = sum(1 for b in sample if b < 32 and b not in (8, 9, 10, 12, 13, 27))
    return controls > len(sample) * 0.05


def _decode(data: bytes, fmt: str) -> str:
    if not data.strip():
        raise LoadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Windows editors)
        try:
            return _clean_text(data.decode("utf-16"))
        except UnicodeDecodeError:
            pass
    if _looks_binary(data):
        raise LoadError(
            f"looks like a binary file, not {fmt} text",
            hint="exclude it with --exclude, or give it its proper extension",
        )
    try:
        return _clean_text(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        if fmt == "html":  # an HTML page may declare its own charset
            m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", data[:4096], re.IGNORECASE)
            if m:
                try:
                    return _clean_text(data.decode(m.group(1).decode("ascii")))
                except (LookupError, UnicodeDecodeError):
                    pass
        raise LoadError(
            f"not valid UTF-8 text (first bad byte at offset {exc.start})",
            hint="convert it to UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        ) from exc


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


# -- markdown

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
_KEY = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split YAML front matter off Markdown: ``({key: value}, rest)``.

    Only top-level ``key: value`` scalars are read (no PyYAML): quotes are
    removed, indented continuation lines and ``|``/``>`` blocks are folded in,
    nested mappings and lists are ignored.  Text without front matter comes
    back unchanged with an empty dict.
    """
    m = _FRONT.match(text)
    if not m:
        return {}, text
    fields: dict[str, str] = {}
    key = None
    for line in m.group(1).split("\n"):
        km = _KEY.match(line)
        if km:
            key = km.group(1)
            fields[key] = km.group(2) or ""
        elif key and line[:1] in (" ", "\t") and line.strip() and not line.strip().startswith("- "):
            if not re.match(r"\s*[\w.-]+\s*:(\s|$)", line):  # not a nested mapping
                fields[key] = (fields[key] + " " + line.strip()).strip()
        elif line.strip():
            key = None
    if not fields:  # two thematic breaks at the top, not front matter
        return {}, text
    for k, v in fields.items():
        v = re.sub(r"^[|>][+-]?\s*", "", v)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        fields[k] = v.strip()
    return fields, text[m.end() :]


def _first_h1(text: str) -> str:
    fence = None
    for line in text.split("\n"):
        fm = re.match(r" {0,3}(```+|~~~+)", line)
        if fm:
            fence = None if fence and fm.group(1).startswith(fence) else (fence or fm.group(1))
        elif fence is None and line.startswith("# "):
            return line[2:].strip().rstrip("#").strip()
    return ""


# -- html

_HTML_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_HTML_BLOCK = {
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
    "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot",
    "blockquote", "figure", "figcaption", "form", "fieldset", "address",
    "details", "summary", "hr", "caption",
}  # fmt: skip


def _html_to_text(html: str) -> tuple[str, str]:
    """Visible text of an HTML page as Markdown-like text, and its title."""
    p = _HTMLText()
    p.feed(html)
    p.close()
    lines: list[str] = []
    in_pre = False
    for line in "".join(p.out).split("\n"):
        if line == "```":
            while in_pre and lines and not lines[-1]:  # <pre> content ends with a newline
                lines.pop()
            in_pre = not in_pre
            lines.append(line)
        elif in_pre:
            lines.append(line.rstrip())
        elif not re.fullmatch(r"\s*(#+|-|\|)?\s*", line):  # drop empty headings/items
            lines.append(line.strip())
        else:
            lines.append("")
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
    title = " ".join("".join(p.title).split()) or p.first_h1
    return text, title


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.first_h1 = ""
        self._skip = 0  # depth inside script/style/...
        self._head = False
        self._in_title = False
        self._heading: list[str] | None = None  # text of the open h1-h6
        self._level = 0
        self._pre = 0
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._head = True
        elif tag == "body":
            self._head = False  # a page may never close <head>
        elif tag == "title":
            self._in_title = True
        elif tag in _HTML_SKIP:
            self._skip += 1
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._level = int(tag[1])
            self._heading = []
        elif tag == "pre":
            self.out.append("\n\n```\n")
            self._pre += 1
        elif tag == "br":
            self._text(" " if self._heading is not None else "\n", raw=True)
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "tr":
            self._cells = 0
            self.out.append("\n")
        elif tag in ("td", "th"):
            self._cells += 1
            if self._cells > 1:
                self.out.append(" | ")
        elif tag in _HTML_BLOCK:
            self.out.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._head = False
        elif tag == "title":
            self._in_title = False
        elif tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            text = " ".join("".join(self._heading).split())
            if text:
                self.out.append(f"\n\n{'#' * self._level} {text}\n\n")
                if self._level == 1 and not self.first_h1:
                    self.first_h1 = text
            self._heading = None
        elif tag == "pre" and self._pre:
            self._pre -= 1
            self.out.append("\n```\n\n")
        elif tag in _HTML_BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:  # <title> is metadata, never body text
            self.title.append(data)
            return
        if self._skip or self._head:
            return
        self._text(data)

    def _text(self, data: str, raw: bool = False) -> None:
        if self._heading is not None:
            self._heading.append(data)
        elif self._pre or raw:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


# -- reStructuredText

_ADORN = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,;/?@|])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.(?:\s+(.*))?$")
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode"}
_DROP_DIRECTIVES = {
    "image", "include", "literalinclude", "raw", "highlight", "contents", "sectnum",
    "meta", "index", "toctree", "role", "default-role", "target-notes", "autosummary",
}  # fmt: skip


def _rst_to_markdown(text: str) -> tuple[str, str]:
    """reStructuredText as Markdown-like text: titles become ``#`` headings.

    Heading levels follow the order in which adornment styles first appear
    (the rst rule); labels, comments and pure-markup directives are dropped,
    other directives keep their content, code becomes fenced blocks.
    """
    levels: list[tuple[str, bool]] = []
    titles: list[str] = []
    body = _rst_lines(text.split("\n"), levels, titles)
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip("\n") + "\n"
    return out, titles[0] if titles else ""


def _rst_block(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The indented block after line i-1: (dedented lines, index after it)."""
    j = i
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > i and not lines[j - 1].strip():  # trailing blank lines are not part of it
        j -= 1
    return textwrap.dedent("\n".join(lines[i:j])).split("\n"), j


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rst_lines(lines: list[str], levels: list[tuple[str, bool]], titles: list[str]) -> list[str]:
    out: list[str] = []

    def heading(title: str, key: tuple[str, bool]) -> None:
        if key not in levels:
            levels.append(key)
        titles.append(title)
        out.extend(["", "#" * min(levels.index(key) + 1, 6) + " " + title, ""])

    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        adorn = _ADORN.match(line)
        nxt = lines[i + 1] if i + 1 < n else ""
        if (  # overlined title
            adorn and i + 2 < n and nxt.strip() and not _ADORN.match(nxt)
            and lines[i + 2].rstrip() == line.rstrip() and len(line.rstrip()) >= len(nxt.strip())
        ):  # fmt: skip
            heading(nxt.strip(), (adorn.group(1), True))
            i += 3
            continue
        under = _ADORN.match(nxt)
        if (  # underlined title
            line.strip() and not adorn and not line[0].isspace() and under
            and len(nxt.rstrip()) >= len(line.rstrip())
        ):  # fmt: skip
            heading(line.strip(), (under.group(1), False))
            i += 2
            continue
        if adorn and len(line.strip()) >= 4 and not nxt.strip():  # a transition
            i += 1
            continue
        d = _DIRECTIVE.match(line)
        if d:
            i = _rst_directive(
                lines, i, len(d.group(1)), (d.group(2) or "").strip(), out, levels, titles
            )
            continue
        if line.rstrip().endswith("::"):  # a literal block follows
            para = line.rstrip()[:-2].rstrip()
            if para:
                out.append(para + ("" if para.endswith(":") else ":"))
            j = i + 1
            while j < n and not lines[j].strip():
                j += 1
            if j < n and _indent(lines[j]) > _indent(line):
                block, i = _rst_block(lines, j, _indent(line))
                out.extend(["", "```", *block, "```", ""])
            else:
                i += 1
            continue
        out.append(re.sub(r":[\w:+-]+:`([^`<]*?)\s*(?:<[^`>]*>)?`", r"\1", line))
        i += 1
    return out


def _rst_directive(
    lines: list[str], i: int, indent: int, rest: str, out: list[str],
    levels: list[tuple[str, bool]], titles: list[str],
) -> int:  # fmt: skip
    """Handle the explicit markup at line i; returns the index after it."""
    block, j = _rst_block(lines, i + 1, indent)
    m = re.match(r"([\w:-]+)::\s*(.*)$", rest)
    if rest.startswith("_") or rest.startswith("|"):  # label, target, substitution
        return j
    if rest.startswith("[") and "]" in rest:  # footnote or citation: keep its text
        out.append(rest)
        out.extend(block)
        return j
    if not m:  # a comment
        return j
    name, arg = m.group(1).lower(), m.group(2).strip()
    while block and re.match(r"\s*:[\w -]+:", block[0]):  # directive options
        block.pop(0)
    if name in _CODE_DIRECTIVES:
        body = textwrap.dedent("\n".join(block)).strip("\n")
        out.extend(["", f"```{arg}", body, "```", ""])
    elif name not in _DROP_DIRECTIVES:
        if arg and name != "figure":
            out.extend(["", arg])
        out.append("")
        out.extend(_rst_lines(textwrap.dedent("\n".join(block)).split("\n"), levels, titles))
        out.append("")
    return j


# -- pdf


def _parse_pdf(data: bytes) -> tuple[str, str, int]:
    """Text layer of a PDF: (text with pages joined by blank lines, title, page count)."""
    hint = "is it encrypted or a scan without a text layer? (OCR it first, e.g. with ocrmypdf)"
    try:
        import pypdf
    except ImportError as exc:
        raise LoadError(
            "cannot read PDF: pypdf is not installed", hint="pip install pypdf"
        ) from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("cannot read PDF: it is encrypted with a password", hint=hint)
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata
        title = str(info.title or "").strip() if info else ""
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise LoadError(f"cannot read PDF: {type(exc).__name__}: {exc}", hint=hint) from exc
    text = _clean_text("\n\n".join(p for p in pages if p))
    if not text.strip():
        raise LoadError(f"cannot read PDF: no text layer in {len(pages)} page(s)", hint=hint)
    return text + "\n", title, len(pages)
