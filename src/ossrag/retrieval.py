"""Retrieval: dense, BM25 and hybrid search over one knowledge base.

    hits = retrieve(store, "default", embedder, "where is data stored?", k=3, mode="hybrid")

Score scales (documented for ``search --json``):

* ``dense``: cosine similarity (inner product of unit vectors), in [-1, 1].
* ``bm25``: the BM25 relevance Milvus computes, >= 0, unbounded; only the
  order is meaningful across queries.
* ``hybrid``: a weighted sum ``w * dense' + (1 - w) * bm25'`` where each list's
  scores are min-max normalised over its candidates, in [0, 1]; or with
  ``fusion="rrf"`` the reciprocal-rank-fusion sum ``Σ 1 / (rrf_k + rank)``.

More candidates than ``k`` are fetched so that near-duplicate passages (the
same text ingested twice, overlapping chunks) can be dropped, and, with
``mmr``, so that diverse passages can be preferred.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .embedders.base import Embedder
from .store import MilvusStore
from .types import Hit

__all__ = ["RetrievalOptions", "dedupe", "fuse_rrf", "fuse_weighted", "retrieve"]

# Weight of the dense list in weighted hybrid fusion (see docs/benchmarks.md).
DEFAULT_DENSE_WEIGHT = 0.7
DEFAULT_RRF_K = 60


@dataclass
class RetrievalOptions:
    k: int = 3
    mode: str = "hybrid"  # dense | bm25 | hybrid
    filter: str = ""
    fusion: str = "weighted"  # weighted | rrf
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    rrf_k: int = DEFAULT_RRF_K
    candidates: int = 0  # 0: automatic (max(4k, 20))
    min_score: float | None = None
    dedupe: bool = True


def _norm_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def dedupe(hits: list[Hit], *, overlap: float = 0.9) -> list[Hit]:
    """Drop hits whose text repeats (or is mostly contained in) a better hit's text."""
    kept: list[Hit] = []
    norms: list[str] = []
    for hit in hits:
        t = _norm_text(hit.text)
        dup = False
        for other in norms:
            if t == other:
                dup = True
                break
            short, long_ = (t, other) if len(t) <= len(other) else (other, t)
            if len(short) >= 40 and short in long_ and len(short) >= overlap * len(long_):
                dup = True
                break
        if not dup:
            kept.append(hit)
            norms.append(t)
    return kept


def _minmax(values: list[float]) -> list[float]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def fuse_weighted(dense: list[Hit], sparse: list[Hit], *, dense_weight: float) -> list[Hit]:
    """Weighted sum of min-max normalised scores; a hit missing from one list scores 0 there."""
    by_id: dict[str, Hit] = {}
    score: dict[str, float] = {}
    for hits, weight in ((dense, dense_weight), (sparse, 1.0 - dense_weight)):
        for hit, s in zip(hits, _minmax([h.score for h in hits]), strict=True):
            by_id.setdefault(hit.id, hit)
            score[hit.id] = score.get(hit.id, 0.0) + weight * s
    ranked = sorted(score, key=lambda i: score[i], reverse=True)
    return [replace(by_id[i], score=score[i]) for i in ranked]


def fuse_rrf(*lists: list[Hit], rrf_k: int = DEFAULT_RRF_K) -> list[Hit]:
    """Reciprocal rank fusion: ``Σ 1 / (rrf_k + rank)`` with 1-based ranks."""
    by_id: dict[str, Hit] = {}
    score: dict[str, float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            by_id.setdefault(hit.id, hit)
            score[hit.id] = score.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
    ranked = sorted(score, key=lambda i: score[i], reverse=True)
    return [replace(by_id[i], score=score[i]) for i in ranked]


def retrieve(
    store: MilvusStore,
    kb: str,
    embedder: Embedder,
    query: str,
    options: RetrievalOptions | None = None,
    *,
    query_vector: np.ndarray | None = None,
) -> list[Hit]:
    """Search ``kb`` for ``query``; see :class:`RetrievalOptions` and the module docstring."""
    opt = options or RetrievalOptions()
    n = opt.candidates or max(4 * opt.k, 20)
    if opt.mode == "bm25":
        hits = store.search_bm25(kb, query, k=n, filter=opt.filter)
    else:
        vec = embedder.embed_query(query) if query_vector is None else query_vector
        dense = store.search_dense(kb, vec, k=n, filter=opt.filter)
        if opt.mode == "dense":
            hits = dense
        else:
            sparse = store.search_bm25(kb, query, k=n, filter=opt.filter)
            if opt.fusion == "rrf":
                hits = fuse_rrf(dense, sparse, rrf_k=opt.rrf_k)
            else:
                hits = fuse_weighted(dense, sparse, dense_weight=opt.dense_weight)
    if opt.dedupe:
        hits = dedupe(hits)
    if opt.min_score is not None:
        hits = [h for h in hits if h.score >= opt.min_score]
    return hits[: opt.k]
