"""Zip archives read in memory within limits: checked before anything is read, then as read.

    with open("docs.zip", "rb") as fh:
        why = directory_problem(fh, limits)          # None, or why the whole archive is refused
        zf = open_zip(fh, "docs.zip")                # SourceError when it is not a zip
        budget = Budget(limits.zip_max_bytes)
        for info in zf.infolist():
            why = entry_problem(info, limits)        # a symlink, encrypted, over a limit
            data = read_entry(zf, info, limits, budget)   # bytes, or the reason (str)

A zip bomb is small on disk and huge once inflated: one entry of 10 GB of
zeros, a million tiny entries, or a central directory that lies about sizes.
So, in this order:

1. **The end-of-directory record** is read first (a few bytes at the end of
   the file): an archive with more than ``zip_max_entries`` entries, or a
   central directory larger than ``zip_max_entries`` KiB, is refused before
   :mod:`zipfile` loads that directory into memory.
2. **The directory**: the declared uncompressed sizes of the entries that
   would be read must add up to at most ``zip_max_bytes`` (the caller checks
   this with :func:`declared_total`).
3. **Each entry** before reading: no symlink (a link's "content" is the path
   it points to, never a document), not encrypted, declared size at most
   ``max_file_bytes``, declared ratio at most ``zip_max_ratio`` (entries over
   1 MiB: small text legitimately compresses very well).
4. **While reading** (1 MiB blocks, never the whole entry at once): the
   same size and ratio limits on the bytes actually inflated, since headers
   can lie, and the archive's running total against ``zip_max_bytes``.

Nothing is ever extracted to disk, so entry names cannot escape anywhere;
names with ``..``, absolute paths or drive letters are still refused by the
loader as a sign of a hostile archive.
"""

from __future__ import annotations

import lzma
import stat
import zipfile
import zlib
from typing import IO

from ..config import IngestLimits, format_size
from ..errors import SourceError

__all__ = [
    "Budget",
    "declared_total",
    "directory_problem",
    "entry_problem",
    "open_zip",
    "read_entry",
]

_BLOCK = 1 << 20
_RATIO_FLOOR = 1 << 20  # the ratio limit applies to entries larger than this
_DIR_BYTES_PER_ENTRY = 1024  # generous: a directory record is 46 bytes plus the name
_ZIP_HINT = "check that the download finished; `unzip -t FILE` tests an archive"


class Budget:
    """Bytes an archive may still inflate (``zip_max_bytes`` minus what was read)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def left(self) -> int:
        return self.limit - self.used


def directory_problem(fh: IO[bytes], limits: IngestLimits) -> str | None:
    """Why the archive is refused from its end-of-directory record alone, or None.

    Uses the record :mod:`zipfile` itself reads (``_EndRecData``; Zip64 aware),
    before ``ZipFile()`` loads the central directory.
    """
    try:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # stable since Python 2
    except (OSError, AttributeError, ValueError):
        return None  # ZipFile() will say what is wrong
    if not end:
        return None
    entries = int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
    size = int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]
    if entries > limits.zip_max_entries:
        return (
            f"zip archive refused: {entries:,} entries, over the limit of "
            f"{limits.zip_max_entries:,} (zip_max_entries)"
        )
    if size > max(limits.zip_max_entries * _DIR_BYTES_PER_ENTRY, _RATIO_FLOOR):
        return (
            f"zip archive refused: its directory takes {format_size(size)} for {entries:,} entries "
            f"(over {_DIR_BYTES_PER_ENTRY} bytes per allowed entry, zip_max_entries)"
        )
    return None


def open_zip(fh: IO[bytes], name: str) -> zipfile.ZipFile:
    """``zipfile.ZipFile(fh)``; a file that is not a valid zip raises SourceError."""
    try:
        return zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SourceError(f"not a valid zip archive: {name} ({exc})", hint=_ZIP_HINT) from exc


def declared_total(infos: list[zipfile.ZipInfo], limits: IngestLimits) -> str | None:
    """Why the entries' declared uncompressed total refuses the archive, or None."""
    total = sum(i.file_size for i in infos)
    if total > limits.zip_max_bytes:
        return (
            f"zip archive refused: its entries would inflate to {format_size(total)}, over the limit "
            f"of {format_size(limits.zip_max_bytes)} (zip_max_bytes)"
        )
    return None


def _too_large(size: int, limits: IngestLimits, how: str = "") -> str:
    return f"file too large ({format_size(size)}{how} > {format_size(limits.max_file_bytes)}, max_file_bytes)"


def _ratio(inflated: int, info: zipfile.ZipInfo, limits: IngestLimits, how: str) -> str | None:
    if inflated <= _RATIO_FLOOR or info.compress_type == zipfile.ZIP_STORED:
        return None
    ratio = inflated / max(info.compress_size, 1)
    if ratio > limits.zip_max_ratio:
        return (
            f"zip bomb? compression ratio {ratio:,.0f}:1 {how}, over the limit of "
            f"{limits.zip_max_ratio:g}:1 (zip_max_ratio)"
        )
    return None


def entry_problem(info: zipfile.ZipInfo, limits: IngestLimits) -> str | None:
    """Why one entry is skipped before reading it (from its directory record), or None."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symlink in the zip (not followed)"
    if info.flag_bits & 0x1:
        return "encrypted zip entry (ossrag does not ask for passwords)"
    if info.file_size > limits.max_file_bytes:
        return _too_large(info.file_size, limits)
    return _ratio(info.file_size, info, limits, "declared")


def read_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: IngestLimits, budget: Budget
) -> bytes | str:
    """The entry's bytes, streamed within the limits; or the reason it was skipped (a str)."""
    if info.file_size > budget.left():
        return (
            f"the archive's total would exceed {format_size(limits.zip_max_bytes)} "
            "(zip_max_bytes); not read"
        )
    buf = bytearray()
    try:
        with zf.open(info) as member:
            while True:
                block = member.read(_BLOCK)
                if not block:
                    break
                buf += block
                budget.used += len(block)
                if len(buf) > limits.max_file_bytes:
                    return _too_large(len(buf), limits, ", more than its header said")
                why = _ratio(len(buf), info, limits, "inflated")
                if why:
                    return why
                if budget.left() < 0:
                    return (
                        f"the archive's total exceeded {format_size(limits.zip_max_bytes)} "
                        "(zip_max_bytes) while reading"
                    )
    except (
        zipfile.BadZipFile,
        RuntimeError,
        OSError,
        NotImplementedError,
        EOFError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:  # a corrupt entry or stream
        return f"cannot read zip entry: {exc}"
    return bytes(buf)
