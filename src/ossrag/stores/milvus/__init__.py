"""Milvus behind the :class:`~ossrag.stores.base.VectorStore` protocol: Milvus Lite files and servers.

from ossrag.stores.milvus import MilvusStore

store = MilvusStore("./ossrag.db")                  # Milvus Lite (a local directory)
store = MilvusStore("http://127.0.0.1:19530")       # a Milvus server, cluster or Zilliz Cloud
"""

from __future__ import annotations

from .store import LITE_INDEX, SCHEMA_VERSION, SERVER_INDEX, SERVER_SEARCH_EF, MilvusStore

__all__ = ["LITE_INDEX", "SCHEMA_VERSION", "SERVER_INDEX", "SERVER_SEARCH_EF", "MilvusStore"]
