"""``ossrag kb info`` and ``ossrag doctor`` show row count, index type and state, and say
when a knowledge base has outgrown Milvus Lite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ossrag.stores.milvus import MilvusStore
from ossrag.stores.milvus.sizing import LITE_DENSE_ROWS, LITE_HYBRID_ROWS, advice, memory_estimate
from ossrag.testing.stores import fill, make_rows, unit_vectors

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OSSRAG_PROGRESS="0")
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_kb_info_shows_rows_index_and_state(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    with MilvusStore(db) as store:
        fill(store, "docs", make_rows(unit_vectors(12, seed=41)))
    out = cli("kb", "info", "docs", "--db", db, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["rows"] == "12" and lines["index"] == "FLAT" and lines["schema"] == "3"
    assert lines["index_state"] == "Finished, 12/12 rows indexed"
    assert lines["load_state"] == "loaded"
    assert lines["memory when loaded"].startswith("~")


def test_doctor_shows_index_and_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ossrag.cli.doctor import _target  # the Milvus part of `ossrag doctor`
    from ossrag.config import Settings

    db = str(tmp_path / "kb.db")
    with MilvusStore(db) as store:
        fill(store, "docs", make_rows(unit_vectors(12, seed=41)))
    assert _target(Settings.load({"uri": db})) == 0
    out = capsys.readouterr().out
    assert (
        "kb docs: 12 chunks from 4 sources, embedder test-embedder (32-d), index FLAT "
        "(Finished, 12/12 rows indexed, loaded)" in out
    ), out


def test_advice_names_the_server_past_the_measured_sizes() -> None:
    assert advice("lite", LITE_HYBRID_ROWS - 1, bm25=True) is None
    hybrid = advice("lite", LITE_HYBRID_ROWS, bm25=True)
    assert hybrid and "BM25" in hybrid and "ossrag kb copy --to" in hybrid
    assert advice("lite", LITE_HYBRID_ROWS, bm25=False) is None
    dense = advice("lite", LITE_DENSE_ROWS, bm25=False)
    assert dense and "Milvus server" in dense
    assert advice("server", 10 * LITE_DENSE_ROWS, bm25=True) is None


def test_memory_estimate_by_dimension_and_index() -> None:
    m384 = memory_estimate(1_000_000, 384, "HNSW")
    assert memory_estimate(1_000_000, 768, "HNSW") - m384 == 384 * 4 * 1_000_000
    assert memory_estimate(1_000_000, 384, "FLAT") < m384
    assert memory_estimate(1_000_000, 384, "IVF_SQ8") < memory_estimate(1_000_000, 384, "IVF_FLAT")
    assert memory_estimate(1_000_000, 384, "HNSW", bm25=True) > m384
