"""Kill-and-resume for the server: ``ossrag serve`` SIGKILLed in the middle of an
ingestion job (``POST /v1/ingest``), restarted, the same files posted again: the
knowledge base ends exactly as after an uninterrupted job.

The server is a real process on loopback with Milvus Lite and the default
embedder; the test polls ``GET /v1/jobs/{id}`` and kills the server once the job
reports a number of chunks written, then compares every row (ids, text, hashes,
chunk counts, metadata, vectors) with the reference (``tests/test_resume.py``'s
helpers). Jobs live in the server's memory: after a restart the killed job's id
is unknown (404), and posting the files again is what finishes it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serve_process import ServeProcess
from test_resume import assert_same, contents, incomplete, write_corpus

pytest.importorskip("fastapi")
from ossrag.stores.milvus import MilvusStore

pytestmark = pytest.mark.timeout(600)
KB = "resume"


def _post(base: str, corpus: Path) -> dict[str, Any]:
    # page0 (42 chunks, several batches) first: the first kill lands inside one file.
    pages = sorted(corpus.glob("*.md"))
    files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in pages]
    posted = httpx.post(f"{base}/v1/ingest", data={"kb": KB}, files=files, timeout=60)
    assert posted.status_code == 202, posted.text
    return dict(posted.json())


def _wait(
    base: str, job: dict[str, Any], *, until_chunks: int | None = None, timeout: float = 300
) -> dict[str, Any]:
    """Poll the job until it ends, or (``until_chunks``) until it has written that many."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/v1/jobs/{job['id']}", timeout=30).json()
        if (
            until_chunks is not None
            and job["status"] == "running"
            and job["chunks_done"] >= until_chunks
        ):
            return job
        if job["status"] in ("done", "failed"):
            assert until_chunks is None, f"the job ended before the kill point: {job}"
            return job
        time.sleep(0.02)
    raise AssertionError(f"the job did not get there in time: {job}")


def _count(db: str) -> tuple[int, set[str]]:
    with MilvusStore(db) as store:
        if not store.exists(KB):
            return 0, set()
        return store.count(KB), incomplete(store, KB)


def test_server_killed_mid_job_then_resubmitted_ends_like_an_uninterrupted_job(
    tmp_path: Path,
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    db = str(tmp_path / "kb.db")
    args = ["--db", db]
    # The reference: one uninterrupted job, in the same database and KB (row ids derive
    # from the upload folder, which is per database and KB), then the KB dropped.
    with ServeProcess(args, log_dir=tmp_path) as server:
        ref = _wait(server.base, _post(server.base, corpus))
        assert ref["status"] == "done" and not ref["errors"], ref
    with MilvusStore(db) as store:
        want = contents(store, KB)
        store.drop(KB)
    assert len(want) == ref["report"]["chunks_written"]

    # Killed after the job's first write (inside page0), then again further on, in a
    # job that first finished what the last one left.
    written, killed_ids = [], []
    for at in (1, 40):
        server = ServeProcess(args, log_dir=tmp_path).start()
        job = _wait(server.base, _post(server.base, corpus), until_chunks=at)
        assert server.kill() == -signal.SIGKILL
        killed_ids.append(job["id"])
        count, partial = _count(db)
        written.append(count)
        assert len(partial) <= 1, partial  # at most the file being written is unfinished
    assert 0 < written[0] < written[1] < len(want), (written, len(want))

    staging = Path(db + ".uploads") / "staging"
    # What the last kill left (the second server already deleted the first one's).
    assert {p.name for p in staging.iterdir()} == {killed_ids[-1]}
    with ServeProcess(args, log_dir=tmp_path) as server:
        # The job registry is in memory: the killed jobs are gone with the process,
        # and so are their uploads (the new server owns the Milvus Lite file).
        for old in killed_ids:
            assert httpx.get(f"{server.base}/v1/jobs/{old}", timeout=30).status_code == 404
        assert not staging.exists() or not set(killed_ids) & {p.name for p in staging.iterdir()}
        done = _wait(server.base, _post(server.base, corpus))
        assert done["status"] == "done" and not done["errors"], done
        # Only what was missing is written; nothing twice, nothing lost.
        assert done["report"]["chunks_written"] == len(want) - written[1], done["report"]
        assert done["report"]["chunks_deleted"] == 0
        again = _wait(server.base, _post(server.base, corpus))
        assert (again["report"]["unchanged"], again["report"]["chunks_written"]) == (7, 0)
    with MilvusStore(db) as store:
        assert not incomplete(store, KB)
        assert_same(contents(store, KB), want)
