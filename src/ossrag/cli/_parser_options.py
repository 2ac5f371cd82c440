"""The option groups several ``ossrag`` sub-commands share: Milvus target, retrieval, answering.

    p = sub.add_parser("ask", parents=[global_options()])
    search_options(p)      # -k/--top-k, --mode and every retrieval flag
    answer_options(p)      # --model, --effort, --show-reasoning, --template, --max-tokens, ...

Private to :mod:`ossrag.cli.parser`, which builds the whole parser.
"""

from __future__ import annotations

import argparse

from ..config import EFFORTS, MODEL_FLAGS, TARGET_FLAGS

__all__ = [
    "MODES",
    "TEMPLATES",
    "answer_options",
    "global_options",
    "retrieval_options",
    "search_options",
]

MODES = ["dense", "bm25", "hybrid"]
TEMPLATES = ["cited", "tutorial"]


def global_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("Milvus target")
    for flags, dest, help_ in TARGET_FLAGS:
        g.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=help_)
    return p


def search_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("retrieval")
    g.add_argument(
        "-k", "--top-k", dest="top_k", type=int, default=None, help="passages to return (default 3)"
    )
    g.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="default: hybrid where the Milvus target supports BM25, else dense",
    )
    retrieval_options(g)


def retrieval_options(g: argparse._ActionsContainer) -> None:
    """Filters and retrieval tuning, shared by search, ask, chat, compare and eval."""
    g.add_argument(
        "--filter", default="", help="Milvus boolean expression, e.g. 'source like \"en/faq/%%\"'"
    )
    g.add_argument(
        "--source", dest="source_glob", default=None, help="only sources matching this glob"
    )
    g.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only chunks with this metadata",
    )
    g.add_argument(
        "--fusion",
        choices=["weighted", "rrf"],
        default=None,
        help="how hybrid merges dense and BM25 results (default weighted, see docs/benchmarks.md)",
    )
    g.add_argument(
        "--dense-weight",
        type=float,
        default=None,
        metavar="W",
        help="weight of dense scores in weighted fusion, 0-1 (default 0.7)",
    )
    g.add_argument("--rrf-k", type=int, default=None, help="RRF constant (default 60)")
    g.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="S",
        help="drop passages scoring below S on the mode's scale (see search --json)",
    )
    g.add_argument(
        "--mmr", action="store_true", help="prefer diverse passages (maximal marginal relevance)"
    )
    g.add_argument(
        "--mmr-lambda",
        type=float,
        default=None,
        metavar="L",
        help="MMR trade-off, 1 = relevance only, 0 = diversity only (default 0.7)",
    )
    g.add_argument(
        "--expand",
        type=int,
        default=0,
        metavar="N",
        help="merge N neighbouring chunks of the same section into each passage",
    )
    g.add_argument(
        "--rerank",
        default=None,
        metavar="cross-encoder:PATH|llm",
        help="rerank candidates with a local cross-encoder or the LLM (off by default)",
    )
    g.add_argument(
        "--rerank-candidates",
        type=int,
        default=None,
        metavar="N",
        help="candidates the reranker sees (default 20)",
    )


def answer_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("answering")
    for flags, dest, help_ in MODEL_FLAGS:
        g.add_argument(
            *flags,
            dest=dest,
            default=None,
            help=help_,
            type=float if dest in ("timeout", "max_time") else str,
        )
    g.add_argument(
        "--effort", choices=list(EFFORTS), default=None, help="reasoning effort (default medium)"
    )
    g.add_argument(
        "--show-reasoning",
        action="store_true",
        help="stream the model's reasoning, dimmed, to stderr",
    )
    g.add_argument("--template", choices=TEMPLATES, default="cited", help="prompt template")
    g.add_argument("--max-tokens", type=int, default=None, help="completion token budget")
