"""What docs/milvus.md promises about flush, load and consistency, on both targets.

* Read-your-writes: a row is visible to count and search as soon as ``upsert``
  returns, and gone as soon as ``delete_ids`` returns, with no flush (searches
  run at ``Session``, the first ones after a delete and ingestion's own reads at
  ``Strong``: ossrag.stores.milvus._consistency).
* A released collection (as after a server restart; Milvus Lite always opens
  them released) is loaded again on first use.
* ``flush`` seals what was written: ``kb info`` then shows every row indexed.
* A process killed after ``upsert`` and before any flush loses nothing: Milvus
  Lite writes each request to its write-ahead log before answering.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ossrag.stores.milvus import MilvusStore
from ossrag.testing.stores import fill, make_rows, unit_vectors

REPO = Path(__file__).resolve().parents[1]


def test_rows_are_visible_without_flush(store_target: MilvusStore, kb_name: str) -> None:
    store_target.ensure_collection(kb_name, embedder="e", dim=32)
    rows = make_rows(unit_vectors(20, seed=31))
    store_target.upsert(kb_name, rows)  # no flush
    assert store_target.count(kb_name) == 20
    assert store_target.search_dense(kb_name, rows[7]["vector"], k=1)[0].id == rows[7]["id"]
    store_target.delete_ids(kb_name, [rows[7]["id"]])
    assert store_target.count(kb_name) == 19
    assert store_target.search_dense(kb_name, rows[7]["vector"], k=1)[0].id != rows[7]["id"]


class _Levels:
    """Records the consistency level of each search/query the real client makes."""

    def __init__(self, store: MilvusStore) -> None:
        self.seen: list[tuple[str, str]] = []
        client = store._client()
        for name in ("search", "query", "query_iterator"):
            real = getattr(client, name)

            def spy(*a: object, _real=real, _name=name, **kw: object) -> object:
                self.seen.append((_name, str(kw.get("consistency_level"))))
                return _real(*a, **kw)

            setattr(client, name, spy)

    def take(self) -> list[tuple[str, str]]:
        out, self.seen = self.seen, []
        return out


def test_searches_run_session_and_strong_once_after_a_delete(
    store_target: MilvusStore, kb_name: str
) -> None:
    rows = make_rows(unit_vectors(30, seed=35))
    fill(store_target, kb_name, rows)
    levels = _Levels(store_target)
    store_target.search_dense(kb_name, rows[1]["vector"], k=1)
    store_target.get_chunks(kb_name, [rows[1]["id"]])
    assert levels.take() == [("search", "Session"), ("query", "Session")]
    store_target.delete_ids(kb_name, [rows[2]["id"]])
    # The delete is not in pymilvus' session timestamp (Milvus 2.3): one Strong read
    # sees it, and every read after that one does too, at Session again.
    for _ in range(10):
        assert store_target.search_dense(kb_name, rows[2]["vector"], k=1)[0].id != rows[2]["id"]
    seen = levels.take()
    assert seen[0] == ("search", "Strong") and set(seen[1:]) == {("search", "Session")}
    # What ingestion decides on stays Strong whatever the read level.
    store_target.count(kb_name)
    store_target.source_index(kb_name)
    assert {level for _, level in levels.take()} == {"Strong"}


def test_read_level_is_a_setting(tmp_path: Path) -> None:
    from ossrag.config import Settings
    from ossrag.errors import ConfigError

    assert Settings.load(env={}).consistency == "Session"
    assert Settings.load({"consistency": "bounded"}, env={}).consistency == "Bounded"
    assert Settings.load(env={"OSSRAG_CONSISTENCY": "strong"}).consistency == "Strong"
    with pytest.raises(ConfigError, match="consistency") as err:
        Settings.load({"consistency": "linearizable"}, env={})
    assert "Session" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="consistency"):
        MilvusStore(str(tmp_path / "x.db"), consistency="sometimes")
    with MilvusStore(str(tmp_path / "x.db"), consistency="Strong") as store:
        fill(store, "k", make_rows(unit_vectors(5, seed=36)))
        levels = _Levels(store)
        store.search_dense("k", unit_vectors(1, seed=37)[0], k=1)
        assert levels.take() == [("search", "Strong")]


def test_released_collection_is_loaded_on_first_use(
    store_target: MilvusStore, kb_name: str
) -> None:
    rows = make_rows(unit_vectors(10, seed=32))
    fill(store_target, kb_name, rows)
    name = store_target.collection_name(kb_name)

    def release() -> None:
        with store_target._call("release", kb_name) as c:
            c.release_collection(name)
            assert int(c.get_load_state(name)["state"]) == 1  # NotLoad

    release()
    again = MilvusStore(store_target.uri)  # a fresh client, as after a restart
    try:
        assert again.search_dense(kb_name, rows[3]["vector"], k=1)[0].id == rows[3]["id"]
        assert again.info(kb_name).load_state == "loaded"
    finally:
        again.close()
    # Released under a running store (its metadata cached): reads load it again.
    release()
    assert store_target.count(kb_name) == 10
    release()
    assert store_target.search_dense(kb_name, rows[4]["vector"], k=1)[0].id == rows[4]["id"]
    assert store_target.info(kb_name).load_state == "loaded"


def test_flush_seals_and_info_shows_the_index(store_target: MilvusStore, kb_name: str) -> None:
    fill(store_target, kb_name, make_rows(unit_vectors(50, seed=33)))
    deadline = time.monotonic() + 120
    while True:  # a server builds the index in the background after the flush
        info = store_target.info(kb_name)
        if "50/50 rows indexed" in info.index_state or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert info.index.split("(")[0] == ("FLAT" if store_target.kind == "lite" else "HNSW")
    assert info.index_state.startswith("Finished") and "50/50 rows indexed" in info.index_state


def test_lite_keeps_unflushed_rows_when_killed(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    code = (
        "import os\n"
        "from ossrag.stores.milvus import MilvusStore\n"
        "from ossrag.testing.stores import make_rows, unit_vectors\n"
        f"s = MilvusStore({db!r})\n"
        "s.ensure_collection('k', embedder='e', dim=32)\n"
        "s.upsert('k', make_rows(unit_vectors(40, seed=34)))\n"
        "s.delete_ids('k', [make_rows(unit_vectors(40, seed=34))[0]['id']])\n"
        "os._exit(0)  # no flush, no close: as a SIGKILL would leave it\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    with MilvusStore(db) as store:
        assert store.count("k") == 39
