"""Incremental sync of sources into a knowledge base, with no side database.

    report = sync(store, "default", embedder, ["docs/"], include=["**/*.md"])
    print(report.summary())   # added 3, updated 1, unchanged 40, removed 0, skipped 2

Everything needed to sync lives in Milvus itself: every row carries its
``origin`` (the ingested root), ``source`` (path below it) and the
``source_hash`` of the whole file, and row ids derive from (origin, source,
position, chunk text). So:

* an unchanged file (same ``source_hash``) is neither parsed nor embedded;
* a changed file's new chunks are written first, then the rows that are no
  longer produced are deleted, so a crash midway never leaves a file with
  fewer chunks than before;
* a file that fails to parse is reported and skipped, and what was indexed for
  it before stays;
* files gone from a re-ingested root (within its include/exclude scope) are
  removed.

Every source spec is resolved before anything is written, so a typo in one
path aborts the run with nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import IngestLimits
from ..embedders.base import Embedder
from ..errors import LoadError
from ..stores.base import VectorStore
from ..types import Chunk, RawSource, Skipped, chunk_id, content_hash
from .chunking import chunk_document
from .loaders import SourceSet, discover
from .parsers import parse

__all__ = [
    "WRITE_BATCH",
    "IngestReport",
    "Note",
    "sync",
]

# Chunks embedded and written per round trip. Large enough that the embedder
# batches efficiently, small enough that progress moves and memory stays flat.
WRITE_BATCH = 64


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
    "sphinx-html": 3}``); unchanged files are not parsed and not counted.
    """

    kb: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    parsers: dict[str, int] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)  # indexed, but with a fallback (decoding)

    def summary(self) -> str:
        parsed = ", ".join(f"{n} {name}" for name, n in sorted(self.parsers.items(), key=lambda x: (-x[1], x[0])))
        return (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, skipped {len(self.skipped)} "
            f"({self.chunks_written} chunks written, {self.chunks_deleted} deleted, "
            f"{self.seconds:.1f}s)" + (f"; parsed as {parsed}" if parsed else "")
            + (f"; {len(self.notes)} with a note" if self.notes else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"source": s.source, "origin": s.origin, "reason": s.reason} for s in self.skipped],
            "chunks_written": self.chunks_written,
            "chunks_deleted": self.chunks_deleted,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "parsers": dict(sorted(self.parsers.items())),
            "notes": [{"source": n.source, "origin": n.origin, "note": n.note} for n in self.notes],
        }


@dataclass
class _Work:
    """One source whose chunks must be (re)written."""

    key: tuple[str, str]
    raw: RawSource
    rows: list[dict[str, Any]]
    old_ids: list[str]
    pending: int = 0  # rows not yet written


def _rows_for(raw: RawSource, chunks: list[Chunk], doc_meta: dict[str, Any], extra: dict[str, Any]) -> list[dict[str, Any]]:
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
                "metadata": meta,
            }
        )
    return rows


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
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
    limits: IngestLimits | None = None,
) -> IngestReport:
    """Bring the knowledge base ``kb`` in line with ``specs``; see the module docstring.

    ``progress(done, total)`` is called after each batch of chunks is written.
    ``limits`` bound what an untrusted source may cost (sizes, time, archives,
    URL addresses); ``timeout`` overrides ``limits.url_timeout``.
    """
    started = time.perf_counter()
    report = IngestReport(kb=kb)
    extra = dict(metadata or {})
    # Resolve every spec first: a missing path or bad URL fails before any write.
    sets: list[SourceSet] = [
        discover(spec, include=list(include), exclude=list(exclude), timeout=timeout, limits=limits)
        for spec in specs
    ]
    store.ensure_collection(kb, embedder=embedder.name, dim=embedder.dim)
    index = store.source_index(kb)

    work: list[_Work] = []
    seen: set[tuple[str, str]] = set()
    for sset in sets:
        for item in sset:
            if isinstance(item, Skipped):
                report.skipped.append(item)
                # A file we could not read is still "seen": never prune what it had.
                seen.add((item.origin, item.source))
                continue
            key = (item.origin, item.source)
            if key in seen:
                continue  # the same file reached twice (overlapping specs)
            seen.add(key)
            old_hash, old_ids = index.get(key, ("", []))
            if old_ids and old_hash == item.source_hash:
                report.unchanged += 1
                continue
            try:
                doc = parse(item, limits=limits)
                chunks = chunk_document(
                    doc, splitter=splitter, chunk_size=chunk_size, chunk_overlap=chunk_overlap
                )
            except LoadError as exc:
                report.skipped.append(Skipped(item.origin, item.source, exc.message))
                continue
            if not chunks:
                report.skipped.append(Skipped(item.origin, item.source, "no text to index"))
                continue
            if doc.metadata.get("decoding"):
                report.notes.append(Note(item.origin, item.source, str(doc.metadata["decoding"])))
            parser = str(doc.metadata.get("parser", doc.fmt))
            report.parsers[parser] = report.parsers.get(parser, 0) + 1
            doc_meta: dict[str, Any] = {
                "format": doc.fmt,
                **{k: doc.metadata[k] for k in ("parser", "detected_by") if k in doc.metadata},
            }
            if doc.title:
                doc_meta["title"] = doc.title
            rows = _rows_for(item, chunks, doc_meta, extra)
            work.append(_Work(key, item, rows, old_ids, pending=len(rows)))
            if old_ids:
                report.updated += 1
            else:
                report.added += 1

    _write(store, kb, embedder, work, report, progress)

    if prune:
        for sset in sets:
            gone = [
                key
                for key in index
                if key[0] == sset.origin and key not in seen and sset.in_scope(key[1])
            ]
            for key in gone:
                ids = index[key][1]
                store.delete_ids(kb, ids)
                report.chunks_deleted += len(ids)
                report.removed += 1
    if work or report.removed:
        store.flush(kb)
    report.seconds = time.perf_counter() - started
    return report


def _write(
    store: VectorStore,
    kb: str,
    embedder: Embedder,
    work: list[_Work],
    report: IngestReport,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Embed and upsert all rows in batches; retire a source's stale rows once it is complete."""
    queue = [(w, row) for w in work for row in w.rows]
    batch_size = max(1, min(WRITE_BATCH, getattr(embedder, "batch_size", WRITE_BATCH) or WRITE_BATCH))
    if progress is not None:
        progress(0, len(queue))
    for start in range(0, len(queue), batch_size):
        batch = queue[start : start + batch_size]
        t0 = time.perf_counter()
        vectors = embedder.embed_documents([row["embed_text"] for _, row in batch])
        report.embed_seconds += time.perf_counter() - t0
        rows = []
        for (_, row), vec in zip(batch, vectors, strict=True):
            stored = {k: v for k, v in row.items() if k != "embed_text"}
            stored["vector"] = vec
            rows.append(stored)
        store.upsert(kb, rows)
        report.chunks_written += len(rows)
        for w, _ in batch:
            w.pending -= 1
            if w.pending == 0:
                new_ids = {r["id"] for r in w.rows}
                stale = [i for i in w.old_ids if i not in new_ids]
                if stale:
                    store.delete_ids(kb, stale)
                    report.chunks_deleted += len(stale)
        if progress is not None:
            progress(start + len(batch), len(queue))
