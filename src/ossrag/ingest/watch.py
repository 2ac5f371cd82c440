"""Watch mode: keep a knowledge base in sync with folders and files as they change.

    stop = threading.Event()
    kb.watch("docs/", on_round=lambda r: print(r.number, r.report.summary()), stop=stop)

or, with any sync function (this module needs no store or embedder)::

    watch(["docs/"], lambda: kb.ingest("docs/"), on_round=show, stop=stop)

A round is one ordinary incremental sync of every source (the same rules as
``ossrag ingest``: unchanged files are hashed, not parsed or embedded;
unchanged chunks of an edited file keep their vectors; deleted and renamed
files lose their rows), so a round always leaves the knowledge base equal to
what a fresh ``ossrag ingest`` would build. Rounds start after a *quiet
period*: the watcher waits until no relevant file has changed for
``quiet_s`` (at most ``max_wait_s`` during a continuous stream of edits), so a
burst of saves, a ``git checkout`` or a copy in progress is one round, not
one per event. Changes made during a round are kept and start the next one.
A round interrupted by Ctrl-C or a crash is finished by the next start, like
any interrupted ingest.

How changes are noticed: with the ``watch`` extra (``pip install
'ossrag[watch]'``), `watchfiles <https://pypi.org/project/watchfiles/>`_,
which uses the operating system's notifications (inotify, FSEvents,
ReadDirectoryChangesW) and costs nothing while idle; it is maintained, has
wheels for every platform, and groups events itself. Without it (or on
network filesystems, where notifications do not arrive), the folders are
polled: names, sizes and modification times every ``poll_s`` seconds, which
needs no dependency and works everywhere, at a cost proportional to the
number of files.

Only changes that can alter the knowledge base count: files ``ossrag
ingest`` would read (by include/exclude patterns, hidden files and formats)
and directories; the Milvus Lite database itself is ignored even when it
lies inside a watched folder.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .loaders import SourceSet, discover
from .sync import IngestReport

__all__ = ["WatchRound", "watch"]


@dataclass
class WatchRound:
    """One sync round: ``number`` 0 is the first, full sync; ``changed`` lists the paths
    whose changes started this round (relative to their watched root where possible)."""

    number: int
    report: IngestReport
    changed: list[str] = field(default_factory=list)
    backend: str = ""  # "watchfiles" or "polling"


def _relevant(sets: list[SourceSet], ignore: list[Path]) -> Callable[[str], bool]:
    """Does a change at ``path`` matter to any of ``sets``?"""

    def check(path: str) -> bool:
        p = Path(path)
        if any(p == ig or ig in p.parents for ig in ignore):
            return False
        for sset in sets:
            if sset.kind == "zip":
                if p == Path(sset.origin):
                    return True
                continue
            try:
                rel = p.relative_to(sset.origin).as_posix()
            except ValueError:
                continue
            # A file it would read, or a directory renamed or deleted with its files.
            if sset.wants(rel) or (
                sset.only is None
                and p.is_dir()
                and not any(part.startswith(".") for part in rel.split("/"))
            ):
                return True
        return False

    return check


def _roots(sets: list[SourceSet]) -> list[Path]:
    roots = []
    for sset in sets:
        if sset.kind in ("url", "url-zip"):
            raise ConfigError(
                f"cannot watch a URL: {sset.origin}",
                hint="watch local folders or files; ingest URLs without --watch",
            )
        # A zip or a single file: its folder is watched (editors save by renaming).
        roots.append(Path(sset.origin).parent if sset.kind == "zip" else Path(sset.origin))
    return sorted(set(roots))


def _watchfiles_changes(
    roots: list[Path], stop: threading.Event, quiet_s: float, max_wait_s: float, _poll_s: float
) -> Iterator[set[str]]:
    import watchfiles

    for changes in watchfiles.watch(
        *roots,
        debounce=int(max_wait_s * 1000),
        step=int(quiet_s * 1000),
        stop_event=stop,
        raise_interrupt=False,
    ):
        yield {path for _, path in changes}


def _snapshot(roots: list[Path]) -> dict[str, tuple[int, int]]:
    snap: dict[str, tuple[int, int]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                snap[path] = (st.st_size, st.st_mtime_ns)
    return snap


def _polling_changes(
    roots: list[Path], stop: threading.Event, quiet_s: float, max_wait_s: float, poll_s: float
) -> Iterator[set[str]]:
    before = _snapshot(roots)
    while not stop.wait(poll_s):
        now = _snapshot(roots)
        if now == before:
            continue
        # Wait for a quiet period: the tree must stop changing (or max_wait_s pass).
        started = time.monotonic()
        settled = now
        while not stop.wait(quiet_s) and time.monotonic() - started < max_wait_s:
            again = _snapshot(roots)
            if again == settled:
                break
            settled = again
        changed = {p for p in set(before) | set(settled) if before.get(p) != settled.get(p)}
        # A deleted or renamed directory shows as its files; name the directory too.
        changed |= {str(Path(p).parent) for p in changed if not Path(p).parent.exists()}
        before = settled
        yield changed


_BACKENDS = {"watchfiles": _watchfiles_changes, "polling": _polling_changes}


def _start(
    backend: str,
    roots: list[Path],
    stop: threading.Event,
    quiet_s: float,
    max_wait_s: float,
    poll_s: float,
) -> queue.Queue[set[str] | BaseException]:
    """Watch in a thread from now on: changes made during the first round are not missed."""
    out: queue.Queue[set[str] | BaseException] = queue.Queue()
    ready = threading.Event()

    def run() -> None:
        try:
            changes = _BACKENDS[backend](roots, stop, quiet_s, max_wait_s, poll_s)
            ready.set()
            for batch in changes:
                out.put(batch)
        except BaseException as exc:  # the caller's thread raises it
            out.put(exc)
        finally:
            ready.set()

    threading.Thread(target=run, daemon=True, name="ossrag-watch").start()
    ready.wait(timeout=10.0)
    return out


def watch(
    specs: list[str],
    run_round: Callable[[], IngestReport],
    *,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    on_round: Callable[[WatchRound], None] | None = None,
    stop: threading.Event | None = None,
    quiet_s: float = 0.5,
    max_wait_s: float = 10.0,
    poll_s: float = 1.0,
    backend: str = "auto",
    ignore: list[str] | tuple[str, ...] = (),
) -> int:
    """Run ``run_round`` now and after every quiet period following relevant changes.

    Returns the number of rounds after the first once ``stop`` is set. Ctrl-C
    (KeyboardInterrupt) stops the watcher and is raised; a round it cut short is
    finished by the next start, like any interrupted ingest. ``backend`` is ``"auto"``
    (watchfiles when installed), ``"watchfiles"`` or ``"polling"``; ``ignore``
    lists paths whose changes never count (the Milvus Lite database).
    """
    stop = stop or threading.Event()
    sets = [discover(spec, include=list(include), exclude=list(exclude)) for spec in specs]
    roots = _roots(sets)
    if backend == "auto":
        backend = "watchfiles" if importlib.util.find_spec("watchfiles") else "polling"
    if backend not in _BACKENDS:
        raise ConfigError(
            f"unknown watch backend {backend!r}", hint="use auto, watchfiles or polling"
        )
    relevant = _relevant(sets, [Path(p).resolve() for p in ignore])
    changes = _start(backend, roots, stop, quiet_s, max_wait_s, poll_s)
    rounds = 0
    try:
        report = run_round()
        if on_round is not None:
            on_round(WatchRound(0, report, backend=backend))
        while not stop.is_set():
            try:
                batches = [changes.get(timeout=0.2)]
            except queue.Empty:
                continue
            while not changes.empty():  # changes already waiting join this round
                batches.append(changes.get_nowait())
            for batch in batches:
                if isinstance(batch, BaseException):
                    raise batch
            paths = sorted({p for batch in batches for p in batch if relevant(p)})  # type: ignore[union-attr]
            if not paths:
                continue
            rounds += 1
            report = run_round()
            if on_round is not None:
                on_round(WatchRound(rounds, report, _shorten(paths, roots), backend))
    finally:
        stop.set()  # ends the watching thread, also on Ctrl-C or an error
    return rounds


def _shorten(paths: list[str], roots: list[Path]) -> list[str]:
    out = []
    for p in paths:
        for root in roots:
            try:
                out.append(Path(p).relative_to(root).as_posix())
                break
            except ValueError:
                continue
        else:
            out.append(p)
    return out
