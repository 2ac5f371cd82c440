"""The embedder suite: what every :class:`~ossrag.embedders.base.Embedder` must do.

    class TestMyEmbedder(EmbedderSuite):
        multilingual = False             # an English-only model skips the non-English check

        @pytest.fixture(scope="class")
        def embedder(self):
            return MyEmbedder()

The checks: the protocol and a ``name`` that rebuilds the same embedder
(``make_embedder(emb.name)``, since the name is recorded with every knowledge
base), float32 L2-normalised vectors of ``dim``, an empty batch, determinism,
batch = one by one, the query/passage asymmetry the model has (or has not),
relevant text ranked above irrelevant text, non-English queries (for
multilingual models), long and odd texts, and clear errors for wrong types.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ..embedders import Embedder, make_embedder
from ..errors import EmbedderError

__all__ = ["COOKING", "INDEXING", "STORAGE", "TEXTS", "EmbedderSuite", "cos"]

STORAGE = (
    "Where does Milvus store data? Milvus deals with two types of data, inserted data "
    "and metadata. Inserted data, including vector data, scalar data, and collection-"
    "specific schema, are stored in persistent storage as incremental log. Milvus "
    "supports multiple object storage backends, including MinIO, AWS S3 and Azure Blob."
)
COOKING = (
    "To make a simple tomato sauce, fry garlic in olive oil, add crushed tomatoes, "
    "season with salt and basil, and simmer for twenty minutes before serving with pasta."
)
INDEXING = (
    "HNSW is a graph-based index: it builds a multi-layer navigable small world graph "
    "and offers high recall with low query latency at the cost of memory."
)
TEXTS = [STORAGE, COOKING, INDEXING, "Milvus is an open-source vector database.", "ok"]


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class EmbedderSuite:
    """Subclass, override :meth:`embedder`, and set the traits your model has."""

    #: The backend embeds a query differently from the same text as a passage (e5's prefixes).
    asymmetric: bool = True
    #: Non-English queries find English passages (False for English-only models).
    multilingual: bool = True
    #: The ``name`` expected (None: any non-empty name that rebuilds the embedder).
    expected_name: str | None = None

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError("override the `embedder` fixture")

    def test_protocol_and_identity(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.name, str) and embedder.name
        if self.expected_name is not None:
            assert embedder.name == self.expected_name
        assert isinstance(embedder.dim, int) and embedder.dim > 0
        assert isinstance(embedder.batch_size, int) and embedder.batch_size >= 1
        assert make_embedder(embedder.name, **self.rebuild_options(embedder)).name == embedder.name

    def rebuild_options(self, embedder: Embedder) -> dict[str, Any]:
        """Options ``make_embedder`` needs besides the name (e.g. a server's ``base_url``)."""
        return {}

    def test_shapes_dtype_norms(self, embedder: Embedder) -> None:
        docs = embedder.embed_documents(TEXTS)
        assert docs.shape == (len(TEXTS), embedder.dim) and docs.dtype == np.float32
        assert np.all(np.isfinite(docs))
        np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
        q = embedder.embed_query("where does Milvus store data?")
        assert q.shape == (embedder.dim,) and q.dtype == np.float32
        assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-5

    def test_empty_list(self, embedder: Embedder) -> None:
        out = embedder.embed_documents([])
        assert out.shape == (0, embedder.dim) and out.dtype == np.float32

    def test_deterministic(self, embedder: Embedder) -> None:
        np.testing.assert_allclose(
            embedder.embed_documents(TEXTS), embedder.embed_documents(TEXTS), atol=1e-6
        )
        np.testing.assert_allclose(
            embedder.embed_query("milvus"), embedder.embed_query("milvus"), atol=1e-6
        )

    def test_batch_equals_one_by_one(self, embedder: Embedder) -> None:
        batch = embedder.embed_documents(TEXTS)
        single = np.vstack([embedder.embed_documents([t]) for t in TEXTS])
        np.testing.assert_allclose(batch, single, atol=2e-3)
        assert min(cos(a, b) for a, b in zip(batch, single, strict=True)) > 0.9999

    def test_query_passage_asymmetry(self, embedder: Embedder) -> None:
        text = "where does Milvus store data?"
        similarity = cos(embedder.embed_query(text), embedder.embed_documents([text])[0])
        if self.asymmetric:
            assert 0.8 < similarity < 0.999  # different prefixes, still the same text
        else:
            assert similarity > 0.9999

    def test_relevant_passage_ranks_above_irrelevant(self, embedder: Embedder) -> None:
        docs = embedder.embed_documents([COOKING, STORAGE, INDEXING])
        scores = docs @ embedder.embed_query("where does Milvus store data?")
        assert int(np.argmax(scores)) == 1, scores
        assert scores[1] > scores[0] + 0.05, scores

    def test_non_english_query(self, embedder: Embedder) -> None:
        if not self.multilingual:
            pytest.skip("English-only model")
        docs = embedder.embed_documents([COOKING, INDEXING, STORAGE])
        scores = docs @ embedder.embed_query("Di mana Milvus menyimpan data?")
        assert int(np.argmax(scores)) == 2, scores

    def test_long_and_odd_texts(self, embedder: Embedder) -> None:
        long_text = " ".join([STORAGE] * 10)  # ~700 tokens: past a 512-token window
        odd = ["", "   ", "🙂 émoji ünïcode 中文", long_text]
        out = embedder.embed_documents(odd)
        assert out.shape == (len(odd), embedder.dim) and np.all(np.isfinite(out))
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        q = embedder.embed_query("where does Milvus store data?")  # still about storage
        assert float(out[3] @ q) > float(embedder.embed_documents([COOKING])[0] @ q)

    def test_bad_input_types(self, embedder: Embedder) -> None:
        with pytest.raises(EmbedderError, match="list of texts"):
            embedder.embed_documents("one string")  # type: ignore[arg-type]
        with pytest.raises(EmbedderError, match="not str"):
            embedder.embed_documents(["ok", 3])  # type: ignore[list-item]
        with pytest.raises(EmbedderError, match="must be a string"):
            embedder.embed_query(["a list"])  # type: ignore[arg-type]
