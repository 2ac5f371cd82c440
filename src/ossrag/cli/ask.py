"""``ossrag ask QUESTION`` (plain, ``--agent``, ``--schema FILE``) and ``ossrag chat``.

The answer streams to stdout; ``--show-reasoning`` streams the reasoning,
dimmed, to stderr; ``--json`` prints one object at the end instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..answering.schema import load_schema
from ..answering.structured import ask_structured
from ..config import Settings
from ..errors import ConfigError
from ..kb import KnowledgeBase
from ..types import Answer
from .output import EventPrinter, finish_answer, print_sources, print_warnings
from .parser import search_kwargs

__all__ = ["run_ask", "run_chat"]


def _stream(
    kb: KnowledgeBase,
    question: str,
    args: argparse.Namespace,
    settings: Settings,
    printer: EventPrinter,
    history: list[dict[str, Any]] | None = None,
) -> Answer:
    run = kb.stream(
        question,
        model=settings.model,
        effort=settings.effort,
        template=args.template,
        max_tokens=args.max_tokens,
        history=history,
        base_url=settings.base_url,
        search=search_kwargs(args, settings),
    )
    for ev in run:
        printer(ev)
    printer.close()
    assert run.answer is not None
    return run.answer


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    if args.agent and args.schema:
        raise ConfigError(
            "--agent and --schema cannot be combined yet",
            hint="drop one of them (--schema answers from the retrieved passages)",
        )
    kb = KnowledgeBase(settings=settings)
    printer = EventPrinter(
        show_reasoning=args.show_reasoning, text=not args.schema, quiet=args.json
    )
    answer: Answer
    if args.schema:
        answer = ask_structured(
            kb,
            args.question,
            load_schema(args.schema),
            model=settings.model,
            base_url=settings.base_url,
            search=search_kwargs(args, settings),
            effort=settings.effort,
            max_tokens=args.max_tokens,
            on_event=printer,
        )
        printer.close()
    elif args.agent:
        run = kb.agent_stream(
            args.question,
            model=settings.model,
            effort=settings.effort,
            max_steps=args.max_steps,
            max_tokens=args.max_tokens,
            base_url=settings.base_url,
            search=search_kwargs(args, settings),
        )
        for ev in run:
            printer(ev)
        printer.close()
        assert run.answer is not None
        answer = run.answer
    else:
        answer = _stream(kb, args.question, args, settings, printer)
    return finish_answer(answer, json_output=args.json, data=bool(args.schema))


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    kb = KnowledgeBase(settings=settings)
    history: list[dict[str, Any]] = []
    print(
        f"ossrag chat — kb {kb.name!r}, model {settings.model}. Empty line or Ctrl-D to quit.",
        file=sys.stderr,
    )
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question or question in ("/quit", "/exit"):
            break
        printer = EventPrinter(show_reasoning=args.show_reasoning)
        answer = _stream(kb, question, args, settings, printer, history=history)
        print()
        print_sources(answer)
        print_warnings(answer.warnings)
        # Harmony's rule: once a turn has a final answer, its reasoning is not sent again.
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
    return 0
