"""Retrieval metrics over labelled questions: pure functions, no I/O.

    from ossrag.evaluation.metrics import recall_at, reciprocal_rank, ndcg_at

    relevant = ["faq/product_faq.md", "Where does Milvus store data?"]
    recall_at(hits, relevant, 3)        # fraction of the relevant items found in the top 3
    reciprocal_rank(hits, relevant)     # 1 / rank of the first relevant hit in the top 10
    ndcg_at(hits, relevant, 10)         # binary-gain nDCG@10

**Relevant items.** ``relevant`` is a list of strings; each names one place
that answers the question.  A hit *matches* an item when

* the hit's ``source`` ends with the item at a path boundary:
  ``"faq/product_faq.md"`` matches ``"en/faq/product_faq.md"`` and
  ``"faq/product_faq.md"`` but not ``"en/faq/old_product_faq.md"`` (this
  comparison is case-sensitive, like paths), or
* the hit's ``heading`` path contains the item, ignoring case and runs of
  whitespace: ``"Where does Milvus store data?"`` matches the heading
  ``"Product FAQ > Where does Milvus store data?"``.  An item written as a
  path, ``"Single-Vector Search > Range search"``, narrows a common heading to
  one page.

Blank items never match, and repeated items count once.  Hits are
:class:`~ossrag.types.Hit` objects or dicts with ``source`` and ``heading``
keys (the ``search --json`` shape).  Only the first ``k`` hits are looked at;
``k`` larger than the number of hits simply looks at all of them.

**Definitions** (``R`` = the number of distinct relevant items):

* ``recall_at(k)`` = (items matched by at least one of the top ``k`` hits) / ``R``.
* ``hit_at(k)`` = 1.0 if any of the top ``k`` hits matches an item, else 0.0.
* ``reciprocal_rank(k)`` = 1 / (1-based rank of the first matching hit among the
  top ``k``), 0.0 when there is none.  Its mean over questions is MRR@k.
* ``ndcg_at(k)`` = DCG / IDCG with binary gains: walking the top ``k`` hits in
  order, a hit gains 1 when it matches an item that no earlier hit was
  credited with (it is then credited with the first such item, in the order
  of ``relevant``), else 0 — so a second passage from the same relevant page
  earns nothing.  DCG = Σ gain_i / log2(i + 1) over ranks i = 1..k;
  IDCG = Σ 1 / log2(i + 1) for i = 1..min(R, k).

Every metric is 0.0 when ``relevant`` holds no usable item; the evaluation
runner leaves such questions out of its averages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..types import Hit

__all__ = [
    "first_relevant_rank",
    "hit_at",
    "is_relevant",
    "matched_items",
    "matches",
    "ndcg_at",
    "recall_at",
    "reciprocal_rank",
]

HitLike = Hit | Mapping[str, Any]


def _field(hit: HitLike, name: str) -> str:
    value = hit.get(name, "") if isinstance(hit, Mapping) else getattr(hit, name, "")
    return str(value or "")


def _fold(text: str) -> str:
    """Case- and whitespace-insensitive form for heading comparison."""
    return " ".join(text.split()).casefold()


def _items(relevant: Sequence[str]) -> list[str]:
    """Usable relevant items, stripped, blanks dropped, duplicates removed (order kept)."""
    seen: dict[str, None] = {}
    for item in relevant:
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def matches(hit: HitLike, item: str) -> bool:
    """True when ``hit`` matches one relevant ``item`` (see the module docstring)."""
    item = item.strip()
    if not item:
        return False
    source = _field(hit, "source")
    if source == item or (
        source.endswith(item) and (item.startswith("/") or source[-len(item) - 1] == "/")
    ):
        return True
    return _fold(item) in _fold(_field(hit, "heading"))


def is_relevant(hit: HitLike, relevant: Sequence[str]) -> bool:
    """True when ``hit`` matches any item of ``relevant``."""
    return any(matches(hit, item) for item in relevant)


def matched_items(hits: Sequence[HitLike], relevant: Sequence[str], k: int) -> list[str]:
    """The distinct relevant items that at least one of the top ``k`` hits matches."""
    _check_k(k)
    top = hits[:k]
    return [item for item in _items(relevant) if any(matches(h, item) for h in top)]


def recall_at(hits: Sequence[HitLike], relevant: Sequence[str], k: int) -> float:
    """Fraction of the distinct relevant items matched within the top ``k`` hits."""
    items = _items(relevant)
    if not items:
        _check_k(k)
        return 0.0
    return len(matched_items(hits, items, k)) / len(items)


def first_relevant_rank(
    hits: Sequence[HitLike], relevant: Sequence[str], k: int = 10
) -> int | None:
    """1-based rank of the first hit in the top ``k`` that matches an item, or None."""
    _check_k(k)
    items = _items(relevant)
    for rank, hit in enumerate(hits[:k], start=1):
        if any(matches(hit, item) for item in items):
            return rank
    return None


def hit_at(hits: Sequence[HitLike], relevant: Sequence[str], k: int) -> float:
    """1.0 when some hit in the top ``k`` is relevant, else 0.0 (success@k)."""
    return 1.0 if first_relevant_rank(hits, relevant, k) is not None else 0.0


def reciprocal_rank(hits: Sequence[HitLike], relevant: Sequence[str], k: int = 10) -> float:
    """1 / rank of the first relevant hit within the top ``k``; 0.0 when there is none."""
    rank = first_relevant_rank(hits, relevant, k)
    return 1.0 / rank if rank is not None else 0.0


def ndcg_at(hits: Sequence[HitLike], relevant: Sequence[str], k: int = 10) -> float:
    """Binary-gain nDCG@k where each relevant item can be credited once (see module docstring)."""
    _check_k(k)
    items = _items(relevant)
    if not items:
        return 0.0
    credited: set[str] = set()
    dcg = 0.0
    for rank, hit in enumerate(hits[:k], start=1):
        for item in items:
            if item not in credited and matches(hit, item):
                credited.add(item)
                dcg += 1.0 / math.log2(rank + 1)
                break
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(items), k) + 1))
    return dcg / ideal
