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

Every source is untrusted, and :class:`~ossrag.config.IngestLimits` bounds
what it may cost (``discover(spec, limits=...)``; docs/reliability.md has the
table): files over ``max_file_bytes`` are skipped; a symlink whose target is
outside the ingested folder is not followed, nor is any non-regular file
(FIFO, socket, device) read; zip archives are checked against their limits
before anything is inflated (:mod:`ossrag.ingest.archive`); URLs are fetched
only from public addresses unless allowed (:mod:`ossrag.ingest.fetch`).
Whatever is skipped comes out as a :class:`~ossrag.types.Skipped` with the
reason, and a zip refused as a whole never makes its previously indexed
entries look deleted (``in_scope`` is then false for all of them).

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
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import urlsplit

from ossrag.config import IngestLimits, format_size
from ossrag.errors import SourceError
from ossrag.ingest import archive
from ossrag.ingest.fetch import fetch
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

# The defaults (IngestLimits); pass discover(..., limits=IngestLimits(...)) to change them.
MAX_FILE_BYTES = IngestLimits().max_file_bytes
MAX_DOWNLOAD_BYTES = IngestLimits().max_download_bytes

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
    limits: IngestLimits = field(default_factory=IngestLimits)
    _payload: bytes | None = field(default=None, repr=False)  # downloaded bytes
    _fmt: str | None = field(default=None, repr=False)  # kind=url: format of the page
    # A zip refused as a whole (zip bomb): the reason, reported as one Skipped.
    _refused: str | None = field(default=None, repr=False)

    def in_scope(self, source: str) -> bool:
        """Would ``source`` (previously indexed under this origin) belong to this set?

        Used after re-ingesting to delete sources that disappeared: a source
        that is in scope but was not seen again is gone.  A single file or page
        only ever covers itself, so ingesting one file never deletes its
        siblings.  Nothing is in scope of a refused archive: its entries were not
        looked at, so none of them may be taken for deleted.
        """
        if self._refused is not None:
            return False
        if self.only is not None:
            return source == self.only
        return self._selected(source)

    def wants(self, path: str) -> bool:
        """Would a file at ``path`` (relative to ``origin``) be read by this set?

        For watch mode, to tell changes that matter from editor swap files,
        build output and the like.
        """
        if self.only is not None:
            return path == self.only
        return isinstance(self._candidate(path), str)

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
        if self._refused is not None:
            name = self.origin if self.kind == "url-zip" else Path(self.origin).name
            yield Skipped(self.origin, name, self._refused)
        elif self.kind == "url":
            assert self._payload is not None and self.only is not None and self._fmt
            if len(self._payload) > self.limits.max_file_bytes:
                yield Skipped(self.origin, self.only, self._too_large(len(self._payload)))
            else:
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

    def survey(self) -> tuple[int, int]:
        """``(files, bytes)`` this set will yield, from names and sizes only (nothing is read).

        For progress and ETA before the first file is parsed::

            files, size = discover("docs/").survey()
        """
        if self.kind in ("url", "url-zip"):
            if self.kind == "url":
                return 1, len(self._payload or b"")
            with zipfile.ZipFile(io.BytesIO(self._payload or b"")) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
            return self._count_zip(infos)
        if self.kind == "zip":
            with zipfile.ZipFile(self.origin) as zf:
                return self._count_zip([i for i in zf.infolist() if not i.is_dir()])
        if self.kind == "file":
            assert self.only is not None
            path = Path(self.origin) / self.only
            return 1, path.stat().st_size if path.exists() else 0
        files = size = 0
        for path, _rel, verdict in self._walk():
            if isinstance(verdict, str):
                files += 1
                with contextlib.suppress(OSError):
                    size += path.stat().st_size
        return files, size

    def _count_zip(self, infos: list[zipfile.ZipInfo]) -> tuple[int, int]:
        chosen = [i for i in infos if isinstance(self._candidate(i.filename.replace("\\", "/")), str)]
        return len(chosen), sum(i.file_size for i in chosen)

    def _walk(self) -> Iterator[tuple[Path, str, Skipped | str]]:
        """``(path, rel, verdict)`` of the directory's candidates, in a stable order."""
        root = Path(self.origin)
        for dirpath, dirnames, filenames in os.walk(root):
            reldir = Path(dirpath).relative_to(root).as_posix()
            reldir = "" if reldir == "." else reldir + "/"
            # Prune hidden and excluded directories instead of walking them
            # (.git or node_modules can hold many thousand files).
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not self._excluded_dir(reldir + d)
            )
            # os.walk does not follow directory symlinks; say so when one points outside.
            for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                dirnames.remove(d)
                if self._selected(reldir + d) and not self._inside(os.path.join(dirpath, d)):
                    why = self._outside(os.path.join(dirpath, d), "directory")
                    yield Path(dirpath) / d, reldir + d, Skipped(self.origin, reldir + d, why)
            for name in sorted(filenames):
                rel = reldir + name
                verdict = self._candidate(rel)
                if verdict is not None:
                    yield Path(dirpath) / name, rel, verdict

    def _iter_dir(self) -> Iterator[RawSource | Skipped]:
        for path, rel, verdict in self._walk():
            yield verdict if isinstance(verdict, Skipped) else self._read_file(path, rel, verdict)

    def _inside(self, path: str) -> bool:
        """Does ``path``, all symlinks resolved, lie inside this set's folder?"""
        real, root = os.path.realpath(path), os.path.realpath(self.origin)
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def _outside(self, path: str, what: str) -> str:
        return (f"symlink to a {what} outside the ingested folder ({os.path.realpath(path)}), "
                "not followed")

    def _too_large(self, size: int) -> str:
        return (f"file too large ({format_size(size)} > {format_size(self.limits.max_file_bytes)}, "
                "max_file_bytes)")

    def _read_file(self, path: Path, rel: str, fmt: str | None = None) -> RawSource | Skipped:
        """One file's bytes, or why not: too large, a symlink out of the folder, not a file."""
        fmt = fmt or _format_or_text(rel)
        if fmt is None:
            return Skipped(self.origin, rel, f"unsupported format {path.suffix.lower()}")
        cap = self.limits.max_file_bytes
        try:
            if path.is_symlink():
                if self.kind != "file" and not self._inside(str(path)):
                    return Skipped(self.origin, rel, self._outside(str(path), "file"))
                path = Path(os.path.realpath(path))
            # O_NOFOLLOW: a file swapped for a symlink since the check is not followed;
            # O_NONBLOCK: opening a FIFO returns at once (and fstat then refuses it).
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            with os.fdopen(os.open(path, flags), "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return Skipped(self.origin, rel, f"not a regular file ({_file_kind(st.st_mode)})")
                if st.st_size > cap:
                    return Skipped(self.origin, rel, self._too_large(st.st_size))
                if not path.suffix:  # peek first: a large binary is not read whole
                    why = _not_a_document(fh.read(8192))
                    if why:
                        return Skipped(self.origin, rel, why)
                    fh.seek(0)
                data = fh.read(cap + 1)  # it may have grown since fstat
        except OSError as exc:
            return Skipped(self.origin, rel, f"cannot read file: {exc.strerror or exc}")
        if len(data) > cap:
            return Skipped(self.origin, rel, self._too_large(len(data)))
        return RawSource(self.origin, rel, data, fmt)

    def _zip_entries(self, zf: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, str, Skipped | str]]:
        """``(info, rel, verdict)`` of the entries that belong to the set (see ``_candidate``)."""
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            why = _unsafe_entry(name)
            if why:
                # Never used as a path anyway (entries are read in memory),
                # but such a name is a sign of a malicious archive.
                yield info, name, Skipped(self.origin, name, f"unsafe path in zip ({why})")
                continue
            rel = name.replace("\\", "/")
            while rel.startswith("./"):
                rel = rel[2:]
            verdict = self._candidate(rel)
            if verdict is not None:
                yield info, rel, verdict

    def _check_zip(self, fh: IO[bytes]) -> None:
        """Refuse the archive as a whole (``_refused``) when its directory breaks a limit."""
        self._refused = archive.directory_problem(fh, self.limits)
        if self._refused is None:
            fh.seek(0)
            with archive.open_zip(fh, self.origin) as zf:
                chosen = [i for i, _, v in self._zip_entries(zf) if isinstance(v, str)]
                self._refused = archive.declared_total(chosen, self.limits)

    def _iter_zip(self, fh: IO[bytes]) -> Iterator[RawSource | Skipped]:
        budget = archive.Budget(self.limits.zip_max_bytes)
        with archive.open_zip(fh, self.origin) as zf:
            for info, rel, verdict in self._zip_entries(zf):
                if isinstance(verdict, Skipped):
                    yield verdict
                    continue
                why = archive.entry_problem(info, self.limits)
                data = why or archive.read_entry(zf, info, self.limits, budget)
                if isinstance(data, str):
                    yield Skipped(self.origin, rel, data)
                    continue
                why = _not_a_document(data) if not PurePosixPath(rel).suffix else None
                yield Skipped(self.origin, rel, why) if why else RawSource(self.origin, rel, data, verdict)


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a directory"))
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def _not_a_document(head: bytes) -> str | None:
    """Why a file without an extension is not read as text (a binary, a script), or None."""
    if head.startswith(b"#!"):
        return "a script (#! line) without an extension, not a document"
    if looks_binary(head):
        return "a binary file without an extension"
    return None


# ---------------------------------------------------------------- discover


def discover(
    spec: str,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    timeout: float | None = None,
    limits: IngestLimits | None = None,
) -> SourceSet:
    """Resolve one source spec into a lazily iterated :class:`SourceSet`.

    Raises :class:`SourceError` when the spec cannot be used at all (missing
    path, HTTP error, unreachable host, refused address, corrupt zip);
    problems with single files come out of the iteration as ``Skipped`` or
    later from ``parse``.  ``limits`` (default :class:`IngestLimits()`) bound
    sizes, archives and URLs; ``timeout`` overrides ``limits.url_timeout``.

    >>> s = discover("docs", include=["*.md"])    # doctest: +SKIP  (ossrag's own docs/)
    >>> sorted(r.source for r in s)[:2]           # doctest: +SKIP
    ['architecture.md', 'benchmarks.md']
    >>> discover("http://127.0.0.1:8000/a.md",    # doctest: +SKIP
    ...          limits=IngestLimits(allow_private_urls=True))
    """
    lim = limits or IngestLimits()
    inc = tuple(p for p in include if p.strip())
    exc = tuple(p for p in exclude if p.strip())
    try:
        scheme = urlsplit(spec).scheme.lower()
    except ValueError as e:  # "http://[oops": a bracketed host that is no address
        raise SourceError(f"invalid URL {spec!r}: {e}") from None
    if scheme in ("http", "https"):
        return _discover_url(spec, inc, exc, lim, timeout)
    if re.match(r"[a-z][a-z0-9+.-]+://", spec, re.IGNORECASE):
        raise SourceError(
            f"unsupported URL scheme in {spec!r}",
            hint="use an http(s):// URL, or download the file and ingest the local path",
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        return SourceSet(str(path.resolve()), "dir", inc, exc, limits=lim)
    if path.is_file():
        path = path.resolve()
        if path.suffix.lower() == ".zip":
            # Checked now so that a bad archive fails before anything is written.
            if not zipfile.is_zipfile(path):
                raise SourceError(
                    f"not a valid zip archive: {spec}",
                    hint="check that the download finished; `unzip -t FILE` tests an archive",
                )
            sset = SourceSet(str(path), "zip", inc, exc, limits=lim)
            with open(path, "rb") as fh:
                sset._check_zip(fh)
            return sset
        if _format_or_text(path.name) is None:
            raise SourceError(
                f"unsupported format {path.suffix.lower()}: {spec}",
                hint="ossrag reads " + ", ".join(sorted(FORMATS)) + " files and .zip archives",
            )
        return SourceSet(str(path.parent), "file", inc, exc, only=path.name, limits=lim)
    if path.exists():
        raise SourceError(f"not a regular file or directory: {spec}")
    if _MAGIC.search(spec):
        return _discover_glob(spec, inc, exc, lim)
    raise SourceError(
        f"no such file or directory: {spec}",
        hint="check the path; quote glob patterns ('docs/**/*.md') so the shell leaves them alone",
    )


def _discover_glob(spec: str, inc: tuple[str, ...], exc: tuple[str, ...],
                   limits: IngestLimits) -> SourceSet:
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
    return SourceSet(str(base.resolve()), "glob", inc, exc, pattern=pattern, limits=limits)


def _discover_url(url: str, inc: tuple[str, ...], exc: tuple[str, ...], limits: IngestLimits,
                  timeout: float | None) -> SourceSet:
    data, ctype = fetch(url, limits, timeout=timeout)
    url_path = urlsplit(url).path
    if url_path.lower().endswith(".zip") or ctype in _ZIP_TYPES or data[:4] == b"PK\x03\x04":
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise SourceError(
                f"{url} did not return a zip archive (content type {ctype or 'none'}, "
                f"{len(data)} bytes)",
                hint="open the URL in a browser: it may need a login or point at a page, not a file",
            )
        sset = SourceSet(url, "url-zip", inc, exc, limits=limits, _payload=data)
        sset._check_zip(io.BytesIO(data))
        return sset
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
    return SourceSet(url, "url", inc, exc, only=url, limits=limits, _payload=data, _fmt=fmt)
