"""Reading a whole ossrag collection: the source index, every row (for copies), its states.

Private to :class:`~ossrag.stores.milvus.MilvusStore`, which calls these inside
its error-mapping ``_call`` context::

    index = source_rows(client, "ossrag_docs", with_count=True, timeout=30)
    for page in iter_rows(client, "ossrag_docs", with_count=True, batch_size=1000, timeout=30):
        other_store.upsert("docs", page)           # vectors included: nothing re-embedded
    index_and_load_state(client, "ossrag_docs", timeout=30)
    # {'index_state': 'Finished, 3716/3716 rows indexed', 'load_state': 'loaded'}

Pages come from ``query_iterator``: a Milvus server caps one query at 16,384
rows, and the iterator pages past it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..base import SourceRows
from ._rows import OUTPUT_FIELDS

__all__ = ["ROW_FIELDS", "index_and_load_state", "iter_rows", "source_rows"]

#: What a row is made of, besides ``id`` and ``vector`` (``chunk_count`` from schema 3).
ROW_FIELDS = [*OUTPUT_FIELDS, "content_hash", "source_hash"]
_LOAD_STATES = {3: "loaded", 2: "loading", 1: "not loaded", 0: "not exist"}


def _pages(
    client: Any, name: str, fields: list[str], batch_size: int, timeout: float
) -> Iterator[list[dict[str, Any]]]:
    it = client.query_iterator(
        name,
        batch_size=batch_size,
        filter="",
        output_fields=fields,
        consistency_level="Strong",
        timeout=timeout,
    )
    try:
        while batch := it.next():
            yield batch
    finally:
        it.close()


def source_rows(
    client: Any, name: str, *, with_count: bool, timeout: float
) -> dict[tuple[str, str], SourceRows]:
    """``(origin, source) -> SourceRows``; hashes are interned (one string per source version)."""
    out: dict[tuple[str, str], SourceRows] = {}
    fields = ["id", "origin", "source", "source_hash"] + (["chunk_count"] if with_count else [])
    for batch in _pages(client, name, fields, 5000, timeout):
        for r in batch:
            rows = out.setdefault((r["origin"], r["source"]), SourceRows())
            rows.ids[str(r["id"])] = sys.intern(str(r["source_hash"]))
            rows.chunks.add(int(r.get("chunk_count") or 0))
    return out


def iter_rows(
    client: Any, name: str, *, with_count: bool, batch_size: int, timeout: float
) -> Iterator[list[dict[str, Any]]]:
    """Every row, in pages, in the shape ``MilvusStore.upsert`` takes (float32 vectors)."""
    fields = ["id", "vector", *ROW_FIELDS] + (["chunk_count"] if with_count else [])
    for batch in _pages(client, name, fields, batch_size, timeout):
        rows = []
        for r in batch:
            row = {f: r.get(f) for f in fields}
            row["id"] = str(row["id"])
            row["vector"] = np.asarray(r["vector"], dtype=np.float32)
            md = row.get("metadata")
            if isinstance(md, str):  # some servers return JSON fields as text
                with contextlib.suppress(ValueError):
                    row["metadata"] = json.loads(md)
            rows.append(row)
        yield rows


def index_and_load_state(client: Any, name: str, timeout: float) -> dict[str, str]:
    """The vector index's build state and the collection's load state, read now."""
    index = client.describe_index(name, "vector", timeout=timeout) or {}
    load = client.get_load_state(name, timeout=timeout).get("state", "")
    state = str(index.get("state", "") or "")
    if "indexed_rows" in index:
        state += f", {index['indexed_rows']}/{index.get('total_rows', '?')} rows indexed"
        if index.get("pending_index_rows"):
            state += f", {index['pending_index_rows']} pending"
    try:  # pymilvus' LoadState enum, or its int
        load_text = _LOAD_STATES.get(int(load), str(load))
    except (TypeError, ValueError):
        load_text = str(load).lower()
    return {"index_state": state.strip(", "), "load_state": load_text}
