"""The ``ossrag`` console script: the server's commands, or the CLI's.

``ossrag serve`` and ``ossrag mcp`` belong to :mod:`ossrag.server`, every other
command to :mod:`ossrag.cli`; the two front ends never import each other, and
the server (FastAPI, uvicorn, the MCP SDK: the ``serve`` extra) is imported
only when asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = [
    "INSTALL_HINT",
    "SERVER_COMMANDS",
    "main",
]

SERVER_COMMANDS = ("serve", "mcp")
INSTALL_HINT = "pip install 'ossrag[serve]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ossrag ARGS``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] and args[0] in SERVER_COMMANDS:
        try:
            # Imported here: the server's dependencies are an optional extra.
            from .server.cli import main as server_main
        except ImportError as exc:
            print(f"error: ossrag {args[0]} needs {exc.name}, which is not installed "
                  f"(hint: {INSTALL_HINT})", file=sys.stderr)
            return 2
        return server_main(args)
    from .cli import main as cli_main

    return cli_main(args)
