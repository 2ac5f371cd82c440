"""A tiny progress bar for long runs: done/total, rate and ETA on stderr (the CLI's own).

    with Progress(len(texts), label="embedding") as p:
        for batch in batches:
            embed(batch)
            p.update(len(batch))

    with Progress(0, label="embedding", unit="chunks") as bar:
        embed_all(emb, texts, progress=bar.set if bar.enabled else None)   # library callback

The library never prints; it reports ``progress(done, total)`` (or, for
``kb.ingest``, an ``IngestProgress``) to a callback and the front end draws.

It draws only when stderr is a terminal (or when forced with ``force=True`` or
``OSSRAG_PROGRESS=1``), so pipes, CI logs and ``--json`` output stay clean.
When it does not draw, ``verbose=True`` prints one summary line at the end
instead. ``OSSRAG_PROGRESS=0`` silences it everywhere. No tqdm: this is all
ossrag needs.

:class:`IngestBar` shows ``kb.ingest`` progress: a bar on a terminal, and a
plain line every ``OSSRAG_PROGRESS_INTERVAL`` seconds (default 10) otherwise::

    with IngestBar() as bar:
        kb.ingest("docs/", progress=bar)
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from .output import raw_stream

if TYPE_CHECKING:
    from ..ingest.progress import IngestProgress

__all__ = ["IngestBar", "Progress"]


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Progress of ``total`` items; call :meth:`update` as items complete."""

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        unit: str = "items",
        stream: TextIO | None = None,
        force: bool | None = None,
        verbose: bool = False,
        min_interval: float = 0.2,
        width: int = 24,
    ) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.unit = unit
        # The raw stream: the bar's own \r and erase-line must reach the terminal.
        self.stream = raw_stream(stream if stream is not None else sys.stderr)
        self.verbose = verbose
        self.min_interval = min_interval
        self.width = width
        self.done = 0
        env = os.environ.get("OSSRAG_PROGRESS", "").strip().lower()
        if force is None:
            force = True if env in ("1", "true", "yes", "always") else None
        if env in ("0", "false", "no", "never"):
            force = False
        if force is None:
            isatty = getattr(self.stream, "isatty", None)
            force = bool(isatty and isatty())
        self.enabled: bool = force
        self._start = time.perf_counter()
        self._last_draw = 0.0

    # -- context manager -------------------------------------------------
    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- API -------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        """Items per second so far (0 before the first update)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def set(self, done: int, total: int) -> None:
        """Absolute progress, the form library callbacks report (``progress(done, total)``)."""
        self.total = max(0, int(total))
        self.update(int(done) - self.done)

    def update(self, n: int = 1) -> None:
        """Record ``n`` more items done and redraw at most every ``min_interval`` s."""
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval or self.done >= self.total:
            self._last_draw = now
            self._draw()

    def line(self) -> str:
        """The text of the bar as it is now (also what the final summary reuses)."""
        rate = self.rate
        head = f"{self.label} " if self.label else ""
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            remaining = (self.total - self.done) / rate if rate > 0 else None
            eta = _fmt_duration(remaining) if remaining is not None else "--:--"
            return f"{head}[{bar}] {self.done}/{self.total} {self.unit} {rate:.1f}/s ETA {eta}"
        return f"{head}{self.done} {self.unit} {rate:.1f}/s"

    def close(self) -> None:
        """End the bar (newline) or print the one-line summary when ``verbose``."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False
        elif self.verbose:
            head = f"{self.label}: " if self.label else ""
            self.stream.write(
                f"{head}{self.done} {self.unit} in {_fmt_duration(self.elapsed)} "
                f"({self.rate:.1f}/s)\n"
            )
            self.stream.flush()
            self.verbose = False

    def _draw(self) -> None:
        # \r + erase-to-end-of-line so a shorter line does not leave debris behind.
        self.stream.write("\r" + self.line() + "\x1b[K")
        self.stream.flush()


def _mode(stream: TextIO) -> str:
    """``bar``, ``lines`` or ``off`` from OSSRAG_PROGRESS and whether ``stream`` is a terminal."""
    env = os.environ.get("OSSRAG_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "never"):
        return "off"
    isatty = getattr(stream, "isatty", None)
    if env in ("1", "true", "yes", "always") or (isatty and isatty()):
        return "bar"
    return "lines"


class IngestBar:
    """Draws :class:`~ossrag.ingest.progress.IngestProgress` snapshots (a ``progress`` callback).

    On a terminal: one redrawn line with a bar, files, chunks, rate and ETA.
    Elsewhere (pipes, CI logs, service logs): a plain line every ``interval``
    seconds, so a long run shows it is alive without flooding the log.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        mode: str | None = None,
        interval: float | None = None,
        width: int = 20,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode or _mode(self.stream)
        if interval is None:
            try:
                interval = float(os.environ.get("OSSRAG_PROGRESS_INTERVAL", "") or 10.0)
            except ValueError:
                interval = 10.0
        self.interval = interval
        self.width = width
        self.last: IngestProgress | None = None
        self._drawn = False
        self._last_line = 0.0

    def __enter__(self) -> IngestBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, p: IngestProgress) -> None:
        self.last = p
        if self.mode == "bar":
            self.stream.write("\r" + self.line(p, bar=True) + "\x1b[K")
            self.stream.flush()
            self._drawn = True
        elif self.mode == "lines" and p.phase != "done":
            now = time.perf_counter()
            if now - self._last_line >= self.interval and p.phase == "ingesting":
                self._last_line = now
                self.stream.write("ingest: " + self.line(p, bar=False) + "\n")
                self.stream.flush()

    def line(self, p: IngestProgress, *, bar: bool) -> str:
        """The text shown for ``p``: files, chunks (of the estimate), rate, ETA."""
        parts = []
        if bar:
            filled = int(p.fraction * self.width)
            parts.append("[" + "#" * filled + "-" * (self.width - filled) + "]")
        parts.append(f"{p.files_done}/{p.files_total} files")
        estimate = f"/~{p.chunks_estimate}" if p.chunks_estimate > p.chunks_done else ""
        parts.append(f"{p.chunks_done}{estimate} chunks")
        if p.rate > 0:
            parts.append(f"{p.rate:.1f} chunks/s")
        if p.phase == "done":
            parts.append(f"in {_fmt_duration(p.elapsed_s)}")
        elif p.eta_s is not None:
            parts.append(f"ETA {_fmt_duration(p.eta_s)}")
        elif p.phase != "ingesting":
            parts.append(p.phase)
        return " ".join(parts[:1]) + " " + ", ".join(parts[1:]) if bar else ", ".join(parts)

    def close(self) -> None:
        """End the bar's line (the final snapshot stays visible)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
