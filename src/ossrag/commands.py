"""Implementations of the ``ossrag`` sub-commands (parsing lives in :mod:`ossrag.cli`).

Each ``cmd_NAME(args, settings) -> exit code``. Results go to stdout, progress,
warnings and reasoning to stderr, so ``ossrag search --json ... | jq`` works.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cli import _parse_meta, print_json, retrieval_kwargs
from .config import Settings
from .errors import ConfigError, StoreError
from .kb import KnowledgeBase
from .types import Answer, Hit

__all__ = [
    "cmd_ask",
    "cmd_chat",
    "cmd_compare",
    "cmd_demo",
    "cmd_doctor",
    "cmd_eval",
    "cmd_ingest",
    "cmd_kb",
    "cmd_report",
    "cmd_search",
]

DIM = "\x1b[2m"
RESET = "\x1b[0m"


def _kb(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase(settings=settings)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kb(settings)
    report = kb.ingest(
        *args.sources,
        include=args.include,
        exclude=args.exclude,
        splitter=args.splitter,
        chunk_size=args.chunk_size,
        chunk_overlap=args.chunk_overlap,
        metadata=_parse_meta(args.meta),
        prune=not args.no_prune,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{kb.name}: {report.summary()}")
        for s in report.skipped:
            print(f"  skipped {s.source}: {s.reason}", file=sys.stderr)
    return 0


def _search_kwargs(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    return {"k": settings.top_k, "mode": settings.mode, **retrieval_kwargs(args)}


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kb(settings)
    kwargs = _search_kwargs(args, settings)
    if not kb.store.exists(kb.name):
        raise StoreError(
            f"knowledge base {kb.name!r} does not exist at {settings.uri}",
            hint="ingest documents first: ossrag ingest PATH (or check --kb / --db)",
        )
    # kb.search picks the default mode itself, so it can warn when hybrid is unavailable.
    hits = kb.search(args.query, **kwargs)
    mode = kb.search_mode(kwargs["mode"])
    if args.json:
        print_json({"query": args.query, "kb": kb.name, "mode": mode, "hits": [h.to_dict() for h in hits]})
        return 0
    if not hits:
        print("no results")
    for i, hit in enumerate(hits, start=1):
        print(f"[{i}] {hit.score:.4f}  {hit.source}" + (f"  ({hit.heading})" if hit.heading else ""))
        snippet = " ".join(hit.text.split())
        print(f"    {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    return 0


def _print_sources(answer: Answer) -> None:
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            if c.valid:
                print(f"  [{c.n}] {c.source}" + (f" — {c.heading}" if c.heading else ""))
            else:
                print(f"  [{c.n}] (cited, but no passage {c.n} was given)")
    elif answer.hits:
        print("\nRetrieved passages:")
        for i, h in enumerate(answer.hits, start=1):
            print(f"  [{i}] {h.source}" + (f" — {h.heading}" if h.heading else ""))


def _stream_answer(kb: KnowledgeBase, question: str, args: argparse.Namespace, settings: Settings,
                   history: list[dict[str, Any]] | None = None, quiet: bool = False) -> Answer:
    run = kb.stream(
        question,
        model=settings.model,
        effort=settings.effort,
        template=args.template,
        max_tokens=args.max_tokens,
        history=history,
        base_url=settings.base_url,
        search=_search_kwargs(args, settings),
    )
    dim = sys.stderr.isatty()
    in_reasoning = False
    for ev in run:
        if quiet:
            continue
        if ev.type == "reasoning" and args.show_reasoning:
            sys.stderr.write((DIM if dim and not in_reasoning else "") + ev.delta)
            sys.stderr.flush()
            in_reasoning = True
        elif ev.type == "text":
            if in_reasoning:
                sys.stderr.write((RESET if dim else "") + "\n")
                in_reasoning = False
            sys.stdout.write(ev.delta)
            sys.stdout.flush()
    if in_reasoning:
        sys.stderr.write((RESET if dim else "") + "\n")
    assert run.answer is not None
    return run.answer


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "agent", False) or getattr(args, "schema", None):
        from .agent import cmd_ask_agent  # --agent and/or --schema (structured.py)

        return cmd_ask_agent(args, settings)
    kb = _kb(settings)
    answer = _stream_answer(kb, args.question, args, settings, quiet=args.json)
    return finish_answer(answer, args)


def finish_answer(answer: Answer, args: argparse.Namespace) -> int:
    """Print what follows a streamed answer (JSON, or sources) and its warnings.

    Exit code 1 when the answer is incomplete (the stream broke off).
    """
    if args.json:
        print_json(answer.to_dict())
    elif getattr(args, "schema", None):
        print(json.dumps(getattr(answer, "data", None), ensure_ascii=False, indent=2))
    else:
        print()
        _print_sources(answer)
    for w in answer.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not answer.complete:
        print("warning: the answer is incomplete (the stream broke off)", file=sys.stderr)
        return 1
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kb(settings)
    history: list[dict[str, Any]] = []
    print(f"ossrag chat — kb {kb.name!r}, model {settings.model}. Empty line or Ctrl-D to quit.",
          file=sys.stderr)
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question or question in ("/quit", "/exit"):
            break
        answer = _stream_answer(kb, question, args, settings, history=history)
        print()
        _print_sources(answer)
        for w in answer.warnings:
            print(f"warning: {w}", file=sys.stderr)
        # Harmony's rule: once a turn has a final answer, its reasoning is not sent again.
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    return 0


def cmd_kb(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kb(settings)
    store = kb.store
    if args.action == "list":
        names = store.list_kbs()
        if args.json:
            print_json([vars(store.info(n)) for n in names])
        elif not names:
            print(f"no knowledge bases at {settings.uri}")
        for n in names if not args.json else []:
            info = store.info(n)
            print(f"{n}\t{info.rows} chunks\t{info.sources} sources\t{info.embedder}")
        return 0
    if not store.exists(kb.name):
        raise StoreError(f"no knowledge base {kb.name!r} at {settings.uri}", hint="see: ossrag kb list")
    if args.action == "info":
        info = store.info(kb.name)
        if args.json:
            print_json(vars(info))
        else:
            for key, value in vars(info).items():
                print(f"{key}: {value}")
            print(f"target: {store.capabilities.describe()}")
            if info.bm25 and info.schema < 2:
                print(f"note: BM25 in this knowledge base ignores headings (schema {info.schema}); "
                      f"to upgrade: ossrag kb drop {kb.name} --yes, then ingest again")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"refusing to drop {kb.name!r} without confirmation", hint="add --yes")
        if input(f"drop knowledge base {kb.name!r} at {settings.uri}? [y/N] ").strip().lower() != "y":
            print("not dropped")
            return 1
    store.drop(kb.name)
    print(f"dropped {kb.name}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation.retrieval_eval import run_cli

    return run_cli(args, settings)


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation.compare import cmd_compare as run

    return run(args, settings)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation.report import cmd_report as run

    return run(args, settings)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .doctor import run_doctor

    return run_doctor(settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return run_demo(settings, model=args.model, answer=not args.no_answer)


def format_hit(hit: Hit) -> str:
    return f"{hit.score:.3f} {hit.source}" + (f" — {hit.heading}" if hit.heading else "")
