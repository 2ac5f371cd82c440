"""A source spec's files: :class:`SourceSet`, walked and read within :class:`IngestLimits`.

:func:`ossrag.ingest.loaders.discover` builds one from a spec (a folder, a file, a
glob, a zip, a URL); iterating it yields a :class:`~ossrag.types.RawSource` per
file to parse or a :class:`~ossrag.types.Skipped` with the reason::

    from ossrag.ingest.loaders import discover

    sources = discover("docs/", include=["**/*.md"])
    files, size = sources.survey()        # names and sizes only, for progress
    for item in sources: ...

See :mod:`ossrag.ingest.loaders` for the limits and how patterns match.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from ossrag.config import IngestLimits, format_size
from ossrag.ingest import archive
from ossrag.ingest.parsers import format_for_name
from ossrag.ingest.parsers._text import looks_binary
from ossrag.ingest.patterns import compile_glob as _compile
from ossrag.ingest.patterns import hidden as _hidden
from ossrag.ingest.patterns import match_path
from ossrag.types import RawSource, Skipped

__all__ = ["SourceSet", "detect_format", "format_or_text"]


def detect_format(name: str) -> str | None:
    """Format of a file by its name, or None when ossrag cannot read it.

    Compound suffixes count: Sphinx's ``_sources/x.rst.txt`` is reST and
    ``x.md.txt`` Markdown.  Plain ``.txt`` is "text", whose content
    :func:`~ossrag.ingest.parsers.parse` sniffs for reST or Markdown.

    >>> detect_format("en/faq/product_faq.md"), detect_format("_sources/a.rst.txt"), detect_format("logo.png")
    ('markdown', 'rst', None)
    """
    return format_for_name(name)


def format_or_text(name: str) -> str | None:
    """A found file's format; a file without any suffix (README, NOTES) is read as text.

    Its content then decides (reST, Markdown or plain text); binaries are
    reported by ``parse`` as such.
    """
    if not PurePosixPath(name).suffix:
        return "text"
    return detect_format(name)


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
        fmt = format_or_text(rel)
        if fmt is None:
            return Skipped(
                self.origin, rel, f"unsupported format {PurePosixPath(rel).suffix.lower()}"
            )
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
        chosen = [
            i for i in infos if isinstance(self._candidate(i.filename.replace("\\", "/")), str)
        ]
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
        return (
            f"symlink to a {what} outside the ingested folder ({os.path.realpath(path)}), "
            "not followed"
        )

    def _too_large(self, size: int) -> str:
        return (
            f"file too large ({format_size(size)} > {format_size(self.limits.max_file_bytes)}, "
            "max_file_bytes)"
        )

    def _read_file(self, path: Path, rel: str, fmt: str | None = None) -> RawSource | Skipped:
        """One file's bytes, or why not: too large, a symlink out of the folder, not a file."""
        fmt = fmt or format_or_text(rel)
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
                    return Skipped(
                        self.origin, rel, f"not a regular file ({_file_kind(st.st_mode)})"
                    )
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

    def _zip_entries(
        self, zf: zipfile.ZipFile
    ) -> Iterator[tuple[zipfile.ZipInfo, str, Skipped | str]]:
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
                yield (
                    Skipped(self.origin, rel, why)
                    if why
                    else RawSource(self.origin, rel, data, verdict)
                )


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISDIR, "a directory"),
    )
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def _not_a_document(head: bytes) -> str | None:
    """Why a file without an extension is not read as text (a binary, a script), or None."""
    if head.startswith(b"#!"):
        return "a script (#! line) without an extension, not a document"
    if looks_binary(head):
        return "a binary file without an extension"
    return None
