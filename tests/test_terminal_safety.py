"""Escape sequences in documents and in model output never reach the terminal as escapes
(issue 13: terminals and agents): ossrag shows them instead of obeying them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ossrag.safety import terminal_safe
from replay_server import ReplayServer

OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # write "evil" to the clipboard
HIDE = "\x1b[8m"  # invisible text
TITLE = "\x1b]0;pwned\x07"
CSI_8BIT = "\u009b31m"


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_terminal_safe_shows_every_control_character() -> None:
    assert terminal_safe("a\tb\nc") == "a\tb\nc"  # layout stays
    for evil in (OSC52, HIDE, TITLE, CSI_8BIT, "\r", "\x7f", "\x08"):
        shown = terminal_safe(f"x{evil}y")
        assert not any(
            (ord(ch) < 0x20 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in shown
        ), repr(shown)
    assert terminal_safe(OSC52) == "^[]52;c;ZXZpbA==^G"


def test_search_and_ask_output_carry_no_escapes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / f"evil{HIDE}.md").write_text(
        f"# Clipboard {TITLE}\n\nThe backup key is rotated weekly.{OSC52} Ask the admin.\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "kb.db")
    assert _run("--db", db, "ingest", str(docs), cwd=tmp_path).returncode == 0
    search = _run("--db", db, "search", "how often is the backup key rotated", cwd=tmp_path)
    assert search.returncode == 0, search.stderr
    assert "\x1b" not in search.stdout + search.stderr and "rotated weekly.^[]52" in search.stdout
    as_json = _run("--db", db, "search", "backup key", "--json", cwd=tmp_path)
    assert (
        json.loads(as_json.stdout)["hits"][0]["text"].count("\x1b") == 1
    )  # JSON keeps the data exact

    answer = f"Weekly [1].{OSC52}"
    reasoning = f"The passage says weekly.{TITLE}"
    chunks = [
        {"choices": [{"index": 0, "delta": {"reasoning": reasoning}}]},
        {"choices": [{"index": 0, "delta": {"content": answer}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    with ReplayServer() as server:
        server.add(
            {
                "sse": [
                    {
                        "data": {
                            "id": "x",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "openai/gpt-oss-20b",
                            **c,
                        }
                    }
                    for c in chunks
                ]
                + [{"data": "[DONE]"}]
            }
        )
        ask = _run(
            "--db",
            db,
            "ask",
            "How often is the key rotated?",
            "-m",
            "vllm:openai/gpt-oss-20b",
            "--base-url",
            server.url,
            "--show-reasoning",
            cwd=tmp_path,
        )
    assert ask.returncode == 0, ask.stderr
    assert "Weekly [1].^[]52;c;ZXZpbA==^G" in ask.stdout and "weekly.^[]0;pwned^G" in ask.stderr
    assert "\x1b]" not in ask.stdout + ask.stderr  # no OSC reached either stream
    assert "evil^[[8m.md" in ask.stdout  # the source name, shown with its escape made visible
