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

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from ossrag.config import IngestLimits
from ossrag.errors import SourceError
from ossrag.ingest.fetch import fetch
from ossrag.ingest.parsers import FORMATS, parse, split_front_matter
from ossrag.ingest.patterns import MAGIC as _MAGIC
from ossrag.ingest.patterns import match_path
from ossrag.ingest.sources import SourceSet, detect_format, format_or_text

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
        if format_or_text(path.name) is None:
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


def _discover_glob(
    spec: str, inc: tuple[str, ...], exc: tuple[str, ...], limits: IngestLimits
) -> SourceSet:
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


def _discover_url(
    url: str,
    inc: tuple[str, ...],
    exc: tuple[str, ...],
    limits: IngestLimits,
    timeout: float | None,
) -> SourceSet:
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
