"""Ingestion jobs behind ``POST /v1/ingest``: one worker thread, progress per file and chunk.

    jobs = jobs_for(state)                                  # one registry per server
    job = jobs.submit("docs", files=[("guide/a.md", staged_path)], urls=["https://.../b.html"])
    jobs.get(job.id).to_dict()     # {"status": "running", "files_done": 1, "chunks_done": 64, ...}

Jobs run one at a time, in order, on one thread (Milvus Lite has one writer;
the embedder uses the cores). From submission to the end the knowledge base is
marked busy (``state.ingesting``), so questions to it get 503 instead of an
answer from a half-written index.

Uploaded files are staged per job, then, when the job runs, moved to a stable
place per knowledge base (``<db>.uploads/kbs/<kb>/<path>`` next to a Milvus
Lite file, else ``~/.cache/ossrag/uploads/<host>/kbs/<kb>/``), ingested one by
one (``kb.ingest(dir, include=["/<path>"], prune=False)``: the same upload
path is the same source, so uploading a file again updates it; a ``.zip`` is
ingested as an archive, its entries the sources), and deleted: the index keeps
the text, nothing needs the copy.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import LoadError, OssragError, SourceError
from ..ingest.sync import IngestProgress, IngestReport
from .state import ServerState

__all__ = [
    "KEEP_FINISHED",
    "Job",
    "Jobs",
    "jobs_for",
    "safe_relpath",
    "uploads_root",
]

log = logging.getLogger("ossrag.server")

KEEP_FINISHED = 200  # finished jobs remembered for GET /v1/jobs/{id}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+,=@-]")  # no glob characters: paths become include patterns


def uploads_root(uri: str) -> Path:
    """Where uploads for the store at ``uri`` are staged and ingested from."""
    if "://" not in uri or uri.startswith("file://"):
        db = Path(uri.removeprefix("file://")).expanduser().resolve()
        return db.with_name(db.name + ".uploads")
    host = re.sub(r"[^A-Za-z0-9._-]", "_", urlsplit(uri).netloc or "server")
    return Path.home() / ".cache" / "ossrag" / "uploads" / host


def _is_lite(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def safe_relpath(name: str) -> str:
    """An uploaded file's name as a safe relative path (folders kept, no ``..``, no globs).

    >>> safe_relpath("../../etc/passwd"), safe_relpath("docs\\\\a [1].md"), safe_relpath(".env")
    ('etc/passwd', 'docs/a _1_.md', '_env')
    """
    parts = []
    for part in name.replace("\\", "/").split("/"):
        part = part.strip()
        if part in ("", ".", ".."):
            continue
        part = _UNSAFE.sub("_", part)
        parts.append("_" + part[1:] if part.startswith(".") else part)
    return "/".join(parts)


@dataclass
class Job:
    """One ingestion job; :meth:`to_dict` is what ``GET /v1/jobs/{id}`` returns."""

    id: str
    kb: str
    files: list[tuple[str, Path]] = field(default_factory=list)  # (relative path, staged copy)
    urls: list[str] = field(default_factory=list)
    status: str = "queued"  # queued | running | done | failed
    files_done: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    report: IngestReport | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def files_total(self) -> int:
        return len(self.files) + len(self.urls)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "ingest.job",
            "kb": self.kb,
            "status": self.status,
            "files_total": self.files_total,
            "files_done": self.files_done,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "errors": list(self.errors),
            "created": int(self.created),
        }
        if self.status == "done" and self.report is not None:
            out["report"] = self.report.to_dict()
        if self.status == "failed":
            out["error"] = self.error
        return out


def _merge(total: IngestReport, part: IngestReport) -> None:
    for name in (
        "added",
        "updated",
        "unchanged",
        "removed",
        "resumed",
        "chunks_written",
        "chunks_deleted",
        "chunks_embedded",
        "chunks_reused",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.embed_seconds += part.embed_seconds
    total.write_seconds += part.write_seconds
    total.skipped += part.skipped
    for parser, n in part.parsers.items():
        total.parsers[parser] = total.parsers.get(parser, 0) + n


class Jobs:
    """The job registry and its worker thread (started with the first job)."""

    def __init__(self, state: ServerState, root: Path | None = None) -> None:
        self.state = state
        self.root = root or uploads_root(state.settings.uri)
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._busy: dict[str, contextlib.ExitStack] = {}  # job id -> its state.ingesting(kb)
        if root is None and _is_lite(state.settings.uri):
            self._clear_leftovers()

    def _clear_leftovers(self) -> None:
        """Delete what a killed server left: uploads of jobs that never ran or never finished.

        Only next to a Milvus Lite file, which one process opens at a time: nothing else
        can be using them. (Under a Milvus server several ossrag servers may share the
        folder; there the leftovers stay.) Posting the files again finishes such a job.
        """
        for sub in ("staging", "kbs"):
            path = self.root / sub
            if path.is_dir():
                log.info("removing uploads a previous server left in %s", path)
                shutil.rmtree(path, ignore_errors=True)

    def staging_dir(self) -> tuple[str, Path]:
        """A fresh job id and the directory its uploads are written to."""
        job_id = f"job-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        path = self.root / "staging" / job_id
        path.mkdir(parents=True, exist_ok=True)
        return job_id, path

    def submit(
        self,
        kb: str,
        *,
        files: list[tuple[str, Path]] | None = None,
        urls: list[str] | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Queue a job; ``files`` are (path in the KB, staged copy) from :meth:`staging_dir`."""
        job = Job(
            id=job_id or self.staging_dir()[0],
            kb=kb,
            files=list(files or []),
            urls=list(urls or []),
        )
        # Busy from now on: a question must not be answered from what is about to change.
        busy = contextlib.ExitStack()
        busy.enter_context(self.state.ingesting(kb))
        with self._lock:
            self._busy[job.id] = busy
            self._jobs[job.id] = job
            self._forget_old()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="ossrag-ingest", daemon=True
                )
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _forget_old(self) -> None:
        done = sorted(
            (j for j in self._jobs.values() if j.finished is not None),
            key=lambda j: j.finished or 0.0,
        )
        for job in done[: max(0, len(done) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                with self.state.writing():  # never at once with a --watch round
                    self._run(job)
            finally:
                job.finished = time.time()
                with self._lock:
                    busy = self._busy.pop(job.id)
                busy.close()
                with contextlib.suppress(OSError):
                    shutil.rmtree(self.root / "staging" / job.id)

    def _run(self, job: Job) -> None:
        job.status = "running"
        started = time.perf_counter()
        kb = self.state.kb(job.kb)
        report = IngestReport(kb=job.kb)
        base = {"done": 0, "total": 0}
        last = {"done": 0, "total": 0}

        def progress(p: IngestProgress) -> None:
            done, total = p.chunks_done, max(p.chunks_total, p.chunks_estimate)
            last.update(done=done, total=total)
            job.chunks_done, job.chunks_total = base["done"] + done, base["total"] + total

        kbdir = self.root / "kbs" / job.kb
        specs: list[tuple[str, Path | None]] = [*job.files, *((u, None) for u in job.urls)]
        try:
            for name, staged in specs:
                last.update(done=0, total=0)
                try:
                    if staged is None:  # a URL
                        part = kb.ingest(name, progress=progress)
                    else:
                        target = kbdir / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(staged, target)
                        try:
                            if name.lower().endswith(".zip"):  # an archive is its own origin
                                part = kb.ingest(str(target), progress=progress)
                            else:
                                part = kb.ingest(
                                    str(kbdir), include=["/" + name], prune=False, progress=progress
                                )
                        finally:
                            with contextlib.suppress(OSError):
                                target.unlink()
                except (SourceError, LoadError) as exc:  # this file only; the job goes on
                    reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
                    job.errors.append({"source": name, "reason": reason})
                else:
                    _merge(report, part)
                    job.errors += [{"source": s.source, "reason": s.reason} for s in part.skipped]
                base["done"] += last["done"]
                base["total"] += last["total"]
                job.files_done += 1
        except OssragError as exc:
            job.status, job.error = "failed", str(exc)
            return
        except Exception as exc:  # a bug: say so in the job rather than lose the thread
            log.exception("ingestion job %s failed", job.id)
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            return
        report.seconds = time.perf_counter() - started
        job.report, job.status = report, "done"

    def close(self) -> None:
        self._queue.put(None)


_REGISTRY_LOCK = threading.Lock()


def jobs_for(state: ServerState) -> Jobs:
    """The one :class:`Jobs` of ``state`` (made on first use)."""
    with _REGISTRY_LOCK:
        jobs = getattr(state, "_ossrag_jobs", None)
        if jobs is None:
            jobs = Jobs(state)
            state._ossrag_jobs = jobs  # type: ignore[attr-defined]
        return jobs
