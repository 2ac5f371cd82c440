"""Fusing a dense and a BM25 result list into one ranking, and the score normalisation it uses.

    from ossrag.retrieval.fusion import fuse_rrf, fuse_weighted

    hybrid = fuse_weighted(dense_hits, bm25_hits, dense_weight=0.7)   # scores in [0, 1]
    hybrid = fuse_rrf(dense_hits, bm25_hits, rrf_k=60)                # Σ 1 / (rrf_k + rank)
    minmax([0.2, 0.5, 0.8])                                           # [0.0, 0.5, 1.0]

What the fused scores mean is explained in :mod:`ossrag.retrieval`'s docstring;
:func:`ossrag.retrieval.retrieve` is the usual way in.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from ..types import Hit

__all__ = [
    "BM25_NORMS",
    "DEFAULT_BM25_NORM",
    "DEFAULT_DENSE_WEIGHT",
    "DEFAULT_FUSION",
    "DEFAULT_RRF_K",
    "FUSIONS",
    "by_max",
    "check_bm25_norm",
    "fuse_rrf",
    "fuse_weighted",
    "minmax",
]

# Chosen by bench/retrieval_quality.py on the Milvus docs dev set (docs/benchmarks.md).
DEFAULT_FUSION = "weighted"
DEFAULT_DENSE_WEIGHT = 0.7
DEFAULT_RRF_K = 60
DEFAULT_BM25_NORM = "max"  # measured against "minmax" (docs/benchmarks.md)
BM25_NORMS = ("max", "minmax")
FUSIONS = ("weighted", "rrf")


def minmax(values: list[float]) -> list[float]:
    """Scale ``values`` onto [0, 1] (all 1.0 when they are all equal)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def by_max(values: list[float]) -> list[float]:
    """Divide ``values`` by their maximum (all 0.0 when it is not positive)."""
    hi = max(values, default=0.0)
    return [v / hi if hi > 0 else 0.0 for v in values]


def check_bm25_norm(value: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of :data:`BM25_NORMS`."""
    if value not in BM25_NORMS:
        raise ConfigError(f"unknown BM25 normalisation {value!r}", hint="use max or minmax")


def fuse_weighted(
    dense: list[Hit],
    sparse: list[Hit],
    *,
    dense_weight: float,
    sparse_norm: str = DEFAULT_BM25_NORM,
) -> list[Hit]:
    """Weighted sum of normalised scores; a hit missing from one list scores 0 there.

    Dense scores are min-max normalised over their list (cosines of related
    passages crowd into a narrow band, so only their spread says anything).
    BM25 scores are divided by the list's best (``sparse_norm="max"``, the
    default): BM25 has a true zero (no query word matched), so a weak keyword
    match stays weak instead of being stretched to 1 - measured better than
    min-max (``"minmax"``) on the dev set (docs/benchmarks.md).  Ties keep the
    order of first appearance (dense list first).
    """
    check_bm25_norm(sparse_norm)
    by_id: dict[str, Hit] = {}
    score: dict[str, float] = {}
    sparse_fn = by_max if sparse_norm == "max" else minmax
    for hits, weight, norm in (
        (dense, dense_weight, minmax),
        (sparse, 1.0 - dense_weight, sparse_fn),
    ):
        for hit, s in zip(hits, norm([h.score for h in hits]), strict=True):
            by_id.setdefault(hit.id, hit)
            score[hit.id] = score.get(hit.id, 0.0) + weight * s
    ranked = sorted(score, key=lambda i: score[i], reverse=True)
    return [replace(by_id[i], score=score[i]) for i in ranked]


def fuse_rrf(
    *lists: list[Hit], rrf_k: int = DEFAULT_RRF_K, weights: tuple[float, ...] | None = None
) -> list[Hit]:
    """Reciprocal rank fusion: ``Σ w_list / (rrf_k + rank)`` with 1-based ranks (``w`` = 1 by default).

    Ties keep the order of first appearance.
    """
    by_id: dict[str, Hit] = {}
    score: dict[str, float] = {}
    for n, hits in enumerate(lists):
        weight = 1.0 if weights is None else weights[n]
        for rank, hit in enumerate(hits, start=1):
            by_id.setdefault(hit.id, hit)
            score[hit.id] = score.get(hit.id, 0.0) + weight / (rrf_k + rank)
    ranked = sorted(score, key=lambda i: score[i], reverse=True)
    return [replace(by_id[i], score=score[i]) for i in ranked]
