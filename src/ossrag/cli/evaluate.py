"""``ossrag eval retrieval DATASET.jsonl [--modes dense,bm25,hybrid] [-k 10] [--json] [retrieval flags]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..evaluation.datasets import load_questions
from ..evaluation.retrieval_eval import (
    evaluate_retrieval,
    format_misses,
    format_table,
    parse_modes,
    to_json,
)
from ..kb import KnowledgeBase
from .output import print_json
from .parser import retrieval_kwargs

__all__ = ["run"]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the table and the missed questions per mode (or one JSON object).

    Reads ``args.dataset``, ``args.modes`` (default all three), ``args.top_k``
    (default 10, not the search default of 3), ``args.json`` and, when present,
    the retrieval flags, applied to every mode.
    """
    dataset = getattr(args, "dataset", None)
    if not dataset:
        raise ConfigError("no dataset given", hint="ossrag eval retrieval DATASET.jsonl")
    questions = load_questions(dataset)
    k = int(getattr(args, "top_k", None) or getattr(args, "k", None) or 10)
    modes = parse_modes(getattr(args, "modes", None))
    search_kwargs: dict[str, Any] = retrieval_kwargs(args)
    kb = KnowledgeBase(settings=settings)
    labelled = sum(1 for q in questions if q.relevant)
    if labelled < len(questions):
        print(
            f'note: {len(questions) - labelled} question(s) without "relevant" labels are not '
            "scored",
            file=sys.stderr,
        )
    results = evaluate_retrieval(kb, questions, modes=modes, k=k, search_kwargs=search_kwargs)
    if getattr(args, "json", False):
        data = to_json(results)
        data.update({"dataset": str(dataset), "kb": kb.name})
        print_json(data)
    else:
        print(f"{kb.name}: {labelled} questions from {dataset}, top {k}")
        print()
        print(format_table(results))
        for r in results:
            if not r.skipped:
                print()
                print(format_misses(r))
    return 0 if any(not r.skipped for r in results) else 1
