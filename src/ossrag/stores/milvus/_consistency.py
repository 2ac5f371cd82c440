"""Which consistency level each read of :class:`MilvusStore` runs at.

    levels = ReadLevels("Session")
    with levels.read("docs") as level:     # "Session", or "Strong" right after a delete
        client.search(..., consistency_level=level)
    levels.deleted("docs")                 # the next reads of "docs" run Strong

Searches and the reads that answer a question (chunks by id, their vectors,
a hit's neighbours) run at the store's *read level*, ``Session`` by default;
what ingestion decides on (row counts, the index of stored sources, scans and
copies) always runs ``Strong``, so that a resumed or incremental ingest never
acts on a stale view.

Why ``Session``: on a Milvus server a ``Strong`` read waits for the next time
tick of every channel, ~200-500 ms a search at any size, against ~4 ms at
``Session`` (docs/milvus.md "Consistency, flush and load"). ``Session`` still
reads this process's own writes: pymilvus remembers the timestamp of each
upsert and the search waits for exactly that. It does not remember deletes
on Milvus 2.3 (the delete's timestamp comes back as 0), so a delete would
stay visible to this process's searches for up to a time tick; ossrag marks
the KB and runs its reads ``Strong`` until one such read has completed after
the delete (measured: tests/test_milvus_behaviour.py). Writes of *other*
processes become visible within Milvus' time tick (200 ms by default), as on
any Milvus client. Milvus Lite answers every level from one local process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ...config import CONSISTENCY_LEVELS as LEVELS
from ...errors import ConfigError

__all__ = ["LEVELS", "ReadLevels", "check_level"]


def check_level(level: str) -> str:
    """``level`` in Milvus' spelling (case-insensitive), or a :class:`ConfigError`."""
    for name in LEVELS:
        if str(level).strip().lower() == name.lower():
            return name
    raise ConfigError(
        f"unknown consistency level {level!r}",
        hint=f"use one of {', '.join(LEVELS)} (--consistency or OSSRAG_CONSISTENCY)",
    )


class ReadLevels:
    """The read level, raised to ``Strong`` per KB after this process deleted from it."""

    def __init__(self, level: str = "Session") -> None:
        self.level = check_level(level)
        self._lock = threading.Lock()
        self._deletes: dict[str, int] = {}  # kb -> deletes not yet seen by a Strong read
        self._generation = 0

    def deleted(self, kb: str) -> None:
        """Rows of ``kb`` were deleted by this process: reads run Strong until one has seen it."""
        with self._lock:
            self._generation += 1
            self._deletes[kb] = self._generation

    @contextlib.contextmanager
    def read(self, kb: str) -> Iterator[str]:
        """The level for one read of ``kb``; a Strong read that completes clears the mark.

        The mark is cleared only if no delete came after the read started, so a
        concurrent read that began before a later delete cannot clear it.
        """
        with self._lock:
            started = self._deletes.get(kb)
        if started is None:
            yield self.level
            return
        yield "Strong"
        with self._lock:
            if self._deletes.get(kb) == started:
                del self._deletes[kb]
