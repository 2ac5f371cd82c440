"""The limits of one model turn over HTTP: a deadline (retries included) and a chunk budget.

Private to :class:`~ossrag.llms.openai_compat.OpenAICompatLLM`::

    bound = Bound(max_time=900, max_tokens=256)
    timer = bound.watch(response)       # closes the response at the deadline
    for chunk in response:
        bound.check(chunk)              # raises OutOfBounds past the deadline or the budget
    timer.cancel()

The deadline is checked after every chunk and, for a stream that yields no
chunks at all (keep-alive comments forever, a trickle of bytes), by a watchdog
timer that closes the response, so iterating ends with an error at the latest
``timeout`` seconds after the deadline. A server that honours ``max_tokens``
sends at most one chunk per token; ``CHUNKS_PER_TOKEN * max_tokens +
CHUNK_SLACK`` chunks mean it ignores the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["CHUNKS_PER_TOKEN", "CHUNK_SLACK", "Bound", "OutOfBounds"]

log = logging.getLogger("ossrag.llms")

#: Streamed chunks allowed per ``max_tokens`` (each chunk carries at least one token) plus slack.
CHUNKS_PER_TOKEN, CHUNK_SLACK = 2, 64


class OutOfBounds(Exception):
    """A turn that ran past ``max_time`` or streamed far more than ``max_tokens``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Bound:
    """The limits of one turn: a deadline (retries included) and a chunk budget.

    The deadline is checked after every chunk and, for a stream that yields no
    chunks at all (keep-alive comments, a trickle of bytes), by a watchdog timer
    that closes the response, so the iteration ends with an error at the latest
    ``timeout`` seconds after the deadline.
    """

    def __init__(self, max_time: float | None, max_tokens: int | None) -> None:
        self.max_time = max_time
        self.deadline = time.monotonic() + max_time if max_time else None
        self.max_chunks = max_tokens * CHUNKS_PER_TOKEN + CHUNK_SLACK if max_tokens else None
        self.chunks = 0
        self.expired: str | None = None

    def _late(self) -> str:
        return f"no end after {self.max_time:g} s (max_time; OSSRAG_MAX_TIME)"

    def allows(self, delay: float) -> bool:
        return self.deadline is None or time.monotonic() + delay < self.deadline

    def watch(self, response: Any) -> threading.Timer | None:
        if self.deadline is None or not hasattr(response, "close"):
            return None

        def expire() -> None:
            self.expired = self._late()
            try:
                response.close()
            except Exception:  # closing a response another thread reads is best effort
                log.debug("closing a response past its deadline failed", exc_info=True)

        timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), expire)
        timer.daemon = True
        timer.start()
        return timer

    def check(self, chunk: Any) -> None:
        self.chunks += 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.expired = self._late()
            raise OutOfBounds(self.expired)
        if self.max_chunks is not None and self.chunks > self.max_chunks:
            self.expired = (
                f"{self.chunks} chunks for max_tokens={(self.max_chunks - CHUNK_SLACK) // CHUNKS_PER_TOKEN}"
                ": the server ignores the token budget"
            )
            raise OutOfBounds(self.expired)
