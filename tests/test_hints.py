"""Every ``ossrag ...`` command that ossrag tells users to run is one its parser accepts.

Hints in error messages, usage lines in docstrings, and commands in the README
and docs/ are collected and parsed by the real parser (``build_parser``), so a
hint can never again name a flag or sub-command that does not exist.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from ossrag.cli.parser import build_parser
from ossrag.main import SERVER_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ossrag"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SUBCOMMANDS = (
    "ingest",
    "search",
    "ask",
    "chat",
    "kb",
    "eval",
    "compare",
    "report",
    "doctor",
    "demo",
    "llama-server",
    "serve",
    "mcp",
)
COMMAND = re.compile(r"(?<![\w/.-])ossrag (?:" + "|".join(SUBCOMMANDS) + r")\b(?!:)[^\n`]*")
# Where a command inside a sentence ends: a closing bracket, a clause, the next sentence.
_END = re.compile(r"\)|, | or | and | then |; |\. |\.$| — | \(|\|")


def _clean(cmd: str) -> str:
    cmd = cmd.split(" #")[0]  # a shell comment after the command
    cmd = re.sub(r"\s\[[^\]]*\]", "", cmd)  # optional parts of a synopsis: [--flag VALUE]
    cut = _END.search(cmd)
    cmd = cmd[: cut.start()] if cut else cmd
    return cmd.strip().rstrip(":.")


def _from_python() -> list[tuple[str, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in parts:
                continue  # a piece of an f-string, read with the whole string
            if isinstance(node, ast.JoinedStr):  # f-strings: placeholders become a word
                text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            for line in text.splitlines():
                found += [
                    (f"{path.relative_to(ROOT)}", _clean(m.group(0)))
                    for m in COMMAND.finditer(line)
                ]
    return found


def _from_docs() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            found += [(path.name, _clean(m.group(0))) for m in COMMAND.finditer(line)]
    return found


COMMANDS = sorted({c for c in _from_python() + _from_docs() if " " in c[1]})


def test_commands_were_found() -> None:
    assert len(COMMANDS) > 40
    assert {c.split()[1] for _, c in COMMANDS} >= {"ingest", "search", "ask", "kb", "compare"}


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_command_parses(where: str, command: str) -> None:
    if command.split()[1] == "llama-server":
        return  # its flags are llama_cpp.server's own, handed over unparsed
    argv = shlex.split(command)[1:]
    parser = build_parser()
    if argv[0] in SERVER_COMMANDS:  # ossrag.main hands these to the server's own parser
        parser = pytest.importorskip("ossrag.server.cli").build_parser()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code in (0, None):  # --help/--version exit 0
                return
            mention = len(argv) <= 2 and "arguments are required" in err.getvalue()
            if mention and argv[-1] in (*SUBCOMMANDS, "retrieval"):
                return  # a sub-command named in prose ("see `ossrag search`"), not a command line
            pytest.fail(f"{where}: `{command}` is rejected: {err.getvalue().strip()}")
    assert isinstance(args, argparse.Namespace) and args.command == argv[0]
