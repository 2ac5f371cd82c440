"""``ossrag ingest SOURCE... [--include GLOB] [--exclude GLOB] [--meta K=V] [--watch] [--json]``.

The limits for untrusted sources (``--max-file-bytes``, ``--allow-private-urls``,
...) are settings: ``settings_from`` puts them there and ``kb.ingest`` reads them.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..config import Settings
from ..ingest.sync import IngestReport
from ..ingest.watch import WatchRound
from ..kb import KnowledgeBase
from ..retrieval.filters import parse_meta
from .output import print_json
from .progress import IngestBar

__all__ = ["run"]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "include": args.include,
        "exclude": args.exclude,
        "splitter": args.splitter,
        "chunk_size": args.chunk_size,
        "chunk_overlap": args.chunk_overlap,
        "metadata": parse_meta(args.meta),
        "prune": not args.no_prune,
    }


def _print_report(
    kb: KnowledgeBase, report: IngestReport, args: argparse.Namespace, head: str = ""
) -> None:
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{head}{kb.name}: {report.summary()}")
        for s in report.skipped:
            print(f"  skipped {s.source}: {s.reason}", file=sys.stderr)
        for n in report.notes:
            print(f"  note {n.source}: {n.note}", file=sys.stderr)
    sys.stdout.flush()


def run(args: argparse.Namespace, settings: Settings) -> int:
    kb = KnowledgeBase(settings=settings)
    if args.watch:
        return _watch(kb, args)
    with IngestBar() as bar:
        report = kb.ingest(
            *args.sources, progress=bar if bar.mode != "off" else None, **_options(args)
        )
    _print_report(kb, report, args)
    return 0


def _watch(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    bar = IngestBar()

    def on_round(r: WatchRound) -> None:
        bar.close()  # end the bar's line before the round's summary
        if args.json:
            print_json({"round": r.number, "changed": r.changed, **r.report.to_dict()})
            sys.stdout.flush()
            return
        changed = ""
        if r.changed:
            shown = ", ".join(r.changed[:5]) + (
                f", +{len(r.changed) - 5} more" if len(r.changed) > 5 else ""
            )
            changed = f" after changes to {shown}"
        _print_report(
            kb, r.report, args, head=f"[{time.strftime('%H:%M:%S')}] round {r.number}{changed}: "
        )
        if r.number == 0:
            print(
                f"watching {', '.join(args.sources)} ({r.backend}); Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )

    try:
        kb.watch(
            *args.sources,
            on_round=on_round,
            quiet_s=args.quiet_period,
            progress=bar if bar.mode == "bar" else None,
            **_options(args),
        )
    except KeyboardInterrupt:
        bar.close()
        print(
            "stopped watching; the knowledge base is consistent (an interrupted round "
            "is finished by the next run)",
            file=sys.stderr,
        )
    finally:
        kb.close()
    return 0
