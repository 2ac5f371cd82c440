"""How big a knowledge base may grow on each Milvus target, and what it costs in memory.

Used by ``ossrag doctor`` and ``ossrag kb info``::

    from ossrag.stores.milvus.sizing import advice, memory_estimate

    memory_estimate(1_000_000, 384, "HNSW")   # bytes a server needs loaded, ~3.4e9
    advice("lite", rows=250_000, bm25=True)   # a sentence recommending a server, or None

The numbers come from ``bench/milvus_scale.py`` (docs/milvus.md, "Sizing"):
Milvus Lite searches FLAT, exactly, and its BM25 runs in Python, so both grow
linearly with the rows; a server's HNSW search stays at a few milliseconds.
"""

from __future__ import annotations

__all__ = ["LITE_DENSE_ROWS", "LITE_HYBRID_ROWS", "advice", "memory_estimate"]

#: Past this many rows a dense search on Milvus Lite (exact, FLAT) takes over
#: ~100 ms at its median; hybrid search (BM25 in Python) gets there sooner.
#: Measured on 2 cores (docs/milvus.md, "Sizing"): Lite's dense median is 16 ms at
#: 10k rows and 35 ms at 30k, ~100 ms at 100k by extrapolation (3.1 s at 100k, 23x
#: its 10k time, under heavy load); hybrid 34 and 83 ms, ~100 ms at 40k. A server's
#: median is 8-14 ms from 10k to 100k (Session consistency). Milvus Lite also
#: holds ~22 KB a chunk in the memory of the process that opens it (~2.5 GB at 100k).
LITE_DENSE_ROWS = 100_000
LITE_HYBRID_ROWS = 40_000

# Per-row bytes besides the vector, loaded in memory by Milvus: the text (twice
# with BM25: ``text`` and ``bm25_text``), heading, source and origin strings,
# the JSON metadata, and the BM25 sparse vector; measured ~1.2 KB text a chunk.
_SCALARS = 1_600
_SCALARS_BM25 = 3_800
# Extra bytes per vector for the index structure (HNSW: M=32 -> 2*M links of
# 4 bytes on level 0 plus upper levels; IVF: an 8-byte id per vector).
_INDEX_OVERHEAD = {"FLAT": 0, "HNSW": 280, "IVF_FLAT": 8, "IVF_SQ8": 8, "DISKANN": 0}


def memory_estimate(rows: int, dim: int, index: str = "HNSW", *, bm25: bool = False) -> int:
    """Bytes to hold ``rows`` chunks of ``dim``-d float32 vectors loaded, with ``index``.

    IVF_SQ8 stores one byte a dimension instead of four; DISKANN keeps the
    vectors on disk (about a quarter of them in memory, PQ-compressed).
    """
    kind = index.split("(")[0].upper()
    per_vector = dim * (1 if kind == "IVF_SQ8" else 4)
    if kind == "DISKANN":
        per_vector //= 4
    per_row = per_vector + _INDEX_OVERHEAD.get(kind, 0) + (_SCALARS_BM25 if bm25 else _SCALARS)
    return rows * per_row


def advice(kind: str, rows: int, *, bm25: bool) -> str | None:
    """A recommendation when a knowledge base has outgrown Milvus Lite, else None."""
    if kind != "lite":
        return None
    if rows >= LITE_DENSE_ROWS:
        return (
            f"{rows} chunks on Milvus Lite: every search scans them all; past "
            f"~{LITE_DENSE_ROWS // 1000}k chunks a Milvus server (HNSW) answers in "
            "milliseconds instead. Move it with: ossrag kb copy --to http://HOST:19530 "
            "(docs/milvus.md)"
        )
    if bm25 and rows >= LITE_HYBRID_ROWS:
        return (
            f"{rows} chunks on Milvus Lite: its BM25 (hybrid search) slows down past "
            f"~{LITE_HYBRID_ROWS // 1000}k chunks; a Milvus 2.5+ server keeps hybrid fast. "
            "Move it with: ossrag kb copy --to http://HOST:19530 (docs/milvus.md)"
        )
    return None
