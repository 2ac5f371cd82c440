"""``ossrag serve --watch DIR``: keep the default knowledge base in sync with folders.

    ossrag serve --watch ~/handbook --watch ~/notes      # the default KB follows both

The same :meth:`~ossrag.kb.KnowledgeBase.watch` as ``ossrag ingest --watch DIR``,
on a thread of the server (which owns a Milvus Lite file, so no other process
could write to it): an initial sync, then a round of ordinary incremental sync
after each quiet period of changes. During the initial sync the knowledge base
is busy (questions get 503, as during an ingestion job: its index may still be
empty); later rounds change a few files at a time and leave it answering.
Rounds and ingestion jobs never write at once (``ServerState.writing``).
Each round is logged to the ``ossrag.server`` logger and the last one shows in
``GET /readyz`` under ``watch``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from ..ingest.watch import WatchRound
from .state import ServerState

__all__ = ["FolderWatch"]

log = logging.getLogger("ossrag.server")


class FolderWatch:
    """One thread that keeps ``state``'s default knowledge base in sync with ``folders``."""

    def __init__(self, state: ServerState, folders: list[str]) -> None:
        self.state, self.folders = state, list(folders)
        self.kb_name = state.settings.kb
        self.rounds = 0
        self.last: dict[str, Any] | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ossrag-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` shows: the folders, rounds so far, the last round, an error."""
        return {
            "kb": self.kb_name,
            "folders": self.folders,
            "rounds": self.rounds,
            "last": self.last,
            "error": self.error,
        }

    def _run(self) -> None:
        kb = self.state.kb(self.kb_name)
        initial = contextlib.ExitStack()
        initial.enter_context(self.state.ingesting(self.kb_name))

        def on_round(r: WatchRound) -> None:
            initial.close()  # the first round is done: the KB answers from now on
            self.rounds = r.number + 1
            self.last = {
                "round": r.number,
                "at": int(time.time()),
                "changed": r.changed[:20],
                "summary": r.report.summary(),
                "skipped": [
                    {"source": s.source, "reason": s.reason} for s in r.report.skipped[:20]
                ],
            }
            log.info("watch round %d (%s): %s", r.number, self.kb_name, r.report.summary())

        try:
            kb.watch(*self.folders, on_round=on_round, stop=self._stop, guard=self.state.writing)
        except Exception as exc:  # the server goes on; the error is shown in /readyz
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("watching %s stopped", ", ".join(self.folders))
        finally:
            initial.close()
