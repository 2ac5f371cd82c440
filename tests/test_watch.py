"""Watch mode against real Milvus Lite, the real default embedder and the real file system.

Files are created, edited, renamed and deleted under a watched folder (with
watchfiles' notifications and with the polling fallback); after each round
the rows in Milvus are checked, and a burst of edits must be one round that
embeds the file once. Everything waits with a bound.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ossrag import KnowledgeBase
from ossrag.ingest.watch import WatchRound

REPO = Path(__file__).resolve().parents[1]


def page(title: str, *sections: str) -> str:
    return f"# {title}\n\n" + "\n\n".join(
        f"## {s}\n\n{title}: the section about {s} explains it in a few words." for s in sections
    )


class Watching:
    """``kb.watch`` in a thread; ``next_round()`` waits (bounded) for the next round."""

    def __init__(self, kb: KnowledgeBase, root: Path, backend: str) -> None:
        self.kb, self.rounds, self.stop = kb, [], threading.Event()
        self.cond = threading.Condition()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(root, backend), daemon=True)
        self.thread.start()

    def _run(self, root: Path, backend: str) -> None:
        try:
            self.kb.watch(
                str(root), on_round=self._on_round, stop=self.stop, quiet_s=0.4, backend=backend
            )
        except BaseException as exc:
            self.error = exc
            with self.cond:
                self.cond.notify_all()

    def _on_round(self, r: WatchRound) -> None:
        with self.cond:
            self.rounds.append(r)
            self.cond.notify_all()

    def next_round(self, seen: int, timeout: float = 90.0) -> WatchRound:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.rounds) > seen or self.error, timeout)
        assert self.error is None, self.error
        assert ok, f"no round {seen} within {timeout} s"
        return self.rounds[seen]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def sources(kb: KnowledgeBase) -> dict[str, list[str]]:
    """source -> its chunk texts in order, read from Milvus."""
    return {
        src: [h.text for h in kb.store.source_chunks(kb.name, src)]
        for (_, src) in kb.store.source_rows(kb.name)
    }


@pytest.mark.parametrize("backend", ["watchfiles", "polling"])
def test_create_edit_rename_delete_and_a_burst(tmp_path: Path, backend: str) -> None:
    if backend == "watchfiles":
        pytest.importorskip("watchfiles", reason="pip install 'ossrag[watch]'")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "keep.md").write_text(page("Keep", "Intro"))
    with KnowledgeBase(uri=str(root / "kb.db"), name="w") as kb:  # the DB inside the folder
        w = Watching(kb, root, backend)
        try:
            first = w.next_round(0)
            assert first.report.added == 1 and set(sources(kb)) == {"keep.md"}

            (root / "a.md").write_text(page("Alpha", "Storage", "Backups"))
            r = w.next_round(1)
            assert r.changed == ["a.md"] and r.report.added == 1
            assert any("Alpha: the section about Backups" in t for t in sources(kb)["a.md"])

            (root / "a.md").write_text(page("Alpha", "Storage", "Restores"))
            r = w.next_round(2)
            assert (r.report.updated, r.report.chunks_embedded) == (1, 1)  # one section changed
            texts = sources(kb)["a.md"]
            assert any("Restores" in t for t in texts) and not any("Backups" in t for t in texts)

            (root / "a.md").rename(root / "b.md")
            r = w.next_round(3)
            assert (r.report.added, r.report.removed) == (1, 1)
            assert set(sources(kb)) == {"keep.md", "b.md"} and sources(kb)["b.md"] == texts

            (root / "b.md").unlink()
            r = w.next_round(4)
            assert r.report.removed == 1 and set(sources(kb)) == {"keep.md"}

            # A burst of saves within the quiet period: one round, the last version, once.
            for i in range(6):
                (root / "c.md").write_text(page("Gamma", *[f"Part {j}" for j in range(i + 1)]))
                time.sleep(0.05)
            r = w.next_round(5)
            assert r.changed == ["c.md"] and r.report.added == 1
            assert r.report.chunks_embedded == len(sources(kb)["c.md"]) == 6
            count = kb.store.count("w")
            assert count == sum(len(t) for t in sources(kb).values())
            time.sleep(1.5)  # its own writes to kb.db (inside the folder) start no round
            assert len(w.rounds) == 6
        finally:
            w.close()


def test_cli_watch_reports_rounds_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import os
    import signal

    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text(page("Alpha", "Storage"))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OSSRAG_PROGRESS="0")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ossrag",
            "ingest",
            "--watch",
            str(root),
            "--db",
            str(tmp_path / "kb.db"),
            "--quiet-period",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert "round 0" in line and "added 1" in line, line
        (root / "b.md").write_text(page("Beta", "Replicas"))
        line = proc.stdout.readline()
        assert "round 1 after changes to b.md" in line and "added 1" in line, line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped watching" in err, err
