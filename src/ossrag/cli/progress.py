"""A tiny progress bar for long runs: done/total, rate and ETA on stderr (the CLI's own).

    with Progress(len(texts), label="embedding") as p:
        for batch in batches:
            embed(batch)
            p.update(len(batch))

    with Progress(0, label="embedding", unit="chunks") as bar:
        kb.ingest("docs/", progress=bar.set if bar.enabled else None)   # library callback

The library never prints; it reports ``progress(done, total)`` to a callback
and the front end draws.

It draws only when stderr is a terminal (or when forced with ``force=True`` or
``OSSRAG_PROGRESS=1``), so pipes, CI logs and ``--json`` output stay clean.
When it does not draw, ``verbose=True`` prints one summary line at the end
instead. ``OSSRAG_PROGRESS=0`` silences it everywhere. No tqdm: this is all
ossrag needs.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

from .output import raw_stream

__all__ = ["Progress"]


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
