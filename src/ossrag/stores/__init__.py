"""Vector stores behind one protocol (:class:`VectorStore`), chosen by URI.

    from ossrag.stores import make_store
    store = make_store("./ossrag.db")                               # Milvus Lite file
    store = make_store("http://localhost:19530", token="root:Milvus")  # Milvus server
    store = make_store("https://in03-....zillizcloud.com", token=API_KEY)  # Zilliz Cloud

Every URI is Milvus today (Lite, standalone, cluster, Zilliz Cloud); another
database is one more module under ``stores/`` that passes the suite in
:mod:`ossrag.testing.stores`, plus a line in :func:`make_store`.
"""

from __future__ import annotations

from .base import Capabilities, CollectionInfo, VectorStore

__all__ = ["Capabilities", "CollectionInfo", "VectorStore", "make_store"]


def make_store(
    uri: str, token: str | None = None, *, timeout: float = 30.0, consistency: str = "Session"
) -> VectorStore:
    """The store for ``uri``: a Milvus Lite ``.db`` path or a Milvus server/cloud URI.

    ``consistency`` is the level of searches (``Session``: this process's own
    writes are seen; :mod:`ossrag.stores.milvus._consistency`).
    """
    from .milvus import MilvusStore

    return MilvusStore(uri, token, timeout=timeout, consistency=consistency)
