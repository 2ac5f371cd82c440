"""Measure retrieval quality of a knowledge base on a labelled question set.

    from ossrag import KnowledgeBase
    from ossrag.evaluation.datasets import load_questions
    from ossrag.evaluation.retrieval_eval import evaluate_retrieval, format_table

    kb = KnowledgeBase(uri="./ossrag.db", name="milvus_docs")
    questions = load_questions("bench/data/milvus_docs_questions.jsonl")
    results = evaluate_retrieval(kb, questions, modes=("dense", "bm25", "hybrid"), k=10)
    print(format_table(results))

    mode    R@1    R@3    R@10   MRR@10  nDCG@10  p50 ms
    dense   0.411  0.622  0.789  0.534   0.570    21.3
    ...

Every question is sent to ``kb.search(question, k=k, mode=mode,
**search_kwargs)`` once per mode, after one untimed warm-up query per mode (so
loading the embedder does not count as query latency).  The metrics are the
means over the questions that have at least one ``relevant`` item, as defined
in :mod:`ossrag.evaluation.metrics`; recall is reported at 1, 3 and 10 (those
not above ``k``) and at ``k``.  ``p50 ms`` is the median wall-clock time of
one ``kb.search`` call, embedding the query included.

A mode the Milvus target cannot serve (``bm25`` and ``hybrid`` need BM25,
Milvus 2.5 or later) is reported as skipped with the reason instead of being
silently answered by dense search.  This is the ``ossrag eval retrieval``
command; :mod:`ossrag.cli.eval` does its printing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, FilterError, OssragError, StoreError
from .datasets import Question
from .metrics import first_relevant_rank, ndcg_at, recall_at, reciprocal_rank

if TYPE_CHECKING:
    from ..kb import KnowledgeBase

__all__ = [
    "MODES",
    "ModeResult",
    "cutoffs_for",
    "evaluate_retrieval",
    "format_misses",
    "format_table",
    "parse_modes",
    "to_json",
]

MODES = ("dense", "bm25", "hybrid")
_BM25_MODES = ("bm25", "hybrid")


@dataclass
class ModeResult:
    """Averaged metrics of one search mode; ``skipped`` holds the reason when it did not run."""

    mode: str
    recall: dict[int, float] = field(default_factory=dict)  # cutoff -> mean recall@cutoff
    mrr: float = 0.0  # mean reciprocal rank within the top k
    ndcg: float = 0.0  # mean nDCG@k
    p50_ms: float = 0.0  # median latency of one kb.search call
    misses: list[dict[str, Any]] = field(default_factory=list)  # no relevant hit in the top k
    k: int = 10
    questions: int = 0  # questions that counted (had relevant items)
    hit_rate: float = 0.0  # fraction with a relevant hit in the top k
    skipped: str = ""  # why the mode did not run ("" when it ran)
    per_question: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        if self.skipped:
            return {"mode": self.mode, "skipped": self.skipped}
        return {
            "mode": self.mode,
            "k": self.k,
            "questions": self.questions,
            "recall": {str(c): round(v, 4) for c, v in self.recall.items()},
            "mrr": round(self.mrr, 4),
            "ndcg": round(self.ndcg, 4),
            "hit_rate": round(self.hit_rate, 4),
            "p50_ms": round(self.p50_ms, 2),
            "misses": self.misses,
            "per_question": self.per_question,
        }


def cutoffs_for(k: int) -> tuple[int, ...]:
    """Recall cutoffs reported for a top-``k`` run: 1, 3, 10 where not above ``k``, plus ``k``."""
    return tuple(sorted({c for c in (1, 3, 10) if c <= k} | {k}))


def _brief(hit: Any) -> dict[str, Any]:
    return {
        "source": getattr(hit, "source", ""),
        "heading": getattr(hit, "heading", ""),
        "score": round(float(getattr(hit, "score", 0.0)), 4),
    }


def _bm25_unavailable(kb: KnowledgeBase) -> str:
    """Why ``kb`` cannot serve BM25 (empty string when it can)."""
    caps = getattr(getattr(kb, "store", None), "capabilities", None)
    if caps is None or getattr(caps, "bm25", True):
        return ""
    describe = getattr(caps, "describe", None)
    reason = describe() if callable(describe) else "the Milvus target has no BM25"
    return f"{reason} (bm25 and hybrid need Milvus 2.5 or later, or Milvus Lite)"


def evaluate_retrieval(
    kb: KnowledgeBase,
    questions: list[Question],
    *,
    modes: tuple[str, ...] | list[str] = MODES,
    k: int = 10,
    search_kwargs: dict[str, Any] | None = None,
) -> list[ModeResult]:
    """Search every question in every mode and average the metrics (see the module docstring)."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}", hint="e.g. -k 10")
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(
            f"unknown search mode(s): {', '.join(unknown) or '(none given)'}",
            hint="use dense, bm25 and/or hybrid, e.g. --modes dense,hybrid",
        )
    scored = [q for q in questions if any(r.strip() for r in q.relevant)]
    if not scored:
        raise ConfigError(
            'no question in the dataset has a "relevant" list',
            hint='label each question, e.g. "relevant": ["faq/product_faq.md"]',
        )
    store = getattr(kb, "store", None)
    if store is not None and hasattr(store, "exists") and not store.exists(kb.name):
        raise StoreError(
            f"knowledge base {kb.name!r} does not exist or is empty",
            hint="ingest the corpus first: ossrag ingest PATH (or check --kb / --db)",
        )
    extra = dict(search_kwargs or {})
    for key in ("k", "mode"):
        extra.pop(key, None)  # set per call below
    cutoffs = cutoffs_for(k)

    results: list[ModeResult] = []
    for mode in dict.fromkeys(modes):  # keep order, drop repeats
        if mode in _BM25_MODES:
            reason = _bm25_unavailable(kb)
            if reason:
                results.append(ModeResult(mode, k=k, skipped=reason))
                continue
        results.append(_run_mode(kb, scored, mode, k, cutoffs, extra))
    return results


def _run_mode(
    kb: KnowledgeBase,
    questions: list[Question],
    mode: str,
    k: int,
    cutoffs: tuple[int, ...],
    extra: dict[str, Any],
) -> ModeResult:
    result = ModeResult(mode, k=k, questions=len(questions))
    sums = dict.fromkeys(cutoffs, 0.0)
    rr_sum = ndcg_sum = found = 0.0
    latencies: list[float] = []
    try:
        kb.search(questions[0].question, k=k, mode=mode, **extra)  # warm-up, not timed
        for n, q in enumerate(questions, start=1):
            t0 = time.perf_counter()
            try:
                hits = kb.search(q.question, k=k, mode=mode, **extra)
            except (ConfigError, FilterError):
                raise  # the user's options are wrong for every mode: say so, do not skip
            except OssragError as exc:
                raise _ModeFailed(f"question {n} ({q.question!r}): {exc}") from exc
            latencies.append((time.perf_counter() - t0) * 1000.0)
            for c in cutoffs:
                sums[c] += recall_at(hits, q.relevant, c)
            rr_sum += reciprocal_rank(hits, q.relevant, k)
            ndcg_sum += ndcg_at(hits, q.relevant, k)
            rank = first_relevant_rank(hits, q.relevant, k)
            result.per_question.append(
                {
                    "question": q.question,
                    "rank": rank,
                    "recall": round(recall_at(hits, q.relevant, k), 4),
                }
            )
            if rank is None:
                result.misses.append(
                    {
                        "question": q.question,
                        "relevant": list(q.relevant),
                        "lang": q.lang,
                        "top": [_brief(h) for h in hits[:3]],
                    }
                )
            else:
                found += 1
    except _ModeFailed as exc:
        return ModeResult(mode, k=k, skipped=f"failed on {exc}")
    except (ConfigError, FilterError):
        raise
    except OssragError as exc:  # the warm-up query: the mode cannot run at all
        return ModeResult(mode, k=k, skipped=str(exc))
    total = len(questions)
    result.recall = {c: s / total for c, s in sums.items()}
    result.mrr = rr_sum / total
    result.ndcg = ndcg_sum / total
    result.hit_rate = found / total
    result.p50_ms = statistics.median(latencies)
    return result


class _ModeFailed(Exception):
    """A search error in the middle of a mode's run (the message names the question)."""


def format_table(results: list[ModeResult]) -> str:
    """Aligned text table: mode | R@1 | R@3 | R@10 | MRR@10 | nDCG@10 | p50 ms (skipped modes say why)."""
    ran = [r for r in results if not r.skipped]
    k = ran[0].k if ran else (results[0].k if results else 10)
    cutoffs = cutoffs_for(k)
    header = ["mode", *(f"R@{c}" for c in cutoffs), f"MRR@{k}", f"nDCG@{k}", "p50 ms"]
    rows: list[list[str]] = []
    for r in ran:
        rows.append(
            [
                r.mode,
                *(f"{r.recall.get(c, 0.0):.3f}" for c in cutoffs),
                f"{r.mrr:.3f}",
                f"{r.ndcg:.3f}",
                f"{r.p50_ms:.1f}",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    for r in results:
        if r.skipped:
            lines.append(f"{r.mode.ljust(widths[0])}  skipped: {r.skipped}")
    return "\n".join(lines)


def format_misses(result: ModeResult, *, limit: int | None = None) -> str:
    """The questions a mode missed, each with its labels and the top sources it got instead."""
    if result.skipped:
        return ""
    lines = [
        f"{result.mode}: {len(result.misses)} of {result.questions} questions "
        f"had no relevant passage in the top {result.k}"
    ]
    for miss in result.misses[:limit]:
        lines.append(f"  - {miss['question']}")
        lines.append(f"      wanted: {' | '.join(miss['relevant'])}")
        for top in miss["top"]:
            where = top["source"] + (f" > {top['heading']}" if top["heading"] else "")
            lines.append(f"      got:    {where}")
    if limit is not None and len(result.misses) > limit:
        lines.append(f"  ... and {len(result.misses) - limit} more (--json lists them all)")
    return "\n".join(lines)


def to_json(results: list[ModeResult]) -> dict[str, Any]:
    """JSON-ready summary: ``{"k", "modes": {mode: metrics or {"skipped": reason}}}``."""
    ran = [r for r in results if not r.skipped]
    return {
        "k": results[0].k if results else None,
        "questions": ran[0].questions if ran else 0,
        "modes": {r.mode: r.to_dict() for r in results},
    }


def parse_modes(value: Any) -> tuple[str, ...]:
    """``"dense,bm25"`` (or a list) as a tuple of modes; None means all three."""
    if value is None:
        return MODES
    items = value.split(",") if isinstance(value, str) else list(value)
    modes = tuple(m.strip().lower() for m in items if m and m.strip())
    if not modes:
        raise ConfigError("--modes is empty", hint="e.g. --modes dense,bm25,hybrid")
    return modes
