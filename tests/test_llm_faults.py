"""LLM faults (issue 13, item 4), injected by a loopback server, through the real ``openai`` client.

Every fault of :data:`fault_server.FAULTS` (slow first byte, a stall mid-stream,
429 with Retry-After, 500, malformed JSON, wrong shapes, connection resets,
endless streams) goes through the backend, ``kb.ask``, ``ossrag ask``, the
agent, ``compare`` and the server's ``/v1/chat/completions``: ossrag retries
what is safe to retry (nothing was streamed yet), gives up within its limits
with a message that says what happened, keeps and marks what a broken stream
delivered, and never changes the index (its fingerprint is compared before
and after every fault).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fault_server import (
    ANSWER,
    FAULTS,
    LIMITS,
    REASONING,
    Fault,
    answer_stream,
    kb_fingerprint,
    tool_call_stream,
)
from ossrag import KnowledgeBase
from ossrag import errors as E
from ossrag.config import Settings
from ossrag.llms.openai_compat import OpenAICompatLLM
from replay_server import ReplayServer
from server_kb import KB, build_kb, sse_events

MODEL = "vllm:openai/gpt-oss-20b"
MESSAGES = [{"role": "user", "content": "Where does Milvus Lite keep its data?"}]
QUESTION = "Where does Milvus Lite keep its data?"


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


def _llm(server: ReplayServer, **kw: Any) -> OpenAICompatLLM:
    return OpenAICompatLLM(MODEL, base_url=server.url, **{**LIMITS, **kw})


def _check_error(fault: Fault, exc: BaseException) -> None:
    assert type(exc).__name__ == fault.error, f"{fault.name}: {type(exc).__name__}: {exc}"
    assert re.search(fault.words, str(exc), re.S), f"{fault.name}: {exc}"


# -- the backend ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_through_the_openai_client(server: ReplayServer, name: str) -> None:
    fault = FAULTS[name]
    server.add(*fault.responses)
    llm = _llm(server)
    t = time.monotonic()
    if fault.outcome == "error":
        with pytest.raises(E.LLMError) as info:
            llm.complete(MESSAGES, max_tokens=50)
        _check_error(fault, info.value)
    else:
        done = llm.complete(MESSAGES, max_tokens=50)
        assert done.reasoning.startswith("".join(REASONING))
        if fault.outcome == "ok":
            assert done.complete and done.text == "".join(ANSWER), name
        else:
            assert not done.complete and done.finish_reason == "error", name
            assert "".join(ANSWER).startswith(done.text)  # what arrived, nothing invented
            assert re.search(fault.words, llm.last_error or "", re.S), llm.last_error
    elapsed = time.monotonic() - t
    assert elapsed < fault.max_s, f"{name} took {elapsed:.1f} s"
    assert len(server.requests) == fault.requests, name  # partial streams are never replayed


def test_retry_waits_honour_retry_after_within_max_time(server: ReplayServer) -> None:
    """Retry-After 0.2 s is waited for; a wait that would end past max_time is not started."""
    fault = FAULTS["rate_limited_then_ok"]
    server.add(*fault.responses)
    llm = _llm(server, backoff=5.0)
    assert llm.complete(MESSAGES).complete
    at = [r.at for r in server.requests]
    assert all(0.18 <= b - a < 1.5 for a, b in itertools.pairwise(at))
    server.add(
        {**FAULTS["rate_limited_then_ok"].responses[0], "headers": {"retry-after": "2.5"}},
        answer_stream(),
    )
    t = time.monotonic()
    with pytest.raises(E.LLMRateLimitError, match=r"2\.5 s"):
        _llm(server, max_time=2.0).complete(MESSAGES)
    # Not started: well under the 2.5 s wait (slack for a loaded 2-core CI machine).
    assert time.monotonic() - t < 2.0


def test_endless_stream_without_max_tokens_ends_at_max_time(server: ReplayServer) -> None:
    server.add(*FAULTS["endless_reasoning"].responses)
    llm = _llm(server, max_time=1.5)
    t = time.monotonic()
    done = llm.complete(MESSAGES)
    # Cut at max_time (the upper bound has slack for a loaded machine; the message
    # below says which limit cut it).
    assert 1.4 < time.monotonic() - t < 5.0
    assert not done.complete and "no end after 1.5 s" in (llm.last_error or "")
    assert len(done.reasoning) > 100  # what arrived is kept


def test_endless_stream_with_max_tokens_ends_at_the_chunk_budget(server: ReplayServer) -> None:
    server.add(*FAULTS["endless_reasoning"].responses)
    llm = _llm(server, max_time=60)
    done = llm.complete(MESSAGES, max_tokens=20)
    assert not done.complete and "ignores the token budget" in (llm.last_error or "")
    assert done.reasoning.count("and so on") <= 2 * 20 + 64


def test_malformed_tool_calls_do_not_crash_the_turn(server: ReplayServer) -> None:
    server.add(
        tool_call_stream("search", '{"query": "Milvus'),
        tool_call_stream(None, None, function="search"),
        tool_call_stream(["search"], ["a", 1]),
    )
    calls = [
        _llm(server)
        .complete(
            MESSAGES,
            tools=[
                {
                    "type": "function",
                    "function": {"name": "search", "parameters": {"type": "object"}},
                }
            ],
        )
        .tool_calls
        for _ in range(3)
    ]
    assert calls[0][0].arguments == '{"query": "Milvus'  # handed on as sent: the agent answers it
    assert calls[1][0].name == "" and calls[1][0].arguments == "{}"
    assert calls[2][0].name == '["search"]' and json.loads(calls[2][0].arguments) == ["a", 1]


# -- kb.ask, the CLI, the agent, compare: the index is never touched ----------------------------


@pytest.fixture(scope="module")
def kb_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_kb(tmp_path_factory.mktemp("faults"), timeout=LIMITS["timeout"])


@pytest.fixture(scope="module")
def kb(kb_settings: Settings) -> Iterator[KnowledgeBase]:
    settings = Settings.load(
        {
            "uri": kb_settings.uri,
            "kb": KB,
            "timeout": LIMITS["timeout"],
            "max_time": LIMITS["max_time"],
        },
        env={},
    )
    with KnowledgeBase(settings=settings) as k:
        yield k


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_through_kb_ask(kb: KnowledgeBase, server: ReplayServer, name: str) -> None:
    fault = FAULTS[name]
    before = kb_fingerprint(kb)
    server.add(*fault.responses)
    kb._llms.clear()  # a fresh backend per fault (the KB keeps one per model and URL)
    t = time.monotonic()
    if fault.outcome == "error":
        with pytest.raises(E.LLMError) as info:
            kb.ask(QUESTION, model=MODEL, base_url=server.url, max_tokens=50)
        _check_error(fault, info.value)
    else:
        answer = kb.ask(QUESTION, model=MODEL, base_url=server.url, max_tokens=50)
        assert answer.hits, "retrieval ran"
        if fault.outcome == "ok":
            assert answer.complete and answer.text == "".join(ANSWER)
            assert [c.source for c in answer.citations] == [answer.hits[0].source]
        else:
            assert not answer.complete
            assert any(
                "incomplete" in w and re.search(fault.words, w, re.S) for w in answer.warnings
            ), answer.warnings
    # retrieval's share included (embedding a question can take seconds on a loaded CI machine);
    # the backend test above holds the tight bound
    assert time.monotonic() - t < fault.max_s + 5.0
    assert len(server.requests) == fault.requests
    assert kb_fingerprint(kb) == before, f"{name} changed the index"


@pytest.fixture(scope="module")
def cli_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A KB file of its own: the ``ossrag`` child process must be its only user."""
    return build_kb(tmp_path_factory.mktemp("faults-cli"), timeout=LIMITS["timeout"])


def _cli(settings: Settings, base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[1] / "src"),
        "OSSRAG_TIMEOUT": str(LIMITS["timeout"]),
        "OSSRAG_MAX_TIME": str(LIMITS["max_time"]),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ossrag",
            "--db",
            settings.uri,
            "--kb",
            KB,
            "ask",
            QUESTION,
            "-m",
            MODEL,
            "--base-url",
            base_url,
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "code", "said"),
    [
        ("stall_mid_stream", 1, "the answer is incomplete"),
        ("endless_keepalive", 1, "error: .*no end after 3 s.*hint: raise --max-time"),
        ("rate_limited_for_good", 1, "error: .*rate-limiting.*3 attempt"),
        ("reset_before_response", 0, ""),
    ],
)
def test_fault_through_the_cli(
    cli_settings: Settings, server: ReplayServer, name: str, code: int, said: str
) -> None:
    server.add(*FAULTS[name].responses)
    with KnowledgeBase(settings=cli_settings) as k:
        before = kb_fingerprint(k)
    proc = _cli(cli_settings, server.url, "--max-tokens", "50")
    assert proc.returncode == code, proc.stderr
    assert re.search(said, proc.stderr, re.S), proc.stderr
    assert "Traceback" not in proc.stderr
    if name != "endless_keepalive" and name != "rate_limited_for_good":
        assert proc.stdout.startswith("".join(ANSWER[:2]))  # what arrived was shown
    with KnowledgeBase(settings=cli_settings) as k:
        assert kb_fingerprint(k) == before


def test_agent_recovers_from_a_malformed_tool_call(kb: KnowledgeBase, server: ReplayServer) -> None:
    before = kb_fingerprint(kb)
    kb._llms.clear()
    server.add(
        tool_call_stream("search", '{"query": "Milvus'),  # cut JSON
        tool_call_stream("functions.serch", '{"query": "x"}'),  # unknown tool
        tool_call_stream("search", '{"query": "Milvus Lite local file"}'),
        answer_stream(),
    )
    answer = kb.agent_ask(QUESTION, model=MODEL, base_url=server.url, max_steps=4)
    assert answer.complete and answer.text == "".join(ANSWER)
    errors = [c.get("error", "") for s in answer.steps for c in s.get("calls", [])]
    assert "not valid JSON" in errors[0] and "unknown tool" in errors[1] and not errors[2]
    # the model was told, in the tool results, what was wrong with each call
    sent = server.requests[3].body["messages"]
    results = [m["content"] for m in sent if m["role"] == "tool"]
    assert results[0].startswith("error: the arguments are not valid JSON")
    assert "Milvus Lite" in results[2]
    assert kb_fingerprint(kb) == before


@pytest.mark.parametrize("name", ["reset_mid_stream", "endless_reasoning", "malformed_json_first"])
def test_agent_turn_faults(kb: KnowledgeBase, server: ReplayServer, name: str) -> None:
    """A tool-calling turn that breaks is not run; the answer is incomplete or an error."""
    before = kb_fingerprint(kb)
    kb._llms.clear()
    fault = FAULTS[name]
    server.add(*fault.responses)
    if fault.outcome == "error":
        with pytest.raises(E.LLMError, match=fault.words):
            kb.agent_ask(QUESTION, model=MODEL, base_url=server.url)
    else:
        answer = kb.agent_ask(QUESTION, model=MODEL, base_url=server.url, max_tokens=50)
        assert not answer.complete and any("incomplete" in w for w in answer.warnings)
    assert len(server.requests) == 1
    assert kb_fingerprint(kb) == before


def test_compare_records_each_fault_as_an_error_row(
    kb: KnowledgeBase, server: ReplayServer, tmp_path: Path
) -> None:
    from ossrag.evaluation.compare import run_compare
    from ossrag.evaluation.runs import RunStore

    before = kb_fingerprint(kb)
    names = [
        "stall_mid_stream",
        "rate_limited_for_good",
        "malformed_json_first",
        "reset_before_response",
        "endless_reasoning",
    ]
    for n in names:
        server.add(*FAULTS[n].responses)
    questions = [{"question": f"{QUESTION} ({n})", "reference": "a local file"} for n in names]
    llm = _llm(server)
    summary = run_compare(
        kb,
        questions,
        models=[llm],
        efforts=["low"],
        concurrency=1,
        db_path=tmp_path / "runs.db",
        max_tokens=50,
    )
    assert (summary.answered, summary.errors) == (5, 4)
    with RunStore(tmp_path / "runs.db") as store:
        rows = {r["qindex"]: r for r in store.answers(summary.run_id)}
    stall, rate, bad, ok, endless = (rows[i] for i in range(5))
    assert "incomplete" in stall["error"] and stall["answer"] == "".join(ANSWER[:2])
    assert stall["complete"] is False
    assert "HTTP 429" in rate["error"] and not rate["answer"]
    assert "cannot read" in bad["error"]
    assert not ok.get("error") and ok["answer"] == "".join(ANSWER) and ok["complete"]
    assert "incomplete" in endless["error"] and "ignores the token budget" in endless["error"]
    assert kb_fingerprint(kb) == before
    # a resumed run retries exactly the error rows
    for _ in range(4):
        server.add(answer_stream())
    again = run_compare(
        kb,
        questions,
        models=[llm],
        efforts=["low"],
        concurrency=1,
        db_path=tmp_path / "runs.db",
        max_tokens=50,
        resume=True,
    )
    assert (again.skipped, again.answered, again.errors) == (1, 4, 0)


# -- the server's /v1/chat/completions ------------------------------------------------------------


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ReplayServer, Settings]]:
    httpx = pytest.importorskip("httpx")
    from fixtures_server import running_server

    with ReplayServer() as upstream:
        built = build_kb(
            tmp_path_factory.mktemp("chat-faults"), base_url=upstream.url, timeout=LIMITS["timeout"]
        )
        settings = Settings.load(
            {
                "uri": built.uri,
                "kb": KB,
                "base_url": upstream.url,
                "timeout": LIMITS["timeout"],
                "max_time": LIMITS["max_time"],
                "model": MODEL,
            },
            env={},
        )
        with KnowledgeBase(settings=settings) as k:
            before = kb_fingerprint(k)
        with running_server(settings) as base, httpx.Client(base_url=base, timeout=30) as client:
            yield client, upstream, settings
        # The server owned the Milvus Lite file; now that it stopped, the rows are read again.
        with KnowledgeBase(settings=settings) as k:
            assert kb_fingerprint(k) == before, "a fault through the server changed the index"


@pytest.mark.parametrize(
    "name", ["stall_mid_stream", "reset_mid_stream", "malformed_json_midway", "endless_reasoning"]
)
def test_server_stream_that_breaks_ends_with_an_error_event(chat: Any, name: str) -> None:
    client, upstream, _ = chat
    upstream.add(*FAULTS[name].responses)
    t = time.monotonic()
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": KB,
            "stream": True,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": QUESTION}],
        },
    )
    assert r.status_code == 200
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    error = events[-2]["error"]
    assert error["code"] == "upstream_stream_broken" and re.search(
        FAULTS[name].words, error["message"]
    )
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events[:-2]
        if isinstance(e, dict) and e.get("choices")
    )
    assert "".join(ANSWER).startswith(text)  # a prefix, never a finished-looking answer
    assert not any(
        e.get("choices") and e["choices"][0].get("finish_reason")
        for e in events[:-2]
        if isinstance(e, dict)
    )
    assert time.monotonic() - t < FAULTS[name].max_s + 5.0  # retrieval and the server included


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("first_byte_too_late", 504, "upstream_timeout"),
        ("rate_limited_for_good", 429, None),
        ("malformed_json_first", 502, None),
        ("endless_keepalive", 504, "upstream_timeout"),
        ("reset_before_response", 200, None),
    ],
)
def test_server_faults_before_any_token_are_http_errors(
    chat: Any, name: str, status: int, code: str | None
) -> None:
    client, upstream, _ = chat
    upstream.add(*FAULTS[name].responses)
    r = client.post(
        "/v1/chat/completions",
        json={"model": KB, "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert r.status_code == status, r.text
    if status == 200:
        assert "".join(ANSWER) in "".join(
            e["choices"][0]["delta"].get("content") or ""
            for e in sse_events(r.text)
            if isinstance(e, dict) and e.get("choices")
        )
        return
    body = r.json()["error"]
    assert FAULTS[name].words and re.search(FAULTS[name].words, body["message"], re.S)
    if code:
        assert body["code"] == code
    if status == 429:
        assert "retry-after" in {k.lower() for k in r.headers}
