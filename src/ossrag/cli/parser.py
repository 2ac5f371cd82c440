"""The ``ossrag`` argument parser: every flag, and the settings and search options they make.

    args = build_parser().parse_args(["search", "where is data stored?", "-k", "5"])
    settings = settings_from(args)         # flags > OSSRAG_* > ossrag.toml > defaults
    search_kwargs(args, settings)          # {"k": 5, "mode": None, "filter": ""}

Global options (``--db/--uri``, ``--token``, ``--kb``, ``--embedder``) work
before or after the sub-command: ``default=SUPPRESS`` keeps a sub-parser's
default from overwriting what was given first.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._version import __version__
from ..config import DEFAULT_RUNS_DB, EFFORTS, LIMIT_FIELDS, MODEL_FLAGS, TARGET_FLAGS, Settings
from ..retrieval.filters import build_filter, parse_meta

__all__ = [
    "MODES",
    "TEMPLATES",
    "build_parser",
    "retrieval_kwargs",
    "search_kwargs",
    "settings_from",
]

MODES = ["dense", "bm25", "hybrid"]
TEMPLATES = ["cited", "tutorial"]


def _global_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("Milvus target")
    for flags, dest, help_ in TARGET_FLAGS:
        g.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=help_)
    return p


def _search_options(p: argparse.ArgumentParser) -> None:
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
    _retrieval_options(g)


def _retrieval_options(g: argparse._ActionsContainer) -> None:
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


def _answer_options(p: argparse.ArgumentParser) -> None:
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


def _add_ingest(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ingest", parents=[common], help="add or update documents in a knowledge base"
    )
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="file, directory, glob, .zip, or http(s) URL"
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files matching (repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files matching (repeatable)",
    )
    p.add_argument(
        "--splitter", choices=["auto", "markdown", "paragraph", "tutorial"], default=None
    )
    p.add_argument(
        "--chunk-size", type=int, default=None, help="max characters per chunk (default 1200)"
    )
    p.add_argument(
        "--chunk-overlap", type=int, default=None, help="characters of overlap (default 150)"
    )
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata added to every chunk",
    )
    p.add_argument(
        "--no-prune",
        action="store_true",
        help="keep files that disappeared from a re-ingested folder",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="then keep the knowledge base in sync as files change, until Ctrl-C",
    )
    p.add_argument(
        "--quiet-period",
        type=float,
        default=0.5,
        metavar="S",
        help="--watch: sync once no file has changed for S seconds (default 0.5)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _limit_options(p)


def _limit_options(p: argparse.ArgumentParser) -> None:
    """What an untrusted source may cost (IngestLimits); each also a setting/OSSRAG_* variable."""
    g = p.add_argument_group("limits for untrusted sources (docs/reliability.md)")
    g.add_argument(
        "--max-file-bytes",
        default=None,
        metavar="SIZE",
        help="skip larger files and zip entries (default 50MB) [OSSRAG_MAX_FILE_BYTES]",
    )
    g.add_argument(
        "--parse-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to parse one PDF (default 60) [OSSRAG_PARSE_TIMEOUT]",
    )
    g.add_argument(
        "--zip-max-bytes",
        default=None,
        metavar="SIZE",
        help="a zip's total uncompressed size (default 2GB) [OSSRAG_ZIP_MAX_BYTES]",
    )
    g.add_argument(
        "--zip-max-entries",
        type=int,
        default=None,
        metavar="N",
        help="entries in one zip (default 50000) [OSSRAG_ZIP_MAX_ENTRIES]",
    )
    g.add_argument(
        "--zip-max-ratio",
        type=float,
        default=None,
        metavar="R",
        help="compression ratio of a zip entry over 1 MiB (default 100) [OSSRAG_ZIP_MAX_RATIO]",
    )
    g.add_argument(
        "--max-download-bytes",
        default=None,
        metavar="SIZE",
        help="bytes one URL may send (default 512MB) [OSSRAG_MAX_DOWNLOAD_BYTES]",
    )
    g.add_argument(
        "--url-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to connect and between reads (default 30) [OSSRAG_URL_TIMEOUT]",
    )
    g.add_argument(
        "--url-total-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds for a whole download (default 300) [OSSRAG_URL_TOTAL_TIMEOUT]",
    )
    g.add_argument(
        "--allow-private-urls",
        action="store_true",
        default=None,
        help="fetch URLs on loopback, private, link-local and metadata addresses "
        "[OSSRAG_ALLOW_PRIVATE_URLS=1]",
    )
    g.add_argument(
        "--allow-url-network",
        dest="allow_url_networks",
        action="append",
        default=None,
        metavar="CIDR",
        help="allow this non-public network or address only (repeatable) "
        "[OSSRAG_ALLOW_URL_NETWORKS=a,b]",
    )


def _add_search_and_ask(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("search", parents=[common], help="search a knowledge base")
    p.add_argument("query")
    _search_options(p)
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
    _search_options(p)
    _answer_options(p)

    p = sub.add_parser("chat", parents=[common], help="multi-turn chat")
    _search_options(p)
    _answer_options(p)


def _add_kb_and_eval(sub: Any, common: argparse.ArgumentParser) -> None:
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
    _retrieval_options(p.add_argument_group("retrieval (applied to every mode)"))


def _add_compare_and_report(sub: Any, common: argparse.ArgumentParser) -> None:
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
    _search_options(p)

    p = sub.add_parser("report", parents=[common], help="write the HTML report of a compare run")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the latest)")
    p.add_argument("-o", "--output", default="ossrag-report.html")
    p.add_argument("--runs-db", dest="db", default=DEFAULT_RUNS_DB)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``ossrag`` command line."""
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="ossrag",
        parents=[common],
        description="Local-first, reasoning-aware RAG with gpt-oss and Milvus.",
    )
    parser.add_argument("--version", action="version", version=f"ossrag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_ingest(sub, common)
    _add_search_and_ask(sub, common)
    _add_kb_and_eval(sub, common)
    _add_compare_and_report(sub, common)
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
