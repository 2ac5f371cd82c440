"""Server-sent events from a blocking iterator, off the event loop.

    return sse_response(view.chunks(), started)     # each next() runs in a worker thread

The answer's iterator blocks (the model generates, a local model holds its
lock), so every ``next()`` runs in the thread pool; when the client goes away
the iterator is closed, which stops the model and releases its lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

__all__ = ["SSE_HEADERS", "sse_response"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _Closable(Protocol):
    def close(self) -> None: ...


async def _drain(events: Iterator[str], owner: _Closable | None) -> AsyncIterator[str]:
    try:
        async for chunk in iterate_in_threadpool(events):
            yield chunk
    finally:
        # A generator still running in a worker thread cannot be closed from here
        # (ValueError); it is closed when that next() returns and it is collected.
        with contextlib.suppress(ValueError, RuntimeError):
            close = getattr(events, "close", None)
            if close is not None:
                close()
            if owner is not None:
                owner.close()  # quick: closes the model's stream (no await: we may be cancelled)


def sse_response(events: Iterator[str], owner: _Closable | None = None) -> StreamingResponse:
    """``text/event-stream`` of ``events`` (already formatted ``data: ...\\n\\n`` strings)."""
    return StreamingResponse(
        _drain(events, owner), media_type="text/event-stream", headers=SSE_HEADERS
    )
