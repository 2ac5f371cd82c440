"""A disk cache in front of an embedder, for benchmarks that re-ingest the same texts.

    from _embcache import CachingEmbedder
    emb = CachingEmbedder(make_embedder("e5-onnx"), RESULTS / "embcache_e5-onnx_fp32.sqlite")
    KnowledgeBase(uri=..., embedder=emb).ingest(...)   # texts seen before are not embedded again

Chunking experiments (chunk size, overlap, what the embedder sees) produce
mostly the same passages: short sections are one chunk at any size.  Keyed by
(kind, text) so queries and passages -- which e5 prefixes differently -- never
mix; ``name``/``dim`` are the wrapped embedder's, so a knowledge base built
through the cache records the real embedder.  Benchmarks only: the cache never
expires and trusts that the wrapped embedder is deterministic (ONNX fp32 is).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np


class CachingEmbedder:
    def __init__(self, inner: Any, path: Path, *, cache_queries: bool = False) -> None:
        self.inner = inner
        self.cache_queries = cache_queries  # off: query latency measurements stay real
        self.name: str = inner.name
        self.dim: int = inner.dim
        self.batch_size: int = inner.batch_size
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS v (k BLOB PRIMARY KEY, vec BLOB)")
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def _key(kind: str, text: str) -> bytes:
        return hashlib.sha1(f"{kind}\0{text}".encode()).digest()

    def _get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                q = f"SELECT k, vec FROM v WHERE k IN ({','.join('?' * len(part))})"
                for k, vec in self._db.execute(q, part):
                    out[k] = np.frombuffer(vec, dtype=np.float32)
        return out

    def _put(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO v VALUES (?, ?)",
                [(k, np.asarray(v, np.float32).tobytes()) for k, v in items],
            )
            self._db.commit()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        keys = [self._key("p", t) for t in texts]
        have = self._get(keys)
        todo = [i for i, k in enumerate(keys) if k not in have]
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if todo:
            new = self.inner.embed_documents([texts[i] for i in todo])
            self._put([(keys[i], new[j]) for j, i in enumerate(todo)])
            for j, i in enumerate(todo):
                have[keys[i]] = new[j]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([have[k] for k in keys]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        if not self.cache_queries:
            return self.inner.embed_query(text)
        key = self._key("q", text)
        have = self._get([key])
        if key in have:
            return have[key].copy()
        vec = self.inner.embed_query(text)
        self._put([(key, vec)])
        return np.asarray(vec, np.float32)
