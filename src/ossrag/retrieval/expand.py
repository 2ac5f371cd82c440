"""Neighbour expansion: a hit grows into the chunks around it from the same section.

    from ossrag.retrieval.expand import expand_hits, join_overlapping

    hits = expand_hits(store, "default", hits, 1)   # one chunk before and after each hit
    hits[0].metadata.get("expanded")                # [first, last] chunk index, when merged
    join_overlapping("... the end of one", "end of one chunk and the next")

:func:`ossrag.retrieval.retrieve` does this for ``RetrievalOptions(expand=n)``.
"""

from __future__ import annotations

from dataclasses import replace

from ..stores.base import VectorStore
from ..types import Hit

__all__ = ["expand_hits", "join_overlapping"]


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
