"""The arguments of ``search``, ``ask``, ``chat``, ``kb``, ``eval``, ``compare`` and ``report``.

    add_search_and_ask(sub, common)       # search, ask, chat
    add_kb_and_eval(sub, common)          # kb, eval retrieval
    add_compare_and_report(sub, common)   # compare, report

``sub`` is the sub-parsers action of :func:`ossrag.cli.parser.build_parser`,
``common`` the global options every sub-command takes.  Private to
:mod:`ossrag.cli.parser`; the shared option groups are in :mod:`._parser_options`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config import DEFAULT_RUNS_DB
from ._parser_options import TEMPLATES, answer_options, retrieval_options, search_options

__all__ = ["add_compare_and_report", "add_kb_and_eval", "add_search_and_ask"]


def add_search_and_ask(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("search", parents=[common], help="search a knowledge base")
    p.add_argument("query")
    search_options(p)
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = sub.add_parser("ask", parents=[common], help="answer a question from a knowledge base")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--agent",
        action="store_true",
        help="agent mode: the model searches the knowledge base itself (tool calls)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=4,
        metavar="N",
        help="agent mode: model turns that may search before it must answer (default 4)",
    )
    p.add_argument(
        "--schema",
        default=None,
        metavar="FILE.json",
        help='answer as JSON valid against this JSON Schema (--json: under "data")',
    )
    search_options(p)
    answer_options(p)

    p = sub.add_parser("chat", parents=[common], help="multi-turn chat")
    search_options(p)
    answer_options(p)


def add_kb_and_eval(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("kb", parents=[common], help="list, inspect, copy or drop knowledge bases")
    p.add_argument("action", choices=["list", "info", "copy", "drop"])
    p.add_argument(
        "name", nargs="?", default=None, help="knowledge base for info/copy/drop (default: --kb)"
    )
    p.add_argument("--yes", action="store_true", help="drop without asking")
    p.add_argument(
        "--to",
        dest="to_uri",
        default=None,
        metavar="URI",
        help="copy: the target, a Milvus Lite file or a server/Zilliz Cloud URI",
    )
    p.add_argument(
        "--to-token",
        default=None,
        metavar="TOKEN",
        help="copy: the target's token (or OSSRAG_TO_TOKEN)",
    )
    p.add_argument(
        "--to-kb", default=None, metavar="NAME", help="copy: the name there (default: the same)"
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "eval", parents=[common], help="evaluate retrieval on a labelled question set"
    )
    p.add_argument("what", choices=["retrieval"])
    p.add_argument("dataset", help='JSONL, one {"question": ..., "relevant": [...]} per line')
    p.add_argument("--modes", default="dense,bm25,hybrid", help="comma-separated search modes")
    p.add_argument("-k", "--top-k", dest="top_k", type=int, default=10, help="cut-off (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    retrieval_options(p.add_argument_group("retrieval (applied to every mode)"))


def add_compare_and_report(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "compare", parents=[common], help="compare models and efforts on your own questions"
    )
    p.add_argument(
        "questions",
        help='JSONL: {"question", "reference"?, "relevant"?, "answerable"?} '
        'per line; "sample" uses the bundled questions about ossrag\'s docs',
    )
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated model strings, e.g. "
        "local:smollm2,ollama:gpt-oss:20b (default: --model setting)",
    )
    p.add_argument("--efforts", default=None, help="comma-separated efforts, e.g. low,medium,high")
    p.add_argument("--judge", default=None, help="model that grades correctness and faithfulness")
    p.add_argument(
        "--runs-db",
        dest="db",
        default=DEFAULT_RUNS_DB,
        help=f"SQLite file for runs (default {DEFAULT_RUNS_DB})",
    )
    p.add_argument(
        "--run-id", default=None, help="name of the run (re-running the same id resumes it)"
    )
    p.add_argument(
        "--resume", action="store_true", help="resume the latest run with the same settings"
    )
    p.add_argument(
        "--concurrency", type=int, default=2, help="parallel requests per provider (default 2)"
    )
    p.add_argument("--template", choices=TEMPLATES, default="cited")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--prices", default=None, help="JSON/TOML file overriding the price table")
    p.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible server for models without a provider prefix",
    )
    p.add_argument(
        "--agent",
        action="store_true",
        help="answer in agent mode (each model searches itself) instead of from fixed passages",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=4,
        metavar="N",
        help="agent mode: search turns per answer (default 4)",
    )
    p.add_argument("--json", action="store_true")
    search_options(p)

    p = sub.add_parser("report", parents=[common], help="write the HTML report of a compare run")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the latest)")
    p.add_argument("-o", "--output", default="ossrag-report.html")
    p.add_argument("--runs-db", dest="db", default=DEFAULT_RUNS_DB)
