"""The ``ossrag`` console script: the server's commands, or the CLI's.

``ossrag serve`` and ``ossrag mcp`` belong to :mod:`ossrag.server`, every other
command to :mod:`ossrag.cli`; the two front ends never import each other, and
the server (FastAPI, uvicorn, the MCP SDK: the ``serve`` extra) is imported
only when asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .config import TARGET_FLAGS

__all__ = [
    "INSTALL_HINT",
    "SERVER_COMMANDS",
    "main",
]

SERVER_COMMANDS = ("serve", "mcp")
INSTALL_HINT = "pip install 'ossrag[serve]'"


_VALUED = frozenset(f for flags, _, _ in TARGET_FLAGS for f in flags)


def _command_at(args: list[str]) -> int:
    """Index of the command in ``args``, past the target flags the CLI takes before it.

    ``ossrag --db kb.db serve`` must reach the server just as
    ``ossrag serve --db kb.db`` does: every other command accepts ``--db``/``--kb``/...
    first.
    """
    i = 0
    while i < len(args):
        if args[i] in _VALUED:
            i += 2
        elif args[i].split("=", 1)[0] in _VALUED:
            i += 1
        else:
            break
    return i


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ossrag ARGS``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    at = _command_at(args)
    if at < len(args) and args[at] in SERVER_COMMANDS:
        # The server's parser takes the target flags after its command.
        args = [args[at], *args[:at], *args[at + 1 :]]
        try:
            # Imported here: the server's dependencies are an optional extra.
            from .server.cli import main as server_main
        except ImportError as exc:
            print(
                f"error: ossrag {args[0]} needs {exc.name}, which is not installed "
                f"(hint: {INSTALL_HINT})",
                file=sys.stderr,
            )
            return 2
        return server_main(args)
    from .cli import main as cli_main

    return cli_main(args)
