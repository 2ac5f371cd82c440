"""``ossrag compare QUESTIONS --models M1,M2 [--efforts low,high] [--judge M]`` and ``ossrag report``."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from ..config import DEFAULT_RUNS_DB, Settings
from ..evaluation.compare import parse_efforts, run_compare
from ..evaluation.datasets import load_questions
from ..evaluation.report import (
    DEFAULT_REPORT,
    load_run,
    markdown_table,
    render_html,
    summary_markdown,
)
from ..kb import KnowledgeBase
from .output import print_json
from .parser import search_kwargs

__all__ = ["run", "run_report"]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    questions_file = args.questions
    if questions_file == "sample":  # the bundled questions about ossrag's own docs
        questions_file = str(resources.files("ossrag") / "data" / "sample_questions.jsonl")
    questions = load_questions(questions_file)
    models = [m for m in (args.models or settings.model).split(",") if m.strip()]
    efforts = parse_efforts(args.efforts) if args.efforts else [settings.effort]
    # The same retrieval options as `ossrag search` (-k, --mode, --filter, --source, --meta, ...).
    search = search_kwargs(args, settings) if hasattr(args, "source_glob") else {}
    kb = KnowledgeBase(settings=settings)
    try:
        summary = run_compare(
            kb,
            questions,
            models=models,
            efforts=efforts,
            judge=args.judge,
            db_path=args.db or DEFAULT_RUNS_DB,
            run_id=args.run_id,
            resume=bool(args.resume),
            concurrency=args.concurrency or 2,
            template=args.template or "cited",
            max_tokens=args.max_tokens,
            search_kwargs=search,
            prices=args.prices,
            questions_file=questions_file,
            progress=None if args.json else _progress,
            agent=bool(getattr(args, "agent", False)),
            max_steps=getattr(args, "max_steps", 4) or 4,
        )
    finally:
        kb.close()
    if args.json:
        print_json(summary.to_dict())
    else:
        print(summary_markdown(summary.db_path, summary.run_id))
        print(
            f"\nrun {summary.run_id}: {summary.answered} answered, {summary.skipped} already done, "
            f"{summary.errors} errors; HTML report: ossrag report {summary.run_id} "
            f"--runs-db {summary.db_path}",
            file=sys.stderr,
        )
    return 1 if summary.planned and summary.totals.get("errors") == summary.planned else 0


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    """``ossrag report [RUN] [-o FILE] [--runs-db FILE]``: write the HTML, print the Markdown table."""
    db = getattr(args, "db", None) or DEFAULT_RUNS_DB
    out = Path(getattr(args, "output", None) or DEFAULT_REPORT)
    data = load_run(db, getattr(args, "run", None))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    print(markdown_table(data["summary"], data["run"]["id"]))
    print(f"\nreport written to {out}", file=sys.stderr)
    return 0
