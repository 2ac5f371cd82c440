"""``ossrag kb list | kb info [NAME] | kb copy [NAME] --to URI | kb drop [NAME] --yes``."""

from __future__ import annotations

import argparse
import os
import sys

from ..config import Settings
from ..errors import ConfigError, StoreError
from ..kb import KnowledgeBase
from ..stores.milvus.sizing import advice, memory_estimate
from .output import print_json
from .progress import Progress

__all__ = ["run"]


def run(args: argparse.Namespace, settings: Settings) -> int:
    kb = KnowledgeBase(settings=settings)
    store = kb.store
    if args.action == "list":
        names = store.list_kbs()
        if args.json:
            print_json([vars(store.info(n)) for n in names])
            return 0
        if not names:
            print(f"no knowledge bases at {settings.uri}")
        for n in names:
            info = store.info(n)
            print(f"{n}\t{info.rows} chunks\t{info.sources} sources\t{info.embedder}")
        return 0
    if not store.exists(kb.name):
        raise StoreError(
            f"no knowledge base {kb.name!r} at {settings.uri}", hint="see: ossrag kb list"
        )
    if args.action == "info":
        info = store.info(kb.name)
        if args.json:
            print_json(vars(info))
            return 0
        for key, value in vars(info).items():
            print(f"{key}: {value}")
        print(f"target: {store.capabilities.describe()}")
        est = memory_estimate(info.rows, info.dim, info.index, bm25=info.bm25)
        print(f"memory when loaded: ~{est / 2**20:.0f} MiB (estimate, docs/milvus.md)")
        tip = advice(store.capabilities.kind, info.rows, bm25=info.bm25)
        if tip:
            print(f"note: {tip}")
        if info.bm25 and info.schema < 2:
            print(
                f"note: BM25 in this knowledge base ignores headings (schema {info.schema}); "
                f"to upgrade: ossrag kb drop {kb.name} --yes, then ingest again"
            )
        return 0
    if args.action == "copy":
        return _copy(kb, args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                f"refusing to drop {kb.name!r} without confirmation", hint="add --yes"
            )
        if (
            input(f"drop knowledge base {kb.name!r} at {settings.uri}? [y/N] ").strip().lower()
            != "y"
        ):
            print("not dropped")
            return 1
    store.drop(kb.name)
    print(f"dropped {kb.name}")
    return 0


def _copy(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    if not args.to_uri:
        raise ConfigError(
            "kb copy needs a target",
            hint="add --to URI, e.g. --to http://localhost:19530 or --to ./copy.db",
        )
    token = args.to_token or os.environ.get("OSSRAG_TO_TOKEN") or None
    with Progress(0, label="copying", unit="rows") as bar:
        report = kb.copy_to(
            args.to_uri, token=token, name=args.to_kb, progress=bar.set if bar.enabled else None
        )
    if args.json:
        print_json(vars(report))
        return 0
    deleted = f", {report.deleted} stale rows deleted there" if report.deleted else ""
    print(
        f"copied {report.kb} ({report.rows} rows, embedder {report.embedder}, "
        f"{report.dim}-d) to {report.to_kb} at {args.to_uri} in {report.seconds:.1f}s{deleted}; "
        "vectors copied, nothing re-embedded"
    )
    return 0
