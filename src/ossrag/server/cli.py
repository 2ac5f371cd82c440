"""``ossrag serve`` and ``ossrag mcp``: the server's own command line.

    ossrag serve                                  # http://127.0.0.1:8000, the page at /
    ossrag serve --host 0.0.0.0 --port 8080       # needs OSSRAG_API_KEY
    ossrag serve --reasoning-content              # also emit reasoning_content
    ossrag serve --watch ~/handbook               # the default KB follows the folder
    ossrag mcp                                    # MCP over stdio (nothing but protocol on stdout)

The Milvus target and the answering model come from the same flags,
``OSSRAG_*`` variables and ``ossrag.toml`` as every other command
(:data:`ossrag.config.TARGET_FLAGS`, :data:`ossrag.config.MODEL_FLAGS`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import EFFORTS, MODEL_FLAGS, TARGET_FLAGS, Settings
from ..errors import OssragError
from .config import ServerConfig

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ossrag", description="ossrag as a service")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="OpenAI-compatible API, MCP at /mcp and a web page at /")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--reasoning-content",
        action="store_true",
        help="also emit reasoning as reasoning_content (Open WebUI, LM Studio clients)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="URL",
        help="allow browser requests from this origin (repeatable; default: none)",
    )
    serve.add_argument(
        "--max-concurrent",
        type=int,
        default=4,
        metavar="N",
        help="requests one client may have in flight (default 4)",
    )
    serve.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="base URL clients reach the server at (for citation links)",
    )
    serve.add_argument(
        "--allow-model",
        action="append",
        default=None,
        metavar="PATTERN",
        help="answering models clients may name as KB@MODEL, e.g. 'ollama:*' "
        "(repeatable; default: any on 127.0.0.1, else only --model)",
    )
    serve.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="DIR",
        help="keep the default knowledge base in sync with this folder "
        "(repeatable; an initial sync, then a round after each burst of changes)",
    )
    mcp = sub.add_parser("mcp", help="MCP server over stdio (for agents and desktop clients)")
    for p in (serve, mcp):
        g = p.add_argument_group("knowledge bases and model")
        for flags, dest, help_ in (*TARGET_FLAGS, *MODEL_FLAGS):
            g.add_argument(
                *flags,
                dest=dest,
                default=None,
                help=help_,
                type=float if dest in ("timeout", "max_time") else str,
            )
        g.add_argument(
            "--effort",
            choices=list(EFFORTS),
            default=None,
            help="default reasoning effort (requests may set their own)",
        )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    keys = [dest for _, dest, _ in (*TARGET_FLAGS, *MODEL_FLAGS)] + ["effort"]
    return Settings.load({k: getattr(args, k, None) for k in keys})


def main(argv: Sequence[str]) -> int:
    """Run ``ossrag serve ...`` or ``ossrag mcp ...``; returns the exit code."""
    args = build_parser().parse_args(list(argv))
    try:
        settings = _settings(args)
        if args.command == "mcp":
            from .mcp import run_stdio

            run_stdio(settings)
            return 0
        import uvicorn

        from .app import create_app

        config = ServerConfig.from_env(
            host=args.host,
            port=args.port,
            reasoning_content=args.reasoning_content,
            cors_origins=args.cors_origin,
            max_concurrent_per_client=args.max_concurrent,
            public_url=args.public_url,
            allowed_models=args.allow_model,
            watch=[str(Path(d).expanduser().resolve()) for d in args.watch],
        )
        app = create_app(settings, config)
        print(
            f"ossrag serve: {config.base_url} (knowledge bases in {settings.uri})", file=sys.stderr
        )
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
        return 0
    except OssragError as exc:
        if os.environ.get("OSSRAG_DEBUG") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
