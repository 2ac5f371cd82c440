"""What ``ossrag ingest`` shows while it runs: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from ossrag.cli.progress import IngestBar
from ossrag.ingest.progress import IngestProgress, ProgressTracker


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def snap(**kw: object) -> IngestProgress:
    base = dict(
        phase="ingesting",
        files_total=10,
        files_done=4,
        chunks_total=40,
        chunks_done=30,
        chunks_embedded=25,
        elapsed_s=12.0,
        rate=2.5,
        chunks_estimate=80,
        eta_s=20.0,
    )
    base.update(kw)
    return IngestProgress(**base)  # type: ignore[arg-type]


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSSRAG_PROGRESS", raising=False)
    out = Tty()
    with IngestBar(out) as bar:
        assert bar.mode == "bar"
        bar(snap())
        bar(snap(phase="done", files_done=10, chunks_done=80, chunks_total=80, eta_s=None))
    text = out.getvalue()
    assert "\r[#######-------------] 4/10 files, 30/~80 chunks, 2.5 chunks/s, ETA 00:20" in text
    assert "10/10 files, 80 chunks, 2.5 chunks/s, in 00:12" in text and text.endswith("\n")


def test_plain_lines_elsewhere_at_an_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSSRAG_PROGRESS", raising=False)
    out = io.StringIO()
    bar = IngestBar(out, interval=3600)
    assert bar.mode == "lines"
    for _ in range(5):
        bar(snap())
    bar(snap(phase="done"))
    bar.close()
    assert out.getvalue() == "ingest: 4/10 files, 30/~80 chunks, 2.5 chunks/s, ETA 00:20\n"


def test_progress_can_be_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSRAG_PROGRESS", "0")
    out = Tty()
    bar = IngestBar(out)
    bar(snap())
    assert bar.mode == "off" and out.getvalue() == ""


def test_tracker_extrapolates_chunks_and_counts_down_between_writes() -> None:
    now = [100.0]
    t = ProgressTracker(files_total=4, bytes_total=4000, clock=lambda: now[0])
    t.phase = "ingesting"
    t.files_seen, t.bytes_seen, t.bytes_parsed, t.chunks_planned = 2, 2000, 1000, 10
    t.files_quick = 1  # one unchanged file: seen, done, nothing planned
    p = t.snapshot()
    # 10 chunks from 1000 parsed bytes; 2000 bytes unseen -> ~20 more.
    assert (p.chunks_total, p.chunks_estimate, p.files_done, p.eta_s) == (10, 30, 1, None)
    now[0] += 10
    t.chunks_done = 5  # the first write: 5 chunks in 10 s
    p = t.snapshot()
    assert p.rate == pytest.approx(0.5) and p.eta_s == pytest.approx(50)
    now[0] += 4  # no write since: the rate holds and the ETA counts down
    p = t.snapshot()
    assert p.rate == pytest.approx(0.5) and p.eta_s == pytest.approx(46)
    now[0] += 6
    t.chunks_done = 15
    p = t.snapshot()
    assert p.rate == pytest.approx(0.75) and p.eta_s == pytest.approx(20)
