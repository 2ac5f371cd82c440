"""``ossrag search QUERY [-k N] [--mode dense|bm25|hybrid] [filters] [--json]``."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..errors import StoreError
from ..kb import KnowledgeBase
from .output import print_json
from .parser import search_kwargs

__all__ = ["run"]


def run(args: argparse.Namespace, settings: Settings) -> int:
    kb = KnowledgeBase(settings=settings)
    kwargs = search_kwargs(args, settings)
    if not kb.store.exists(kb.name):
        raise StoreError(
            f"knowledge base {kb.name!r} does not exist at {settings.uri}",
            hint="ingest documents first: ossrag ingest PATH (or check --kb / --db)",
        )
    # kb.search picks the default mode itself, so it can warn when hybrid is unavailable.
    hits = kb.search(args.query, **kwargs)
    mode = kb.search_mode(kwargs["mode"])
    if args.json:
        print_json(
            {"query": args.query, "kb": kb.name, "mode": mode, "hits": [h.to_dict() for h in hits]}
        )
        return 0
    if not hits:
        print("no results")
    for i, hit in enumerate(hits, start=1):
        print(
            f"[{i}] {hit.score:.4f}  {hit.source}" + (f"  ({hit.heading})" if hit.heading else "")
        )
        snippet = " ".join(hit.text.split())
        print(f"    {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    return 0
