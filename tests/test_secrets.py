"""API keys never leak: every output of a run that had keys set is grepped for them.

Each key (the providers', ``OSSRAG_LLM_API_KEY``, the server's ``OSSRAG_API_KEY``,
the Milvus/Zilliz ``OSSRAG_TOKEN``) is a unique canary string. The commands that
touch them run for real against a loopback replay of an OpenAI-compatible provider
that answers 401, 500 (both with error messages that echo the key back, as some
providers and proxies do) and a recorded gpt-oss stream:

* ``ossrag ask`` (failing and succeeding, with ``OPENAI_LOG=debug`` and with
  ``OSSRAG_DEBUG=1``'s traceback), ``ossrag doctor``, ``ossrag compare`` and
  ``ossrag report`` (the SQLite run store and the HTML report, read as bytes);
* ``ossrag serve`` as a process (its stderr) and the server in-process with every
  logger at DEBUG: chat and responses (plain and streamed) through the failing and
  the succeeding upstream, a wrong bearer key, ``/openapi.json``, ``/v1/models``,
  ``/readyz`` (every body and header).

Everything collected (stdout, stderr, every file the runs wrote, HTTP bodies and
headers, log records with their tracebacks) must hold no canary; the replay server
checks that the keys really were used (a test that sent no key would prove nothing).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from replay_server import ReplayServer
from server_kb import KB, build_kb, gpt_oss_stream

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[1]
KEYS = (
    "OSSRAG_LLM_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
    "OSSRAG_API_KEY",
    "OSSRAG_TOKEN",
)
CANARY = {name: f"canary-{name.lower()}-{uuid.uuid4().hex}" for name in KEYS}
QUESTION = "What is Milvus Lite?"


def _echo(status: int, key: str) -> dict[str, Any]:
    """A provider error whose message repeats the key it was sent."""
    return {
        "status": status,
        "body": {
            "error": {
                "message": f"Incorrect API key provided: {key}. Authorization: Bearer {key}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    }


class Collected:
    """Every output of the run, by where it came from."""

    def __init__(self) -> None:
        self.outputs: dict[str, str] = {}

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.outputs[where] = self.outputs.get(where, "") + text

    def leaks(self) -> list[tuple[str, str, str]]:
        out = []
        for where, text in self.outputs.items():
            for name, canary in CANARY.items():
                # The hex part alone too: a key cut, quoted or re-encoded still leaks it.
                if canary in text or canary.rsplit("-", 1)[1] in text:
                    at = text.find(canary.rsplit("-", 1)[1])
                    out.append((where, name, text[max(0, at - 120) : at + 60]))
        return out


@pytest.fixture()
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


def _cli(
    collected: Collected,
    tmp: Path,
    label: str,
    args: list[str],
    *,
    drop: tuple[str, ...] = (),
    **env: str,
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO / "src"), **CANARY, **env}
    for name in drop:
        full.pop(name, None)
    run = subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=tmp,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )
    collected.add(f"{label} stdout", run.stdout)
    collected.add(f"{label} stderr", run.stderr)
    return run


def _sent_keys(replay: ReplayServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in replay.requests]


def test_no_key_in_any_output(
    tmp_path: Path, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_kb(tmp_path, base_url=replay.url, timeout=10)
    db = settings.uri
    target = ["--db", db, "--kb", KB]
    router = ["-m", "openrouter:openai/gpt-oss-120b", "--base-url", replay.url]
    got = Collected()

    # ask: 401 echoing the key (OSSRAG_LLM_API_KEY overrides every provider's), with the
    # traceback OSSRAG_DEBUG=1 shows; then 500s echoing OPENROUTER_API_KEY.
    replay.add(_echo(401, CANARY["OSSRAG_LLM_API_KEY"]))
    run = _cli(got, tmp_path, "ask 401", ["ask", QUESTION, *target, *router])
    assert run.returncode != 0 and "401" in run.stderr + run.stdout, run.stderr[-2000:]
    replay.add(_echo(401, CANARY["OSSRAG_LLM_API_KEY"]))
    run = _cli(
        got,
        tmp_path,
        "ask 401 debug",
        ["ask", QUESTION, *target, *router],
        OSSRAG_DEBUG="1",
        OPENAI_LOG="debug",
    )
    assert "Traceback" in run.stderr, run.stderr[-2000:]
    replay.add(*[_echo(500, CANARY["OPENROUTER_API_KEY"])] * 6)
    run = _cli(
        got,
        tmp_path,
        "ask 500",
        ["ask", QUESTION, *target, *router],
        drop=("OSSRAG_LLM_API_KEY",),
        OPENAI_LOG="debug",
    )
    assert run.returncode != 0, run.stdout[-2000:]
    # A successful answer through the openai provider, with the client's debug log.
    replay.queue.clear()
    replay.add(gpt_oss_stream())
    run = _cli(
        got,
        tmp_path,
        "ask ok",
        ["ask", QUESTION, *target, "-m", "openai:gpt-oss-120b", "--base-url", replay.url],
        drop=("OSSRAG_LLM_API_KEY",),
        OPENAI_LOG="debug",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    sent = _sent_keys(replay)
    for name in ("OSSRAG_LLM_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY"):
        assert f"Bearer {CANARY[name]}" in sent, (name, sent)  # the keys really were used

    # doctor (it says which keys are set), compare into the run store, the HTML report.
    _cli(got, tmp_path, "doctor", ["doctor", *target])
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"question": QUESTION})
        + "\n"
        + json.dumps({"question": "Where is data stored?"})
        + "\n"
    )
    replay.queue.clear()
    replay.add(_echo(401, CANARY["OSSRAG_LLM_API_KEY"]), gpt_oss_stream())
    runs = str(tmp_path / "runs.db")
    _cli(
        got,
        tmp_path,
        "compare",
        [
            "compare",
            str(questions),
            *target,
            "--models",
            "openrouter:openai/gpt-oss-120b",
            "--base-url",
            replay.url,
            "--runs-db",
            runs,
            "--run-id",
            "secrets",
        ],
    )
    report = tmp_path / "report.html"
    run = _cli(got, tmp_path, "report", ["report", "secrets", "--runs-db", runs, "-o", str(report)])
    assert report.exists(), run.stderr[-2000:]

    # ossrag serve as a process: what it prints, and its answer to a wrong key.
    from serve_process import ServeProcess

    serve = ServeProcess([*target], env={**CANARY, "OSSRAG_BASE_URL": replay.url}, log_dir=tmp_path)
    with serve:
        wrong = httpx.get(
            f"{serve.base}/v1/models", timeout=30, headers={"Authorization": "Bearer not-the-key"}
        )
        assert wrong.status_code == 401
        got.add("serve 401", wrong.text + json.dumps(dict(wrong.headers)))
    got.add("serve output", serve.output())

    _in_process_server(got, settings, replay, monkeypatch)

    for path in tmp_path.rglob("*"):  # every file the runs wrote: run store, report, logs
        if path.is_file() and path != questions:
            got.add(f"file {path.relative_to(tmp_path)}", path.read_bytes())
    assert any(k.startswith("file runs.db") for k in got.outputs)
    leaks = got.leaks()
    assert not leaks, sorted({(where, name) for where, name, _ in leaks}) + leaks[:3]


class _AllRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with the traceback, when there is one


def _in_process_server(
    got: Collected, settings: Any, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures_server import running_server
    from ossrag.server import ServerConfig

    for name, canary in CANARY.items():
        monkeypatch.setenv(name, canary)
    monkeypatch.delenv("OSSRAG_LLM_API_KEY")  # OPENROUTER_API_KEY is what is sent
    handler = _AllRecords()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    key = {"Authorization": f"Bearer {CANARY['OSSRAG_API_KEY']}"}
    model = f"{KB}@openrouter:openai/gpt-oss-120b"
    config = ServerConfig(api_key=CANARY["OSSRAG_API_KEY"], max_concurrent_per_client=16)
    try:
        with running_server(settings, config) as base, httpx.Client(timeout=60) as http:

            def keep(label: str, resp: httpx.Response) -> None:
                got.add(
                    f"server {label}",
                    f"{resp.status_code} {json.dumps(dict(resp.headers))} {resp.text}",
                )

            for path in ("/openapi.json", "/v1/models", "/readyz", "/healthz"):
                keep(path, http.get(base + path, headers=key))
            keep("wrong key", http.get(base + "/v1/models", headers={"Authorization": "Bearer x"}))
            chat = {"model": model, "messages": [{"role": "user", "content": QUESTION}]}
            for stream in (False, True):
                replay.queue.clear()
                replay.add(_echo(401, CANARY["OPENROUTER_API_KEY"]))
                keep(
                    f"chat 401 stream={stream}",
                    http.post(
                        base + "/v1/chat/completions", json={**chat, "stream": stream}, headers=key
                    ),
                )
                replay.add(*[_echo(500, CANARY["OPENROUTER_API_KEY"])] * 6)
                keep(
                    f"responses 500 stream={stream}",
                    http.post(
                        base + "/v1/responses",
                        json={"model": model, "input": QUESTION, "stream": stream},
                        headers=key,
                    ),
                )
                replay.queue.clear()
                replay.add(gpt_oss_stream())
                ok = http.post(
                    base + "/v1/chat/completions", json={**chat, "stream": stream}, headers=key
                )
                assert ok.status_code == 200, ok.text
                keep(f"chat ok stream={stream}", ok)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    assert f"Bearer {CANARY['OPENROUTER_API_KEY']}" in _sent_keys(replay)
    got.add("server logs", "\n".join(handler.lines))


def test_redact_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """What counts as a secret, and that a key cut by a message's length limit is gone too."""
    from ossrag.errors import OssragError, classify, redact, register_secret, secret_values

    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "sk-live-abcdef123456")
    monkeypatch.setenv("OSSRAG_TOKEN", "root:hunter2hunter2")
    monkeypatch.setenv("OSSRAG_KB", "not-a-secret-value")  # not a secret's name
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # a placeholder, too short to blank out
    monkeypatch.setenv("OPENAI_API_KEY", "sk-no-key-required")  # the dummy local key
    values = secret_values()
    assert {"sk-live-abcdef123456", "root:hunter2hunter2", "hunter2hunter2"} <= values
    assert not {"not-a-secret-value", "abc", "sk-no-key-required"} & values
    register_secret("explicit-key-0123456789")
    assert redact("a explicit-key-0123456789 b sk-live-abcdef123456 c") == "a *** b *** c"
    assert (
        str(OssragError("auth hunter2hunter2", hint="sk-live-abcdef123456"))
        == "auth *** (hint: ***)"
    )
    # A 500-character cut would have left half of the key: redacted before cutting.
    long = "x" * 490 + " sk-live-abcdef123456"
    assert "sk-live" not in classify(RuntimeError(long)).message
