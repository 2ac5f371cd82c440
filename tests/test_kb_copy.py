"""``kb copy``: Milvus Lite -> the real Milvus server -> Milvus Lite, contents identical,
vectors copied (never re-embedded), the embedder recorded with each copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag import KnowledgeBase
from ossrag.errors import ConfigError, EmbedderMismatchError
from ossrag.stores.copy import copy_kb
from ossrag.stores.milvus import MilvusStore
from ossrag.testing.stores import fill, make_rows, unit_vectors

REPO = Path(__file__).resolve().parents[1]
DOCS = {
    "storage.md": "# Storage\n\n## Object storage\n\nMilvus keeps segments in MinIO or S3.\n\n"
    "## Local disk\n\nMilvus Lite keeps everything in one local directory.\n",
    "faq/backups.md": "# Backups\n\nBackups run nightly and can be restored with the CLI.\n",
    "faq/replicas.md": "# Replicas\n\nIn-memory replicas spread query load over query nodes.\n",
}


def rows(store: MilvusStore, kb: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for page in store.iter_rows(kb) for r in page}


def assert_identical(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert set(a) == set(b) and a
    for rid, ra in a.items():
        rb = b[rid]
        assert {k: v for k, v in ra.items() if k != "vector"} == {
            k: v for k, v in rb.items() if k != "vector"
        }
        np.testing.assert_array_equal(ra["vector"], rb["vector"])  # copied, bit for bit


@pytest.mark.server
def test_lite_to_server_to_lite(tmp_path: Path, milvus_server: str) -> None:
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    src_db, back_db = str(tmp_path / "src.db"), str(tmp_path / "back.db")
    with KnowledgeBase(uri=src_db, name="docs") as kb:
        kb.ingest(str(root))
        want = rows(kb.store, "docs")
        embedder = kb.info().embedder
        hits = [h.id for h in kb.search("where are segments kept?", k=3, mode="dense")]
        to_server = kb.copy_to(milvus_server, name="docs_copy")
    server = MilvusStore(milvus_server)
    try:
        assert (to_server.rows, to_server.embedder) == (len(want), embedder)
        assert server.info("docs_copy").embedder == embedder
        assert server.info("docs_copy").index.startswith("HNSW")  # the server's own index
        assert_identical(rows(server, "docs_copy"), want)
        with KnowledgeBase(uri=milvus_server, name="docs_copy") as remote:
            # Opened without naming the embedder: the recorded one, and the same answers.
            assert remote.embedder.name == embedder
            assert [
                h.id for h in remote.search("where are segments kept?", k=3, mode="dense")
            ] == hits
            back = remote.copy_to(back_db, name="docs")
        assert back.rows == len(want)
        with KnowledgeBase(uri=back_db, name="docs") as again:
            assert_identical(rows(again.store, "docs"), want)
            assert again.info().bm25  # BM25 is rebuilt from the text on Milvus Lite
            assert again.search("nightly backups", k=1, mode="bm25")[0].source == "faq/backups.md"
            assert [
                h.id for h in again.search("where are segments kept?", k=3, mode="dense")
            ] == hits
    finally:
        server.drop("docs_copy", missing_ok=True)
        server.close()


def test_copy_mirrors_an_older_copy_and_refuses_mismatches(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "a.db")) as a, MilvusStore(str(tmp_path / "b.db")) as b:
        data = make_rows(unit_vectors(30, seed=21), sources=5)
        fill(a, "src", data)
        copy_kb(a, "src", b, "dst", batch_size=7)  # pages smaller than the KB
        # The source changes; the destination gets a stray row (an old copy, a crash).
        a.delete_ids("src", [data[0]["id"]])
        stray = make_rows(unit_vectors(1, seed=22), origin="/elsewhere")
        b.upsert("dst", stray)
        report = copy_kb(a, "src", b, "dst")
        assert (report.rows, report.deleted) == (29, 2)
        assert_identical(rows(b, "dst"), rows(a, "src"))
        with pytest.raises(ConfigError, match="onto itself"):
            copy_kb(a, "src", a, "src")
        fill(b, "other", make_rows(unit_vectors(2, dim=16, seed=23)), dim=16)
        with pytest.raises(EmbedderMismatchError):
            copy_kb(a, "src", b, "other")


def test_cli_kb_copy(tmp_path: Path) -> None:
    src, dst = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with MilvusStore(src) as a:
        fill(a, "docs", make_rows(unit_vectors(12, seed=24)))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OSSRAG_PROGRESS="0")
    out = subprocess.run(
        [sys.executable, "-m", "ossrag", "kb", "copy", "docs", "--db", src, "--to", dst],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "copied docs (12 rows, embedder test-embedder, 32-d)" in out.stdout
    assert "nothing re-embedded" in out.stdout
    with MilvusStore(src) as a, MilvusStore(dst) as b:
        assert_identical(rows(b, "docs"), rows(a, "docs"))
    out = subprocess.run(
        [sys.executable, "-m", "ossrag", "kb", "copy", "docs", "--db", src],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "--to URI" in out.stderr
