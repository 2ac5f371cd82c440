"""Retrieval tuning on both dev sets at once: what each retrieval option buys, no new model.

    .venv/bin/python bench/retrieval_tuning.py                        # every group, both sets
    .venv/bin/python bench/retrieval_tuning.py --groups fusion,translate --json out.json
    .venv/bin/python bench/retrieval_tuning.py --chunkings 1200:150,800:100,1600:200 --groups base

The knowledge bases are :mod:`retrieval_quality`'s (same corpora, chunker, embedder and
cache under bench/results/), ingested on first use.  Every configuration runs the 90
Milvus-docs and 87 Sphinx-docs questions at k=10 through
:func:`ossrag.retrieval.retrieve`, as ``ossrag search`` does, and reports MRR@10 and R@3
overall, English and non-English per set, how many questions gained or lost a top-3
hit against dense, and the mean of the two sets' MRR@10 (what a default has to be good
at).  Groups:

* ``base``: dense, BM25, the shipped default;
* ``fusion``: dense weight 0.5 ... 0.9, RRF;
* ``candidates``: candidates per list 20 ... 160;
* ``mmr``: MMR at lambda 0.5, 0.7, 0.85;
* ``lang``: another dense weight for questions :func:`~ossrag.retrieval.language.detect_language`
  does not read as English;
* ``translate``: the non-English questions replaced by English translations
  (bench/data/question_translations.jsonl, written as a capable model would translate:
  the upper bound of query translation), on both lists, on one of them, or added to
  the original;
* ``k3``: ossrag's own k=3 with 20 ... 80 candidates per list;
* ``chunk``: the default with translation and with MMR (for ``--chunkings``);
* ``combo``: a weight and another option together;
* ``prf``: pseudo-relevance feedback on the dense side (the query vector moved toward
  its first hits' stored vectors, then the usual hybrid search).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrieval_quality as rq
from ossrag.embedders.base import normalize
from ossrag.evaluation.datasets import Question, load_questions
from ossrag.evaluation.metrics import recall_at, reciprocal_rank
from ossrag.retrieval import MIN_CANDIDATES, RetrievalOptions, hit_vectors, retrieve
from ossrag.retrieval.fusion import fuse_weighted
from ossrag.retrieval.language import detect_language
from ossrag.types import Hit

K = rq.K
TRANSLATIONS = rq.ROOT / "bench" / "data" / "question_translations.jsonl"


@dataclass
class SetCtx:
    """One dev set's knowledge base and its questions, with vectors computed once."""

    name: str
    kb: Any
    questions: list[Question]
    vecs: list[np.ndarray]
    lang: list[str]  # detected, not labelled: what ossrag would see
    en: list[str | None]  # English translation of a non-English question, else None
    en_vecs: list[np.ndarray | None] = field(default_factory=list)


Run = Callable[[SetCtx, int], list[Hit]]


def opts(**kw: Any) -> RetrievalOptions:
    return RetrievalOptions(**{"k": K, **kw})


def plain(**kw: Any) -> Run:
    def run(c: SetCtx, i: int) -> list[Hit]:
        return retrieve(
            c.kb.store,
            rq.KB,
            c.kb.embedder,
            c.questions[i].question,
            opts(**kw),
            query_vector=c.vecs[i],
        )

    return run


def per_lang(w_en: float, w_other: float) -> Run:
    def run(c: SetCtx, i: int) -> list[Hit]:
        w = w_en if c.lang[i] in ("en", "") else w_other
        return plain(mode="hybrid", dense_weight=w)(c, i)

    return run


def translated(how: str, w: float = 0.7) -> Run:
    """Non-English questions searched with their English translation (``how`` says where)."""

    def run(c: SetCtx, i: int) -> list[Hit]:
        q, v, en, env = c.questions[i].question, c.vecs[i], c.en[i], c.en_vecs[i]
        if en is None or env is None or c.lang[i] in ("en", ""):
            return plain(mode="hybrid", dense_weight=w)(c, i)
        o = opts(mode="hybrid", dense_weight=w)
        store, emb = c.kb.store, c.kb.embedder
        if how == "both":  # the translation replaces the question
            return retrieve(store, rq.KB, emb, en, o, query_vector=env)
        if how == "bm25":  # dense keeps the question, BM25 reads the translation
            return retrieve(store, rq.KB, emb, en, o, query_vector=v)
        if how == "dense":  # dense reads the translation, BM25 the question
            return retrieve(store, rq.KB, emb, q, o, query_vector=env)
        if how == "dense+bm25 both":  # dense reads the translation, BM25 both texts
            return retrieve(store, rq.KB, emb, f"{q} {en}", o, query_vector=env)
        if how == "meanvec":  # dense: the mean of both vectors; BM25 the translation
            return retrieve(store, rq.KB, emb, en, o, query_vector=normalize(v + env))
        if how == "dense-only":
            return retrieve(store, rq.KB, emb, en, opts(mode="dense"), query_vector=env)
        raise ValueError(how)

    return run


def prf(beta: float, m: int = 3, w: float = 0.7) -> Run:
    """Rocchio on the dense side: q' = q + beta * mean(top-m dense vectors)."""

    def run(c: SetCtx, i: int) -> list[Hit]:
        store = c.kb.store
        top = store.search_dense(rq.KB, c.vecs[i], k=m)
        vecs = hit_vectors(store, rq.KB, top)
        v2 = normalize(c.vecs[i] + beta * vecs.mean(axis=0)) if len(top) else c.vecs[i]
        return retrieve(
            store,
            rq.KB,
            c.kb.embedder,
            c.questions[i].question,
            opts(mode="hybrid", dense_weight=w),
            query_vector=v2,
        )

    return run


def prf_fused(beta: float, m: int = 3, w: float = 0.7) -> Run:
    """PRF dense list fused with BM25 like the default (for comparison with ``prf``)."""

    def run(c: SetCtx, i: int) -> list[Hit]:
        store = c.kb.store
        top = store.search_dense(rq.KB, c.vecs[i], k=m)
        v2 = normalize(c.vecs[i] + beta * hit_vectors(store, rq.KB, top).mean(axis=0))
        dense = store.search_dense(rq.KB, v2, k=4 * K)
        from ossrag.retrieval.lexical import keyword_query

        sparse = store.search_bm25(rq.KB, keyword_query(c.questions[i].question), k=4 * K)
        return rq.dedupe(fuse_weighted(dense, sparse, dense_weight=w))[:K]

    return run


GROUPS: dict[str, dict[str, Run]] = {
    "base": {
        "dense": plain(mode="dense"),
        "bm25": plain(mode="bm25"),
        "hybrid w0.7 (default)": plain(mode="hybrid"),
    },
    "fusion": {
        **{
            f"w{w}": plain(mode="hybrid", dense_weight=w)
            for w in (0.5, 0.55, 0.6, 0.65, 0.75, 0.8, 0.9)
        },
        "rrf60": plain(mode="hybrid", fusion="rrf", rrf_k=60),
        "rrf20": plain(mode="hybrid", fusion="rrf", rrf_k=20),
    },
    "candidates": {f"w0.7 cand{n}": plain(mode="hybrid", candidates=n) for n in (20, 80, 160)},
    "mmr": {
        f"w0.7 mmr{lam}": plain(mode="hybrid", mmr=True, mmr_lambda=lam) for lam in (0.5, 0.7, 0.85)
    },
    "lang": {f"w0.7 / non-en w{w}": per_lang(0.7, w) for w in (0.4, 0.5, 0.6, 0.8, 0.9, 1.0)},
    "translate": {
        **{
            f"translated: {h}": translated(h)
            for h in ("both", "bm25", "dense", "dense+bm25 both", "meanvec", "dense-only")
        },
        **{
            f"translated: dense+bm25 both, w{w}": translated("dense+bm25 both", w)
            for w in (0.6, 0.8)
        },
    },
    # ossrag's own k=3 (``search``/``ask`` default): the candidates default to
    # max(4k, MIN_CANDIDATES) per list (20 before issue 14, now 40); only R@3 (and MRR@3)
    # compare with the k=10 rows.
    "k3": {
        f"k=3, cand auto ({max(12, MIN_CANDIDATES)})": plain(mode="hybrid", k=3),
        **{f"k=3, cand{n}": plain(mode="hybrid", k=3, candidates=n) for n in (20, 30, 80)},
        "k=3, dense": plain(mode="dense", k=3),
    },
    # with --chunkings: what a chunking does for the default and for translated questions
    "chunk": {
        "hybrid w0.7 + translation": translated("dense+bm25 both"),
        "w0.7 mmr0.7": plain(mode="hybrid", mmr=True),
    },
    # a weight and one more option together (what a changed default would ship)
    "combo": {
        **{
            f"w{w} cand{n}": plain(mode="hybrid", dense_weight=w, candidates=n)
            for w in (0.6, 0.65)
            for n in (40, 80)
        },
        **{f"w{w} mmr0.7": plain(mode="hybrid", dense_weight=w, mmr=True) for w in (0.6, 0.65)},
    },
    "prf": {**{f"prf beta{b} m3": prf(b) for b in (0.3, 0.6, 1.0)}, "prf beta0.6 m5": prf(0.6, 5)},
}


def first_rank(hits: list[Hit], q: Question) -> int | None:
    return rq._rank(hits, q)


def score(c: SetCtx, hits: list[list[Hit]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, keep in (
        ("all", lambda i: True),
        ("en", lambda i: c.questions[i].lang == "en"),
        ("other", lambda i: c.questions[i].lang != "en"),
    ):
        idx = [i for i in range(len(hits)) if keep(i)]
        n = len(idx) or 1
        out[part] = {
            "MRR@10": sum(reciprocal_rank(hits[i], c.questions[i].relevant, K) for i in idx) / n,
            "R@3": sum(recall_at(hits[i], c.questions[i].relevant, 3) for i in idx) / n,
            "n": len(idx),
        }
    out["ranks"] = [first_rank(h, q) for h, q in zip(hits, c.questions, strict=True)]
    return out


def top3_moves(ranks: list[int | None], base: list[int | None]) -> tuple[int, int]:
    """(questions that gained a top-3 hit, questions that lost one) against ``base``."""

    def in3(r: int | None) -> bool:
        return r is not None and r <= 3

    gained = sum(in3(r) and not in3(b) for r, b in zip(ranks, base, strict=True))
    lost = sum(in3(b) and not in3(r) for r, b in zip(ranks, base, strict=True))
    return gained, lost


def load_set(
    name: str, results: Path, embedder: str, size: int, overlap: int, translations: dict[str, str]
) -> SetCtx:
    dataset, find_corpus, include, prefix = rq.DEV_SETS[name]
    kb = rq.open_kb(
        "auto",
        results,
        find_corpus(),
        include,
        prefix,
        embedder=embedder,
        chunk_size=size,
        chunk_overlap=overlap,
    )
    questions = [q for q in load_questions(dataset) if q.relevant]
    emb = kb.embedder
    vecs = [emb.embed_query(q.question) for q in questions]
    en = [translations.get(q.question) if q.lang != "en" else None for q in questions]
    c = SetCtx(name, kb, questions, vecs, [detect_language(q.question) for q in questions], en)
    c.en_vecs = [emb.embed_query(t) if t else None for t in en]
    return c


def fmt(rows: list[dict[str, Any]], cols: list[str]) -> str:
    return rq.fmt_table(rows, cols)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sets", default="milvus,sphinx")
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--embedder", default=str(rq.DEFAULTS["embedder"]))
    ap.add_argument(
        "--chunkings",
        default=f"{rq.DEFAULT_CHUNK_SIZE}:{rq.DEFAULT_CHUNK_OVERLAP}",
        help="SIZE:OVERLAP,... (one knowledge base per set and chunking)",
    )
    ap.add_argument("--results", type=Path, default=rq.RESULTS)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--time-rounds",
        type=int,
        default=0,
        help="also time every configuration (query vector given), N rounds, "
        "interleaved per question; p50 against dense from the same run",
    )
    args = ap.parse_args(argv)
    translations = {d["question"]: d["en"] for d in load_questions_raw(TRANSLATIONS)}
    runs = {name: fn for g in args.groups.split(",") for name, fn in GROUPS[g].items()}
    if "dense" not in runs:
        runs = {"dense": GROUPS["base"]["dense"], **runs}
    rows: list[dict[str, Any]] = []
    timing_rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for chunking in args.chunkings.split(","):
        size, overlap = (int(x) for x in chunking.split(":"))
        ctxs = [
            load_set(s, args.results, args.embedder, size, overlap, translations)
            for s in args.sets.split(",")
        ]
        for c in ctxs:
            print(f"[{c.name} {size}:{overlap}] {c.kb.store.count(rq.KB)} chunks", file=sys.stderr)
        for name, fn in runs.items():
            t0 = time.perf_counter()
            row: dict[str, Any] = {
                "config": name
                if len(args.chunkings.split(",")) == 1
                else f"{name} [{size}:{overlap}]"
            }
            mrrs = []
            for c in ctxs:
                res = score(c, [fn(c, i) for i in range(len(c.questions))])
                raw.setdefault(row["config"], {})[c.name] = res
                base = raw.get(
                    "dense" if len(args.chunkings.split(",")) == 1 else f"dense [{size}:{overlap}]",
                    {},
                ).get(c.name, res)["ranks"]
                up, down = top3_moves(res["ranks"], base)
                tag = c.name[:1]
                row.update(
                    {
                        f"{tag} MRR": res["all"]["MRR@10"],
                        f"{tag} R@3": res["all"]["R@3"],
                        f"{tag} MRR en": res["en"]["MRR@10"],
                        f"{tag} MRR non-en": res["other"]["MRR@10"],
                        f"{tag} R@3 non-en": res["other"]["R@3"],
                        f"{tag} top3 +/-": f"+{up}/-{down}",
                    }
                )
                mrrs.append(res["all"]["MRR@10"])
            row["mean MRR"] = sum(mrrs) / len(mrrs)
            rows.append(row)
            print(
                f"{row['config']}: mean MRR {row['mean MRR']:.3f} "
                f"({time.perf_counter() - t0:.0f}s)",
                file=sys.stderr,
            )
        if args.time_rounds:
            timing_rows.extend(time_runs(ctxs, runs, args.time_rounds, f"{size}:{overlap}"))
        for c in ctxs:
            c.kb.close()
    tags = [s[:1] for s in args.sets.split(",")]
    cols = [
        "config",
        *[
            f"{t} {m}"
            for t in tags
            for m in ("MRR", "R@3", "MRR en", "MRR non-en", "R@3 non-en", "top3 +/-")
        ],
        "mean MRR",
    ]
    print(
        f"m = Milvus docs (90 q, 18 non-en), s = Sphinx docs (87 q, 17 non-en); k={K}; "
        "'top3 +/-': questions that gained / lost a top-3 hit against dense.\n"
    )
    print(fmt(rows, cols))
    if timing_rows:
        print(
            f"\nLatency of one search, query vector given, p50 over {args.time_rounds} "
            "rounds (configurations interleaved per question):\n"
        )
        print(fmt(timing_rows, list(timing_rows[0])))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


def time_runs(
    ctxs: list[SetCtx], runs: dict[str, Run], rounds: int, chunking: str
) -> list[dict[str, Any]]:
    """p50 milliseconds per (configuration, set), and the ratio to dense in the same run."""
    secs: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for c in ctxs:
            for i in range(len(c.questions)):
                for name, fn in runs.items():  # interleaved: load from others hits all alike
                    t0 = time.perf_counter()
                    fn(c, i)
                    secs.setdefault((name, c.name), []).append(time.perf_counter() - t0)
    rows = []
    for name in runs:
        row: dict[str, Any] = {"config": f"{name} [{chunking}]"}
        for c in ctxs:
            p50 = float(np.median(secs[(name, c.name)])) * 1000
            base = float(np.median(secs[("dense", c.name)])) * 1000
            row[f"{c.name[:1]} p50 ms"] = f"{p50:.1f}"
            row[f"{c.name[:1]} x dense"] = f"{p50 / base:.2f}"
        rows.append(row)
    return rows


def load_questions_raw(path: Path) -> list[dict[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(json.loads(line))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
