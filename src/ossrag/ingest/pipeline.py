"""The bounded streaming pipeline behind :func:`ossrag.ingest.sync.sync`.

Three stages overlap, joined by bounded queues, so memory holds a few batches
and one file's chunks, never the whole corpus::

    producer thread   files -> parse -> chunk -> rows to write        --q1-->
    embedding thread  rows -> vectors (each distinct text once a run) --q2-->
    caller's thread   upsert in batches; once every new row of a source is
                      written, its stale rows are deleted; progress callbacks

    pipeline = Pipeline(store, "docs", embedder, report, tracker)
    pipeline.run(plan, progress=callback)      # plan yields (Work, rows) per source

Writes happen only in the caller's thread, so a ``progress`` callback runs
there too, and Ctrl-C (KeyboardInterrupt) reaches the loop that writes: the
other threads are told to stop, and whatever was written is consistent (a
source's rows record its chunk count, so the next run sees an interrupted
source as incomplete and finishes it).
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..embedders.base import Embedder
from ..stores.base import VectorStore
from .progress import IngestProgress, ProgressTracker

__all__ = ["MAX_WRITE_ROWS", "Pipeline", "VectorCache", "Work", "embed_call_size"]

#: Rows per ``store.upsert`` at most; the store splits further to fit its target's
#: message limit (a Milvus server's gRPC limit). Consecutive embedded batches
#: are merged up to this when the writer falls behind.
MAX_WRITE_ROWS = 2048
_QUEUE_SLOTS = 4  # batches in flight between two stages
_PROGRESS_EVERY_S = 0.2
_END = object()


@dataclass
class Work:
    """One source whose rows are being written; ``stale`` rows go once ``pending`` is 0."""

    key: tuple[str, str]
    pending: int
    stale: list[str] = field(default_factory=list)


@dataclass
class _Failure:
    exc: BaseException


class _Stopped(Exception):
    """Raised inside a stage thread when the run is being stopped."""


def embed_call_size(embedder: Embedder) -> int:
    """Texts per ``embed_documents`` call: the embedder's batch, times its request
    concurrency for remote embedders (which split the call into parallel requests)."""
    batch = max(1, int(getattr(embedder, "batch_size", 32) or 32))
    return batch * max(1, int(getattr(embedder, "concurrency", 1) or 1))


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(), "big")


class VectorCache:
    """Vectors of the texts embedded in this run, so identical texts are embedded once.

    The most recent vectors stay in memory up to ``max_bytes``; for every text
    written earlier the id of its first row is kept (~100 bytes a text), and an
    evicted vector is read back from the store by that id instead of embedded.

        cache = VectorCache(store, "docs")
        cache.get(text) -> np.ndarray | None
    """

    def __init__(self, store: VectorStore, kb: str, max_bytes: int = 64 << 20) -> None:
        self.store, self.kb, self.max_bytes = store, kb, max_bytes
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._written: dict[int, str] = {}

    def get_many(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The vectors known for any of ``texts`` (memory first, then the store)."""
        found: dict[str, np.ndarray] = {}
        lookup: dict[str, str] = {}
        for text in texts:
            k = _key(text)
            vec = self._vectors.get(k)
            if vec is not None:
                self._vectors.move_to_end(k)
                found[text] = vec
            elif k in self._written:
                lookup[self._written[k]] = text
        if lookup:
            for rid, vec in self.store.get_vectors(self.kb, list(lookup)).items():
                found[lookup[rid]] = vec
                self.put(lookup[rid], vec)
        return found

    def put(self, text: str, vector: np.ndarray) -> None:
        k = _key(text)
        if k in self._vectors:
            return
        self._vectors[k] = vector
        self._bytes += vector.nbytes
        while self._bytes > self.max_bytes and self._vectors:
            _, old = self._vectors.popitem(last=False)
            self._bytes -= old.nbytes

    def written(self, text: str, row_id: str) -> None:
        """Remember that ``row_id`` holds the vector of ``text`` in the store."""
        self._written.setdefault(_key(text), row_id)


class Pipeline:
    """Runs one ingestion plan through the three stages (see the module docstring)."""

    def __init__(
        self, store: VectorStore, kb: str, embedder: Embedder, report: Any, tracker: ProgressTracker
    ) -> None:
        self.store, self.kb, self.embedder = store, kb, embedder
        self.report, self.tracker = report, tracker
        self.cache = VectorCache(store, kb)
        self.call_size = embed_call_size(embedder)
        self._q1: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_SLOTS)
        self._q2: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_SLOTS)
        # The first calls are smaller: the first rows are written, and a rate and
        # ETA are known, within seconds rather than after one full batch.
        self._size = max(1, self.call_size // 4)
        self._stop = threading.Event()
        self._last_progress = 0.0

    # -- the caller's thread ------------------------------------------------------------
    def run(
        self,
        plan: Iterable[tuple[Work, list[dict[str, Any]]]],
        progress: Callable[[IngestProgress], None] | None = None,
    ) -> None:
        """Write every row ``plan`` yields; returns when all are written (or raises)."""
        threads = [
            threading.Thread(
                target=self._produce, args=(plan,), daemon=True, name="ossrag-ingest-plan"
            ),
            threading.Thread(target=self._embed_loop, daemon=True, name="ossrag-ingest-embed"),
        ]
        for t in threads:
            t.start()
        try:
            self._write_loop(progress)
        finally:
            self._stop.set()
            # The stages stop at their next queue operation; an embedding call in
            # flight is not waited for long (the threads are daemons, and nothing
            # they could still do writes to the store).
            for t in threads:
                t.join(timeout=2.0)

    def _write_loop(self, progress: Callable[[IngestProgress], None] | None) -> None:
        while True:
            try:
                item = self._q2.get(timeout=0.25)
            except queue.Empty:
                self._progress(progress)
                continue
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            batch, finished = item
            # Merge batches that are already waiting, so a slow target gets bigger writes.
            while len(batch) < MAX_WRITE_ROWS:
                try:
                    more = self._q2.get_nowait()
                except queue.Empty:
                    break
                if more is _END or isinstance(more, _Failure):
                    self._q2.put(more)  # seen on the next turn, after this batch is written
                    break
                batch = batch + more[0]
                finished = finished + more[1]
            self._write(batch, finished)
            self._progress(progress)

    def _write(self, batch: list[tuple[Work, dict[str, Any]]], finished: list[Work]) -> None:
        if batch:
            t0 = time.perf_counter()
            self.store.upsert(
                self.kb, [{k: v for k, v in row.items() if k != "embed_text"} for _, row in batch]
            )
            self.report.write_seconds += time.perf_counter() - t0
            self.report.chunks_written += len(batch)
            self.tracker.chunks_done += len(batch)
            for work, row in batch:
                self.cache.written(row["embed_text"], row["id"])
                work.pending -= 1
                if work.pending == 0:
                    finished.append(work)
        for work in finished:
            if work.stale:
                self.store.delete_ids(self.kb, work.stale)
                self.report.chunks_deleted += len(work.stale)
            self.tracker.files_written += 1

    def _progress(
        self, progress: Callable[[IngestProgress], None] | None, force: bool = False
    ) -> None:
        now = time.perf_counter()
        if progress is not None and (force or now - self._last_progress >= _PROGRESS_EVERY_S):
            self._last_progress = now
            progress(self.tracker.snapshot())

    # -- stage threads ------------------------------------------------------------------
    def _put(self, q: queue.Queue[Any], item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _produce(self, plan: Iterable[tuple[Work, list[dict[str, Any]]]]) -> None:
        try:
            for work, rows in plan:
                if not rows:
                    self._put(self._q1, (work, []))
                for start in range(0, len(rows), self.call_size):
                    self._put(self._q1, (work, rows[start : start + self.call_size]))
            self._put(self._q1, _END)
        except _Stopped:
            return
        except BaseException as exc:  # reaches the caller's thread, which raises it
            self._stop_with(self._q1, exc)

    def _stop_with(self, q: queue.Queue[Any], exc: BaseException) -> None:
        with contextlib.suppress(_Stopped):
            self._put(q, _Failure(exc))

    def _embed_loop(self) -> None:
        pending: list[tuple[Work, dict[str, Any]]] = []
        try:
            while True:
                try:
                    # With rows waiting, wait only briefly for more: an idle
                    # embedder costs more than a short batch.
                    item = self._q1.get(timeout=0.05 if pending else 0.5)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    if pending:
                        self._embed_and_send(pending)
                        pending = []
                    continue
                if item is _END:
                    if pending:
                        self._embed_and_send(pending)
                    self._put(self._q2, _END)
                    return
                if isinstance(item, _Failure):
                    self._put(self._q2, item)
                    return
                work, rows = item
                if not rows:
                    self._put(self._q2, ([], [work]))  # nothing to write: only stale rows go
                    continue
                pending.extend((work, row) for row in rows)
                while len(pending) >= self._size:
                    size = self._size
                    self._embed_and_send(pending[:size])
                    pending = pending[size:]
        except _Stopped:
            return
        except BaseException as exc:
            self._stop_with(self._q2, exc)

    def _embed_and_send(self, rows: list[tuple[Work, dict[str, Any]]]) -> None:
        need = list(dict.fromkeys(r["embed_text"] for _, r in rows if r.get("vector") is None))
        known = self.cache.get_many(need) if need else {}
        todo = [t for t in need if t not in known]
        if todo:
            t0 = time.perf_counter()
            vectors = self.embedder.embed_documents(todo)
            self.report.embed_seconds += time.perf_counter() - t0
            self.report.chunks_embedded += len(todo)
            self.tracker.chunks_embedded += len(todo)
            for text, vec in zip(todo, vectors, strict=True):
                self.cache.put(text, vec)
                known[text] = vec
        for _, row in rows:
            if row.get("vector") is None:
                row["vector"] = known[row["embed_text"]]
        # Rows that cost no embedding: a stored vector, a duplicate text, the cache.
        self.report.chunks_reused += len(rows) - len(todo)
        self._size = min(self.call_size, self._size * 2)
        self._put(self._q2, (rows, []))
