"""What an ingestion run reports while it runs: :class:`IngestProgress`, and its rate and ETA.

The library never draws; it calls ``progress(p)`` with an immutable snapshot and
the front end decides how to show it (``ossrag ingest`` draws a bar on a
terminal and prints plain lines otherwise; the server keeps it in a job)::

    def show(p: IngestProgress) -> None:
        print(f"{p.files_done}/{p.files_total} files, {p.chunks_done} chunks, "
              f"{p.rate:.1f}/s, ETA {p.eta_s or 0:.0f}s")

    kb.ingest("docs/", progress=show)

Totals grow while the run goes: files are counted from names and sizes before
anything is read (``files_total``), but how many chunks a file makes is only
known once it is parsed, so ``chunks_total`` counts the chunks planned so far
and ``chunks_estimate`` extrapolates from the bytes not yet parsed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["IngestProgress", "ProgressTracker"]


@dataclass(frozen=True)
class IngestProgress:
    """One snapshot of a running ingestion (see the module docstring).

    ``phase`` is ``"scanning"`` (reading the index and listing files),
    ``"ingesting"``, ``"pruning"`` (removing files that are gone) or ``"done"``.
    """

    phase: str
    files_total: int  # files found by name (before reading them)
    files_done: int  # unchanged, skipped, or every chunk written
    chunks_total: int  # chunks planned so far (grows as files are parsed)
    chunks_done: int  # chunks written to the store
    chunks_embedded: int  # texts sent to the embedder (duplicates and reused vectors are not)
    elapsed_s: float
    rate: float  # chunks written per second, between the writes of the last half minute
    chunks_estimate: int  # chunks_total plus an extrapolation for the files not parsed yet
    eta_s: float | None  # seconds left at ``rate``; None until there is a rate
    current: str = ""  # the file being parsed

    @property
    def fraction(self) -> float:
        """Share done in ``[0, 1]``: chunks when there are any to write, else files."""
        if self.phase == "done":
            return 1.0
        if self.chunks_estimate:
            return min(1.0, self.chunks_done / self.chunks_estimate)
        return min(1.0, self.files_done / self.files_total) if self.files_total else 0.0


class ProgressTracker:
    """Counts kept by the pipeline's threads, turned into :class:`IngestProgress` snapshots.

    Each counter has one writer (the producer thread counts files and planned
    chunks, the embedding thread embedded texts, the caller's thread written
    chunks), so no lock is needed: a snapshot may be a few items stale, never torn.
    """

    WINDOW_S = 30.0

    def __init__(
        self,
        files_total: int = 0,
        bytes_total: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.clock = clock
        self.started = clock()
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.phase = "scanning"
        self.current = ""
        # producer
        self.files_seen = 0  # reached by the producer (done or not)
        self.files_quick = 0  # unchanged or skipped: done as soon as seen
        self.bytes_seen = 0
        self.bytes_parsed = 0  # of files that were parsed and planned
        self.chunks_planned = 0
        # embedding thread
        self.chunks_embedded = 0
        # caller's thread
        self.files_written = 0
        self.chunks_done = 0
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def snapshot(self) -> IngestProgress:
        now = self.clock()
        done = self.chunks_done
        # Chunks arrive a batch at a time: the rate is measured between writes (over
        # the last half minute of them), and the ETA counts down in between.
        if not self._samples or done != self._samples[-1][1]:
            self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] > self.WINDOW_S:
            self._samples.popleft()
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        rate = (d1 - d0) / (t1 - t0) if d1 > d0 and t1 > t0 else 0.0
        planned = self.chunks_planned
        unseen = max(0, self.bytes_total - self.bytes_seen)
        per_byte = planned / self.bytes_parsed if self.bytes_parsed else 0.0
        estimate = planned + round(unseen * per_byte)
        eta = max(0.0, (estimate - done) / rate - (now - t1)) if rate > 0 else None
        return IngestProgress(
            phase=self.phase,
            files_total=max(self.files_total, self.files_seen),
            files_done=self.files_quick + self.files_written,
            chunks_total=planned,
            chunks_done=done,
            chunks_embedded=self.chunks_embedded,
            elapsed_s=now - self.started,
            rate=rate,
            chunks_estimate=max(estimate, planned),
            eta_s=None if self.phase == "done" else eta,
            current=self.current,
        )
