"""Copy a knowledge base between stores (Milvus Lite, a Milvus server or cluster, Zilliz
Cloud), vectors included: nothing is embedded again.

    from ossrag.stores import make_store
    from ossrag.stores.copy import copy_kb

    report = copy_kb(make_store("./ossrag.db"), "docs",
                     make_store("http://milvus:19530", token="root:Milvus"))
    report.rows, report.seconds

The destination records the source's embedder, so it is searched with the
same one; an existing destination built with another embedder is refused
(:class:`~ossrag.errors.EmbedderMismatchError`). The destination ends as a
mirror: rows are upserted by id in pages, then rows the source does not have
are deleted, so an interrupted copy is finished by running it again, and a
copy onto an older copy updates it. Each target keeps its own index (FLAT on
Milvus Lite, HNSW on a server): moving a knowledge base to a server is how it
gets an index for its size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, StoreError
from .base import VectorStore

__all__ = ["CopyReport", "copy_kb"]


@dataclass
class CopyReport:
    """What :func:`copy_kb` did."""

    kb: str
    to_kb: str
    embedder: str
    dim: int
    rows: int  # rows written to the destination
    deleted: int  # destination rows the source did not have
    seconds: float


def copy_kb(
    src: VectorStore,
    kb: str,
    dst: VectorStore,
    to_kb: str | None = None,
    *,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> CopyReport:
    """Copy ``kb`` of ``src`` to ``to_kb`` (default: the same name) of ``dst``.

    ``progress(done, total)`` is called after each page of rows.
    """
    started = time.perf_counter()
    to_kb = to_kb or kb
    if _where(src.uri) == _where(dst.uri) and kb.replace("-", "_") == to_kb.replace("-", "_"):
        raise ConfigError(
            f"cannot copy knowledge base {kb!r} onto itself",
            hint="name another target with --to, or another --to-kb",
        )
    info = src.info(kb)
    dst.ensure_collection(to_kb, embedder=info.embedder, dim=info.dim)
    before = {i for rows in dst.source_rows(to_kb).values() for i in rows.ids}
    seen: set[str] = set()
    done = 0
    if progress is not None:
        progress(0, info.rows)
    for page in src.iter_rows(kb, batch_size=batch_size):
        dst.upsert(to_kb, page)
        done += len(page)
        if before:
            seen.update(r["id"] for r in page)
        if progress is not None:
            progress(done, info.rows)
    stale = sorted(before - seen) if before else []
    if stale:
        dst.delete_ids(to_kb, stale)
    dst.flush(to_kb)
    copied = dst.count(to_kb)
    if copied != src.count(kb):
        raise StoreError(
            f"copy of {kb!r} has {copied} rows, the source {src.count(kb)}",
            hint="was the source written to during the copy? Run the copy again",
        )
    return CopyReport(
        kb=kb,
        to_kb=to_kb,
        embedder=info.embedder,
        dim=info.dim,
        rows=done,
        deleted=len(stale),
        seconds=time.perf_counter() - started,
    )


def _where(uri: str) -> str:
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))
