"""The ``ossrag`` command: a thin front end on the library.

    ossrag ingest docs/ --include '**/*.md'
    ossrag search "where is data stored?" -k 3 --json
    ossrag ask "Where does Milvus store data?" -m ollama:gpt-oss:20b --effort low --show-reasoning
    ossrag kb list | kb info [NAME] | kb drop [NAME] --yes
    ossrag doctor
    ossrag demo

One module per sub-command (``cli/ingest.py``, ``cli/ask.py``, ...), the
parser in :mod:`ossrag.cli.parser`, everything printed in
:mod:`ossrag.cli.output`. The answer goes to stdout and reasoning (with
``--show-reasoning``) dimmed to stderr. User errors print one line that says
how to fix them and exit non-zero; ``OSSRAG_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ..config import Settings
from ..errors import OssragError
from . import ask, compare, demo, doctor, evaluate, ingest, kb, llama_server, search
from .output import install_log_handler, safe_streams
from .parser import build_parser, settings_from

__all__ = [
    "COMMANDS",
    "build_parser",
    "main",
]

Handler = Callable[[argparse.Namespace, Settings], int]

COMMANDS: dict[str, Handler] = {
    "ingest": ingest.run,
    "search": search.run,
    "ask": ask.run_ask,
    "chat": ask.run_chat,
    "kb": kb.run,
    "eval": evaluate.run,
    "compare": compare.run,
    "report": compare.run_report,
    "doctor": lambda args, settings: doctor.run(settings),
    "demo": lambda args, settings: demo.run(settings, model=args.model, answer=not args.no_answer),
}


def _fail(exc: OssragError) -> int:
    if os.environ.get("OSSRAG_DEBUG") == "1":
        raise exc
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ossrag ARGS``; returns the exit code."""
    with safe_streams():  # document and model text cannot drive the terminal
        return _main(list(sys.argv[1:] if argv is None else argv))


def _main(argv: list[str]) -> int:
    install_log_handler()
    if argv[:1] == ["llama-server"]:  # llama_cpp.server parses its own flags
        try:
            llama_server.run(argv[1:])
        except OssragError as exc:
            return _fail(exc)
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args, settings_from(args))
    except OssragError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
