"""Incremental, streaming, resumable sync of sources into a knowledge base, with no side database.

    report = sync(store, "default", embedder, ["docs/"], include=["**/*.md"])
    print(report.summary())   # added 3, updated 1, unchanged 40, removed 0, skipped 2

Everything needed to sync lives in Milvus itself: every row carries its
``origin`` (the ingested root), ``source`` (path below it), the
``source_hash`` of the whole file and ``chunk_count``, the number of chunks
that version of the file has; row ids derive from (origin, source, position,
chunk text). So:

* a file is unchanged when exactly its current version's chunks are stored
  (every one, all with its hash); it is then neither parsed nor embedded.
  Knowledge bases from before ``chunk_count`` (schema 1-2) get the same answer
  by parsing the file and comparing the ids, still without embedding;
* a changed file's new chunks are written first, then the rows that are no
  longer produced are deleted, so a crash midway never leaves a file with
  fewer chunks than before; chunks whose text and heading did not change keep
  their stored vectors instead of being embedded again;
* an interrupted run (Ctrl-C, SIGKILL, a failing embedder) leaves rows that
  record more chunks than are present, so the next run finishes those files,
  writing only what is missing ("resumed" in the report);
* identical chunk texts are embedded once per run;
* a file that fails to parse is reported and skipped, and what was indexed for
  it before stays;
* files gone from a re-ingested root (within its include/exclude scope) are
  removed, at the end, once everything else is written.

Reading and parsing, embedding and writing overlap in a bounded pipeline
(:mod:`ossrag.ingest.pipeline`): memory holds a few batches, not the corpus.
``progress`` receives :class:`~ossrag.ingest.progress.IngestProgress`
snapshots (files, chunks, rate, ETA) in the caller's thread.

Every source spec is resolved before anything is written, so a typo in one
path aborts the run with nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import IngestLimits
from ..embedders.base import Embedder
from ..errors import EmbedderMismatchError, LoadError
from ..stores.base import SourceRows, VectorStore
from ..types import Chunk, RawSource, Skipped, chunk_id, content_hash
from .chunking import chunk_document
from .loaders import SourceSet, discover
from .parsers import parse
from .pipeline import Pipeline, Work
from .progress import IngestProgress, ProgressTracker

__all__ = ["IngestProgress", "IngestReport", "Note", "sync"]


@dataclass
class Note:
    """Something done to a file that was indexed, e.g. ``decoded as Windows-1252``."""

    origin: str
    source: str
    note: str


@dataclass
class IngestReport:
    """What one ingestion run did. ``skipped`` keeps the reason for each file.

    ``parsers`` counts the files parsed in this run by parser (``{"rst": 90,
    "sphinx-html": 3}``); unchanged files are not counted. ``resumed`` files
    had been partly written by an interrupted run. ``chunks_embedded`` texts
    went to the embedder; ``chunks_reused`` rows got a vector without it (a
    duplicate text, or an unchanged chunk of an edited file).
    """

    kb: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    resumed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    parsers: dict[str, int] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)  # indexed, but with a fallback (decoding)

    def summary(self) -> str:
        parsed = ", ".join(
            f"{n} {name}" for name, n in sorted(self.parsers.items(), key=lambda x: (-x[1], x[0]))
        )
        resumed = f", resumed {self.resumed}" if self.resumed else ""
        return (
            f"added {self.added}, updated {self.updated}{resumed}, unchanged {self.unchanged}, "
            f"removed {self.removed}, skipped {len(self.skipped)} "
            f"({self.chunks_written} chunks written, {self.chunks_deleted} deleted, "
            f"{self.seconds:.1f}s)"
            + (f"; parsed as {parsed}" if parsed else "")
            + (f"; {len(self.notes)} with a note" if self.notes else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "resumed": self.resumed,
            "skipped": [
                {"source": s.source, "origin": s.origin, "reason": s.reason} for s in self.skipped
            ],
            "chunks_written": self.chunks_written,
            "chunks_deleted": self.chunks_deleted,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "write_seconds": round(self.write_seconds, 3),
            "parsers": dict(sorted(self.parsers.items())),
            "notes": [{"source": n.source, "origin": n.origin, "note": n.note} for n in self.notes],
        }


def _rows_for(
    raw: RawSource, chunks: list[Chunk], doc_meta: dict[str, Any], extra: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for ch in chunks:
        meta = {**doc_meta, **ch.metadata, **extra}
        rows.append(
            {
                "id": chunk_id(raw.origin, raw.source, ch.chunk_index, ch.text),
                "text": ch.text,
                "embed_text": ch.embed_text,
                "source": raw.source,
                "origin": raw.origin,
                "heading": ch.heading,
                "chunk_index": ch.chunk_index,
                "content_hash": content_hash(ch.text),
                "source_hash": raw.source_hash,
                "chunk_count": len(chunks),
                "metadata": meta,
            }
        )
    return rows


@dataclass
class _Planner:
    """Decides, file by file, what must be written (runs in the pipeline's producer thread)."""

    store: VectorStore
    kb: str
    index: dict[tuple[str, str], SourceRows]
    report: IngestReport
    tracker: ProgressTracker
    chunking: dict[str, Any]
    extra: dict[str, Any]
    limits: IngestLimits | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)

    def plan(self, sets: list[SourceSet]) -> Iterator[tuple[Work, list[dict[str, Any]]]]:
        self.tracker.phase = "ingesting"
        for sset in sets:
            for item in sset:
                self.tracker.files_seen += 1
                if isinstance(item, Skipped):
                    self.report.skipped.append(item)
                    # A file we could not read is still "seen": never prune what it had.
                    self.seen.add((item.origin, item.source))
                    self.tracker.files_quick += 1
                    continue
                self.tracker.bytes_seen += len(item.data)
                planned = self._plan_one(item)
                if planned is None:
                    self.tracker.files_quick += 1
                else:
                    self.tracker.bytes_parsed += len(item.data)
                    self.tracker.chunks_planned += len(planned[1])
                    yield planned
        self.tracker.current = ""

    def _plan_one(self, item: RawSource) -> tuple[Work, list[dict[str, Any]]] | None:
        key = (item.origin, item.source)
        if key in self.seen:
            return None  # the same file reached twice (overlapping specs)
        self.seen.add(key)
        stored = self.index.get(key)
        verdict = stored.complete(item.source_hash) if stored else False
        if verdict is True:
            self.report.unchanged += 1
            return None
        self.tracker.current = item.source
        parsed = self._parse(item)
        if parsed is None:
            return None
        rows, parser = parsed
        present = stored.ids if stored else {}
        if verdict is None and set(present) == {r["id"] for r in rows}:
            self.report.unchanged += 1  # an older KB without chunk counts: compared by ids
            return None
        if not present:
            self.report.added += 1
        elif all(h == item.source_hash for h in present.values()):
            self.report.resumed += 1  # an interrupted run wrote part of this version
        else:
            self.report.updated += 1
        self.report.parsers[parser] = self.report.parsers.get(parser, 0) + 1
        # Rows already written for this version stay as they are.
        todo = [r for r in rows if present.get(r["id"]) != item.source_hash]
        self._reuse_vectors([r for r in todo if r["id"] in present])
        new_ids = {r["id"] for r in rows}
        stale = [i for i in present if i not in new_ids]
        return Work(key, pending=len(todo), stale=stale), todo

    def _parse(self, item: RawSource) -> tuple[list[dict[str, Any]], str] | None:
        """The file's rows and the parser that read it; None when it is skipped."""
        try:
            doc = parse(item, limits=self.limits)
            chunks = chunk_document(doc, **self.chunking)
        except LoadError as exc:
            self.report.skipped.append(Skipped(item.origin, item.source, exc.message))
            return None
        if not chunks:
            self.report.skipped.append(Skipped(item.origin, item.source, "no text to index"))
            return None
        if doc.metadata.get("decoding"):
            self.report.notes.append(Note(item.origin, item.source, str(doc.metadata["decoding"])))
        doc_meta: dict[str, Any] = {
            "format": doc.fmt,
            **{k: doc.metadata[k] for k in ("parser", "detected_by") if k in doc.metadata},
        }
        if doc.title:
            doc_meta["title"] = doc.title
        parser = str(doc.metadata.get("parser", doc.fmt))
        return _rows_for(item, chunks, doc_meta, self.extra), parser

    def _reuse_vectors(self, rows: list[dict[str, Any]]) -> None:
        """Stored vectors for chunks of an edited file whose embedded text did not change."""
        for start in range(0, len(rows), 1000):
            part = {r["id"]: r for r in rows[start : start + 1000]}
            stored = {h.id: h for h in self.store.get_chunks(self.kb, list(part))}
            same = [
                i
                for i, h in stored.items()
                if Chunk(h.text, h.heading).embed_text == part[i]["embed_text"]
            ]
            for rid, vec in self.store.get_vectors(self.kb, same).items():
                part[rid]["vector"] = vec


def _ensure_collection(store: VectorStore, kb: str, embedder: Embedder) -> None:
    """Create ``kb`` or check its embedder; one with the same vectors may add to it.

    An embedder's optional ``same_vectors`` names the embedders whose vectors
    equal its own (``e5-onnx:fp32`` and ``e5-openvino:bf16``, for one:
    :data:`ossrag.embedders._encoder_base.SAME_VECTORS`); the KB keeps the
    name it was built with, so it reopens as before.
    """
    try:
        store.ensure_collection(kb, embedder=embedder.name, dim=embedder.dim)
    except EmbedderMismatchError:
        recorded = store.info(kb).embedder
        if recorded == embedder.name or recorded not in getattr(embedder, "same_vectors", ()):
            raise
        store.ensure_collection(kb, embedder=recorded, dim=embedder.dim)


def sync(
    store: VectorStore,
    kb: str,
    embedder: Embedder,
    specs: list[str],
    *,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    splitter: str = "auto",
    chunk_size: int = 1200,
    chunk_overlap: int = 150,
    metadata: dict[str, Any] | None = None,
    prune: bool = True,
    progress: Callable[[IngestProgress], None] | None = None,
    timeout: float | None = None,
    limits: IngestLimits | None = None,
) -> IngestReport:
    """Bring the knowledge base ``kb`` in line with ``specs``; see the module docstring.

    ``progress(p)`` receives an :class:`IngestProgress` a few times a second
    while the run goes, and once at the end (``p.phase == "done"``).
    ``limits`` bound what an untrusted source may cost (sizes, time, archives,
    URL addresses); ``timeout`` overrides ``limits.url_timeout``.
    """
    started = time.perf_counter()
    report = IngestReport(kb=kb)
    # Resolve every spec first: a missing path or bad URL fails before any write.
    sets: list[SourceSet] = [
        discover(spec, include=list(include), exclude=list(exclude), timeout=timeout, limits=limits)
        for spec in specs
    ]
    tracker = ProgressTracker()
    if progress is not None:
        progress(tracker.snapshot())
    _ensure_collection(store, kb, embedder)
    index = store.source_rows(kb)
    for sset in sets:
        files, size = sset.survey()
        tracker.files_total += files
        tracker.bytes_total += size
    planner = _Planner(
        store,
        kb,
        index,
        report,
        tracker,
        extra=dict(metadata or {}),
        limits=limits,
        chunking={"splitter": splitter, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap},
    )
    Pipeline(store, kb, embedder, report, tracker).run(planner.plan(sets), progress)

    if prune:
        tracker.phase = "pruning"
        for sset in sets:
            gone = [
                key
                for key in index
                if key[0] == sset.origin and key not in planner.seen and sset.in_scope(key[1])
            ]
            for key in gone:
                ids = list(index[key].ids)
                store.delete_ids(kb, ids)
                report.chunks_deleted += len(ids)
                report.removed += 1
    if report.chunks_written or report.chunks_deleted:
        store.flush(kb)
    report.seconds = time.perf_counter() - started
    tracker.phase = "done"
    if progress is not None:
        progress(tracker.snapshot())
    return report
