"""What one server process holds: the Milvus target (it owns a Milvus Lite file), the
knowledge bases on it, and their running ingestion jobs.

    state = ServerState(Settings.load(), config)
    kb = state.kb("docs")                 # a KnowledgeBase sharing the server's store
    state.kb_names()                      # what /v1/models lists
    state.busy("docs")                    # an ingestion job is running on it (answers: 503)

Milvus Lite allows one process per database file, so the server opens the
store once and every request shares it; while it runs, a marker next to the
file (``<db>.server.json``: pid and URL) lets another ossrag process that
finds the file locked say how to reach the knowledge bases through this
server instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import Settings
from ..kb import KnowledgeBase
from ..stores import VectorStore, make_store
from ..stores.milvus.lite_lock import marker_path
from .config import ServerConfig

__all__ = ["ServerState"]


class ServerState:
    """The store, the knowledge bases and the jobs of one server (see the module docstring)."""

    def __init__(
        self, settings: Settings, config: ServerConfig, store: VectorStore | None = None
    ) -> None:
        self.settings, self.config = settings, config
        self.store = store or make_store(
            settings.uri, settings.token, timeout=30.0, consistency=settings.consistency
        )
        self._kbs: dict[str, KnowledgeBase] = {}
        self._busy: dict[str, int] = {}  # kb -> running ingestion jobs
        self._lock = threading.Lock()
        # One writer at a time: ingestion jobs and --watch rounds (jobs.py, watch.py).
        self._write_lock = threading.Lock()
        self.watch: Any = None  # the FolderWatch of ``ossrag serve --watch DIR``, if any
        self._marker: Path | None = None

    def open(self) -> None:
        """Connect now (a wrong URI fails at start-up, not at the first request)."""
        self.store.list_kbs()
        self._marker = marker_path(self.settings.uri)
        if self._marker is not None:
            self._marker.write_text(
                json.dumps({"pid": os.getpid(), "url": self.config.base_url}), encoding="utf-8"
            )

    def close(self) -> None:
        if self._marker is not None:
            with contextlib.suppress(OSError):
                self._marker.unlink()
        self.store.close()

    def kb(self, name: str) -> KnowledgeBase:
        """The knowledge base ``name`` (it may not exist yet: ingestion creates it)."""
        with self._lock:
            if name not in self._kbs:
                settings = dataclasses.replace(self.settings, kb=name)
                self._kbs[name] = KnowledgeBase(settings=settings, store=self.store)
            return self._kbs[name]

    def forget(self, name: str) -> None:
        """Drop the cached KnowledgeBase of ``name`` (after it was deleted)."""
        with self._lock:
            self._kbs.pop(name, None)

    def kb_names(self) -> list[str]:
        return self.store.list_kbs()

    def busy(self, name: str) -> bool:
        """True while an ingestion job writes to ``name``."""
        with self._lock:
            return self._busy.get(name, 0) > 0

    def writing(self) -> threading.Lock:
        """Held while a job or a watch round writes (Milvus Lite has one writer)."""
        return self._write_lock

    @contextlib.contextmanager
    def ingesting(self, name: str) -> Iterator[None]:
        """Mark ``name`` busy for the duration of a job."""
        with self._lock:
            self._busy[name] = self._busy.get(name, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[name] -= 1
