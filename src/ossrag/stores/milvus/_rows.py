"""Rows in and out of an ossrag collection: checked records to write, :class:`Hit` to read.

Private to :class:`~ossrag.stores.milvus.MilvusStore`::

    record = to_record({"id": "a1", "text": "...", "vector": vec, "source": "faq.md"}, dim=384,
                       bm25_text=True)             # strings cut to their field's size
    hit = to_hit(entity["id"], 0.87, entity)       # an entity of a search or query result
    expr = f"source == {quote('en/faq.md')}"       # a Milvus string literal
    clip("é" * 10, 7)                              # 'ééé': UTF-8 bytes, whole characters
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np

from ...errors import EmbedderMismatchError, StoreError
from ...types import Hit
from ._schema import MAX_STR_BYTES, MAX_TEXT_BYTES

__all__ = ["OUTPUT_FIELDS", "clip", "quote", "to_hit", "to_record"]

OUTPUT_FIELDS = ["text", "source", "origin", "heading", "chunk_index", "metadata"]


def clip(value: Any, limit: int) -> str:
    """``value`` as str, cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    text = "" if value is None else str(value)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def quote(text: str) -> str:
    """A Milvus filter string literal (any text: a raw line break would end the literal)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def to_record(row: dict[str, Any], dim: int, *, bm25_text: bool = False) -> dict[str, Any]:
    """One row (see ``MilvusStore.upsert``) as the record Milvus stores; raises for bad ids and vectors."""
    rid = str(row["id"])
    if not rid or len(rid.encode("utf-8")) > 64:
        raise StoreError(f"row id must be 1-64 bytes: {rid[:80]!r}")
    vec = np.asarray(row["vector"], dtype=np.float32).reshape(-1)
    if vec.shape[0] != dim:
        raise EmbedderMismatchError(
            f"vector of dimension {vec.shape[0]} for a knowledge base of dimension {dim}",
            hint="use the embedder the knowledge base was built with (see `ossrag kb info`)",
        )
    metadata = row.get("metadata") or {}
    try:
        metadata = json.loads(json.dumps(metadata, default=str))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"row {rid}: metadata is not JSON-serialisable: {exc}") from exc
    record = {
        "id": rid,
        "text": clip(row.get("text", ""), MAX_TEXT_BYTES),
        "vector": vec,
        "source": clip(row.get("source", ""), MAX_STR_BYTES),
        "origin": clip(row.get("origin", ""), MAX_STR_BYTES),
        "heading": clip(row.get("heading", ""), MAX_STR_BYTES),
        "chunk_index": int(row.get("chunk_index", 0)),
        "content_hash": clip(row.get("content_hash", ""), 32),
        "source_hash": clip(row.get("source_hash", ""), 32),
        "metadata": metadata if isinstance(metadata, dict) else {"value": metadata},
    }
    if bm25_text:
        heading = str(row.get("heading", ""))
        body = str(row.get("text", ""))
        record["bm25_text"] = clip(f"{heading}\n\n{body}" if heading else body, MAX_TEXT_BYTES)
    return record


def to_hit(hid: Any, score: float, e: dict[str, Any]) -> Hit:
    """A search result's or query row's entity as a :class:`Hit`."""
    md = e.get("metadata")
    if isinstance(md, str):  # some servers return JSON fields as text
        with contextlib.suppress(ValueError):
            md = json.loads(md)
    return Hit(
        id=str(hid),
        score=score,
        text=e.get("text", ""),
        source=e.get("source", ""),
        heading=e.get("heading", ""),
        chunk_index=int(e.get("chunk_index", 0)),
        origin=e.get("origin", ""),
        metadata=md if isinstance(md, dict) else {},
    )
