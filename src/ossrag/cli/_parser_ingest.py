"""``ossrag ingest``'s arguments, with the limits for untrusted sources.

    add_ingest(sub, common)    # sub: the sub-parsers of build_parser(); common: global_options()

Private to :mod:`ossrag.cli.parser`.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_ingest"]


def add_ingest(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ingest", parents=[common], help="add or update documents in a knowledge base"
    )
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="file, directory, glob, .zip, or http(s) URL"
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files matching (repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files matching (repeatable)",
    )
    p.add_argument(
        "--splitter", choices=["auto", "markdown", "paragraph", "tutorial"], default=None
    )
    p.add_argument(
        "--chunk-size", type=int, default=None, help="max characters per chunk (default 1200)"
    )
    p.add_argument(
        "--chunk-overlap", type=int, default=None, help="characters of overlap (default 150)"
    )
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata added to every chunk",
    )
    p.add_argument(
        "--no-prune",
        action="store_true",
        help="keep files that disappeared from a re-ingested folder",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="then keep the knowledge base in sync as files change, until Ctrl-C",
    )
    p.add_argument(
        "--quiet-period",
        type=float,
        default=0.5,
        metavar="S",
        help="--watch: sync once no file has changed for S seconds (default 0.5)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _limit_options(p)


def _limit_options(p: argparse.ArgumentParser) -> None:
    """What an untrusted source may cost (IngestLimits); each also a setting/OSSRAG_* variable."""
    g = p.add_argument_group("limits for untrusted sources (docs/reliability.md)")
    g.add_argument(
        "--max-file-bytes",
        default=None,
        metavar="SIZE",
        help="skip larger files and zip entries (default 50MB) [OSSRAG_MAX_FILE_BYTES]",
    )
    g.add_argument(
        "--parse-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to parse one PDF (default 60) [OSSRAG_PARSE_TIMEOUT]",
    )
    g.add_argument(
        "--zip-max-bytes",
        default=None,
        metavar="SIZE",
        help="a zip's total uncompressed size (default 2GB) [OSSRAG_ZIP_MAX_BYTES]",
    )
    g.add_argument(
        "--zip-max-entries",
        type=int,
        default=None,
        metavar="N",
        help="entries in one zip (default 50000) [OSSRAG_ZIP_MAX_ENTRIES]",
    )
    g.add_argument(
        "--zip-max-ratio",
        type=float,
        default=None,
        metavar="R",
        help="compression ratio of a zip entry over 1 MiB (default 100) [OSSRAG_ZIP_MAX_RATIO]",
    )
    g.add_argument(
        "--max-download-bytes",
        default=None,
        metavar="SIZE",
        help="bytes one URL may send (default 512MB) [OSSRAG_MAX_DOWNLOAD_BYTES]",
    )
    g.add_argument(
        "--url-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to connect and between reads (default 30) [OSSRAG_URL_TIMEOUT]",
    )
    g.add_argument(
        "--url-total-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds for a whole download (default 300) [OSSRAG_URL_TOTAL_TIMEOUT]",
    )
    g.add_argument(
        "--allow-private-urls",
        action="store_true",
        default=None,
        help="fetch URLs on loopback, private, link-local and metadata addresses "
        "[OSSRAG_ALLOW_PRIVATE_URLS=1]",
    )
    g.add_argument(
        "--allow-url-network",
        dest="allow_url_networks",
        action="append",
        default=None,
        metavar="CIDR",
        help="allow this non-public network or address only (repeatable) "
        "[OSSRAG_ALLOW_URL_NETWORKS=a,b]",
    )
