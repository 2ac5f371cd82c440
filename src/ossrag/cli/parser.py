"""The ``ossrag`` argument parser: every flag, and the settings and search options they make.

    args = build_parser().parse_args(["search", "where is data stored?", "-k", "5"])
    settings = settings_from(args)         # flags > OSSRAG_* > ossrag.toml > defaults
    search_kwargs(args, settings)          # {"k": 5, "mode": None, "filter": ""}

Global options (``--db/--uri``, ``--token``, ``--kb``, ``--embedder``) work
before or after the sub-command: ``default=SUPPRESS`` keeps a sub-parser's
default from overwriting what was given first. Each command's arguments are in
:mod:`._parser_ingest` and :mod:`._parser_commands`, the option groups they
share in :mod:`._parser_options`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._version import __version__
from ..config import LIMIT_FIELDS, MODEL_FLAGS, TARGET_FLAGS, Settings
from ..retrieval.filters import build_filter, parse_meta
from ._parser_commands import add_compare_and_report, add_kb_and_eval, add_search_and_ask
from ._parser_ingest import add_ingest
from ._parser_options import MODES, TEMPLATES, global_options

__all__ = [
    "MODES",
    "TEMPLATES",
    "build_parser",
    "retrieval_kwargs",
    "search_kwargs",
    "settings_from",
]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``ossrag`` command line."""
    common = global_options()
    parser = argparse.ArgumentParser(
        prog="ossrag",
        parents=[common],
        description="Local-first, reasoning-aware RAG with gpt-oss and Milvus.",
    )
    parser.add_argument("--version", action="version", version=f"ossrag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_ingest(sub, common)
    add_search_and_ask(sub, common)
    add_kb_and_eval(sub, common)
    add_compare_and_report(sub, common)
    sub.add_parser(
        "doctor", parents=[common], help="check versions, Milvus target, embedder and models"
    )
    # ossrag.main hands these to ossrag.server; listed here for --help.
    sub.add_parser(
        "serve",
        add_help=False,
        help="OpenAI-compatible API, MCP and a web page (ossrag serve --help)",
    )
    sub.add_parser("mcp", add_help=False, help="MCP server over stdio (ossrag mcp --help)")
    # Its flags are llama_cpp.server's; main() hands them over unparsed.
    sub.add_parser(
        "llama-server",
        add_help=False,
        help="llama-cpp-python's OpenAI-compatible server, safe on AMX CPUs (--help: its flags)",
    )
    p = sub.add_parser("demo", parents=[common], help="offline demo on the bundled docs")
    p.add_argument(
        "-m", "--model", default=None, help="model for the demo answer (default local:smollm2)"
    )
    p.add_argument("--no-answer", action="store_true", help="skip the answering step")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings with the flags that were given on top (``None`` means "not given")."""
    given = vars(args)
    # Every flag made from the shared tables, so that a new one cannot be parsed and
    # then dropped here (as --translate once was).
    keys = (
        *(dest for _, dest, _ in (*TARGET_FLAGS, *MODEL_FLAGS)),
        "effort",
        "top_k",
        "mode",
        *LIMIT_FIELDS,
    )
    overrides = {key: given.get(key) for key in keys}
    if given.get("command") == "kb" and given.get("name"):
        overrides["kb"] = given["name"]  # `ossrag kb drop NAME` names the KB directly
    return Settings.load(overrides)


def retrieval_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The retrieval flags that were given, as ``kb.search`` keywords (filter included)."""
    meta = parse_meta(getattr(args, "meta", None) or [])
    kwargs: dict[str, Any] = {
        "filter": build_filter(
            getattr(args, "filter", ""), getattr(args, "source_glob", None), meta
        )
    }
    for flag in (
        "fusion",
        "dense_weight",
        "rrf_k",
        "min_score",
        "mmr_lambda",
        "rerank",
        "rerank_candidates",
    ):
        if getattr(args, flag, None) is not None:
            kwargs[flag] = getattr(args, flag)
    if getattr(args, "mmr", False):
        kwargs["mmr"] = True
    if getattr(args, "expand", 0):
        kwargs["expand"] = args.expand
    return kwargs


def search_kwargs(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``kb.search`` keywords for a command with retrieval flags: k and mode, then the rest."""
    return {"k": settings.top_k, "mode": settings.mode, **retrieval_kwargs(args)}
