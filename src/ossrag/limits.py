"""What one untrusted source may cost ingestion (:class:`IngestLimits`), and byte sizes.

    limits = IngestLimits(max_file_bytes=10 << 20, allow_private_urls=True)
    limits.replace(parse_timeout=5)          # a copy, coerced like settings
    parse_size("50MB"), format_size(1536)    # 52428800, '1.5 KiB'

Every limit is also a setting (:class:`ossrag.config.Settings`, which imports
them from here and re-exports them) and an ``ossrag ingest`` flag. Foundation
layer: the standard library and :mod:`ossrag.errors` only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError

__all__ = ["LIMIT_FIELDS", "IngestLimits", "coerce_limits", "format_size", "parse_size"]

_MiB = 1 << 20


@dataclass(frozen=True)
class IngestLimits:
    """What one untrusted source may cost ingestion: size, time, archive shape, network reach.

    Every field is also a setting (``ossrag.toml``, ``OSSRAG_MAX_FILE_BYTES``,
    ...) and an ``ossrag ingest`` flag (``--max-file-bytes``, ...)::

        limits = IngestLimits(max_file_bytes=10 << 20, allow_private_urls=True)
        kb.ingest("http://127.0.0.1:8000/guide.md", limits=limits)
        kb.ingest("docs/", limits={"parse_timeout": 5})   # the KB's settings, one changed
        Settings.load().ingest_limits()                      # from toml / environment / flags

    A file or zip entry over a limit is skipped with the reason; a URL that
    breaks one is refused (``SourceError``) before anything is written.
    docs/reliability.md lists what each limit guards and why its default.
    """

    #: One file, zip entry or downloaded page; larger ones are skipped.
    max_file_bytes: int = 50 * _MiB
    #: Seconds to parse one PDF (pypdf runs in a child process that is killed after that).
    parse_timeout: float = 60.0
    #: A zip's total uncompressed size (its directory, checked before reading; then as read).
    zip_max_bytes: int = 2048 * _MiB
    #: Entries in one zip.
    zip_max_entries: int = 50_000
    #: Uncompressed / compressed size of one zip entry over 1 MiB (text deflates ~3-10x).
    zip_max_ratio: float = 100.0
    #: Bytes one URL may send (a zip from a URL is held in memory).
    max_download_bytes: int = 512 * _MiB
    #: Seconds to connect, and between two reads, for a URL.
    url_timeout: float = 30.0
    #: Seconds for a whole download, redirects included.
    url_total_timeout: float = 300.0
    #: Fetch URLs on loopback, private, link-local and cloud-metadata addresses too.
    allow_private_urls: bool = False
    #: Networks (CIDR or single addresses) allowed although not public, e.g. ("10.1.0.0/16",).
    allow_url_networks: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> IngestLimits:
        """A copy with ``changes`` (coerced like settings); unknown names raise ConfigError."""
        unknown = set(changes) - set(LIMIT_FIELDS)
        if unknown:
            raise ConfigError(
                f"unknown ingest limit(s) {', '.join(sorted(unknown))}",
                hint=f"known limits: {', '.join(LIMIT_FIELDS)}",
            )
        values = {name: getattr(self, name) for name in LIMIT_FIELDS}
        values.update({k: v for k, v in changes.items() if v is not None})
        return IngestLimits(**coerce_limits(values))


LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IngestLimits))
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)


def parse_size(value: int | float | str) -> int:
    """Bytes from ``1048576``, ``"50MB"``, ``"50 MiB"`` or ``"2G"`` (binary multiples: 1 MB = 2**20).

    >>> parse_size("50MB"), parse_size("1.5 KiB"), parse_size(10)
    (52428800, 1536, 10)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE.fullmatch(value)
    if not m:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. 50MB, 2GiB)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))


def format_size(n: float) -> str:
    """A byte count for people: ``'812 bytes'``, ``'29.4 KiB'``, ``'50.0 MiB'``, ``'2.0 GiB'``."""
    if n < 1024:
        return f"{n:,.0f} bytes"
    for unit, scale in (("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)):
        if n < scale * 1024 or unit == "GiB":
            return f"{n / scale:,.1f} {unit}"
    raise AssertionError


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def coerce_limits(values: dict[str, Any]) -> dict[str, Any]:
    """Limit values from toml, the environment or flags, as IngestLimits wants them."""
    out = dict(values)
    try:
        for name in ("max_file_bytes", "zip_max_bytes", "max_download_bytes"):
            out[name] = parse_size(out[name])
        out["zip_max_entries"] = int(out["zip_max_entries"])
        for name in ("parse_timeout", "zip_max_ratio", "url_timeout", "url_total_timeout"):
            out[name] = float(out[name])
        out["allow_private_urls"] = _parse_bool(out["allow_private_urls"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid ingest limit: {exc}") from exc
    nets = out["allow_url_networks"]
    if isinstance(nets, str):
        nets = [n for n in re.split(r"[,\s]+", nets) if n]
    try:
        out["allow_url_networks"] = tuple(str(ipaddress.ip_network(n, strict=False)) for n in nets)
    except ValueError as exc:
        raise ConfigError(
            f"invalid network in allow_url_networks: {exc}",
            hint="use CIDR blocks or addresses, e.g. 10.1.0.0/16,192.168.1.5",
        ) from exc
    for name in LIMIT_FIELDS:
        if name not in ("allow_private_urls", "allow_url_networks") and out[name] <= 0:
            raise ConfigError(f"ingest limit {name} must be positive, not {out[name]}")
    return out
