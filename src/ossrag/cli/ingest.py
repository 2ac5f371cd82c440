"""``ossrag ingest SOURCE... [--include GLOB] [--exclude GLOB] [--meta K=V] [--json]``.

The limits for untrusted sources (``--max-file-bytes``, ``--allow-private-urls``,
...) are settings: ``settings_from`` puts them there and ``kb.ingest`` reads them.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..kb import KnowledgeBase
from ..retrieval.filters import parse_meta
from .output import print_json
from .progress import IngestBar

__all__ = ["run"]


def run(args: argparse.Namespace, settings: Settings) -> int:
    kb = KnowledgeBase(settings=settings)
    with IngestBar() as bar:
        report = kb.ingest(
            *args.sources,
            include=args.include,
            exclude=args.exclude,
            splitter=args.splitter,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
            metadata=parse_meta(args.meta),
            prune=not args.no_prune,
            progress=bar if bar.mode != "off" else None,
        )
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{kb.name}: {report.summary()}")
        for s in report.skipped:
            print(f"  skipped {s.source}: {s.reason}", file=sys.stderr)
        for n in report.notes:
            print(f"  note {n.source}: {n.note}", file=sys.stderr)
    return 0
