"""The searches and reads of :class:`~ossrag.stores.milvus.store.MilvusStore`.

A mixin, so that ``store.py`` keeps the connection, the collections and the
writes, and this module what reads rows: dense and BM25 search, rows by id,
a source's chunks and their neighbours. Every read runs through the store's
``_call`` (errors mapped onto the exception tree) and, where a long-running
process may find its collection released by a Milvus restart, ``_reloads``.
They run at the store's read level (``Session`` by default; why, and what
stays ``Strong``: :mod:`ossrag.stores.milvus._consistency`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ...errors import EmbedderMismatchError, StoreError
from ...types import Hit
from ._consistency import ReadLevels
from ._rows import OUTPUT_FIELDS, quote, to_hit
from ._schema import SERVER_SEARCH_EF

if TYPE_CHECKING:
    from ..base import Capabilities

__all__ = ["MAX_TOPK", "Reads"]

MAX_TOPK = 16384  # Milvus' limit on k and on one query's result window


class _Released(StoreError):
    """The collection was released under a running store; ``_call`` has loaded it again."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _reloads(fn: _F) -> _F:
    """Run a read once more when its collection turned out released (it is loaded again):
    a long-running process (``ossrag serve``) survives a Milvus restart."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _Released:
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Reads:
    """Searches and reads by id or source; mixed into ``MilvusStore``."""

    timeout: float
    read_levels: ReadLevels

    if TYPE_CHECKING:  # provided by MilvusStore

        def _call(
            self, action: str, kb: str | None = None, filter: str = ""
        ) -> AbstractContextManager[Any]: ...

        def _metadata(self, kb: str) -> dict[str, Any]: ...

        @staticmethod
        def collection_name(kb: str) -> str: ...

        @property
        def capabilities(self) -> Capabilities: ...

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
        return self._search(
            kb, vec, "vector", {"metric_type": "IP", "params": params}, k, filter, bm25=False
        )

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

    @_reloads
    def _search(
        self,
        kb: str,
        data: Any,
        field: str,
        params: dict[str, Any],
        k: int,
        filter: str,
        *,
        bm25: bool,
    ) -> list[Hit]:
        name = self.collection_name(kb)
        with self.read_levels.read(name) as level, self._call("search", kb, filter=filter) as c:
            res = c.search(
                name,
                data=[data],
                anns_field=field,
                limit=k,
                filter=filter or "",
                output_fields=OUTPUT_FIELDS,
                search_params=params,
                consistency_level=level,
                timeout=self.timeout,
            )
        hits = []
        for h in res[0] if res else []:
            # BM25 scores are non-negative; Milvus Lite returns them negated as distances.
            score = abs(float(h["distance"])) if bm25 else float(h["distance"])
            hits.append(to_hit(h["id"], score, h.get("entity") or {}))
        return hits

    @_reloads
    def get_vectors(self, kb: str, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored dense vectors of ``ids`` (float32, as stored); unknown ids are absent."""
        if not ids:
            return {}
        self._metadata(kb)
        return {
            str(r["id"]): np.asarray(r["vector"], dtype=np.float32)
            for r in self._rows_by_id(kb, ids, ["id", "vector"])
        }

    @_reloads
    def get_neighbours(
        self, kb: str, origin: str, source: str, chunk_indexes: list[int]
    ) -> list[Hit]:
        """Chunks of one source at the given positions (for context expansion), in order."""
        wanted = sorted({int(i) for i in chunk_indexes})
        if not wanted:
            return []
        self._metadata(kb)
        expr = (
            f"origin == {quote(origin)} and source == {quote(source)} and chunk_index in {wanted}"
        )
        rows = self._query(kb, expr, ["id", *OUTPUT_FIELDS])
        hits = [to_hit(r["id"], 0.0, r) for r in rows]
        return sorted(hits, key=lambda h: (h.chunk_index, h.id))

    @_reloads
    def get_chunks(self, kb: str, ids: list[str]) -> list[Hit]:
        """The stored chunks with these ids (score 0), in the order asked; unknown ids are absent."""
        if not ids:
            return []
        self._metadata(kb)
        found = {
            str(r["id"]): to_hit(r["id"], 0.0, r)
            for r in self._rows_by_id(kb, ids, ["id", *OUTPUT_FIELDS])
        }
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def _rows_by_id(self, kb: str, ids: list[str], fields: list[str]) -> Iterator[dict[str, Any]]:
        """The rows of ``ids``, queried 1000 ids at a time."""
        for start in range(0, len(ids), 1000):
            expr = "id in [" + ", ".join(quote(i) for i in ids[start : start + 1000]) + "]"
            yield from self._query(kb, expr, fields)

    def _query(self, kb: str, expr: str, fields: list[str], **extra: Any) -> list[dict[str, Any]]:
        """One query of ``kb`` at the store's read level (:mod:`._consistency`)."""
        name = self.collection_name(kb)
        with self.read_levels.read(name) as level, self._call("query", kb) as c:
            return list(
                c.query(
                    name,
                    filter=expr,
                    output_fields=fields,
                    consistency_level=level,
                    timeout=self.timeout,
                    **extra,
                )
            )

    @_reloads
    def source_chunks(self, kb: str, source: str, origin: str | None = None) -> list[Hit]:
        """Every chunk of one source (of one ``origin`` when given), in document order."""
        self._metadata(kb)
        expr = f"source == {quote(source)}" + (f" and origin == {quote(origin)}" if origin else "")
        rows = self._query(kb, expr, ["id", *OUTPUT_FIELDS], limit=MAX_TOPK)
        hits = [to_hit(r["id"], 0.0, r) for r in rows]
        return sorted(hits, key=lambda h: (h.origin, h.chunk_index, h.id))
