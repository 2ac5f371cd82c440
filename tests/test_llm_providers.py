"""The OpenAI-compatible backend against recorded responses of every provider.

Each test starts a loopback :class:`ReplayServer` that serves responses in
the shapes the servers document (``tests/data/providers/<provider>/*.json``),
and drives it with the real ``openai`` client through ``OpenAICompatLLM``.
The assertions check what each server *received* (effort parameter,
sampling defaults, history) and what came *out* (reasoning/answer split,
usage, errors).
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from ossrag.errors import (
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    ModelNotFoundError,
)
from ossrag.llms import LLM, collect, make_llm
from ossrag.llms.openai_compat import OpenAICompatLLM
from ossrag.llms.providers import PROVIDERS, resolve
from replay_server import DATA, ReplayServer, load_recording

KEY_ENVS = ("OPENROUTER_API_KEY", "GROQ_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY")
MESSAGES = [
    {"role": "system", "content": "Answer from the context. Cite passages like [1]."},
    {
        "role": "user",
        "content": "<context>[1] IP on normalized vectors.</context>\n<question>Metric?</question>",
    },
]
# Providers whose recordings live under another name (Qwen3 served by vLLM without a reasoning parser).
PREFIX = {"qwen3": "vllm"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENVS:
        monkeypatch.setenv(name, f"test-key-{name.lower()}")
    for name in ("OSSRAG_API_KEY", "OSSRAG_LLM_API_KEY", "OSSRAG_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def llm_for(provider: str, model: str, server: ReplayServer, **kw: Any) -> OpenAICompatLLM:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff", 0.05)
    return OpenAICompatLLM(f"{PREFIX.get(provider, provider)}:{model}", base_url=server.url, **kw)


def recordings() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DATA.glob("*/*.json")):
        rec = json.loads(path.read_text())
        if rec["expect"]:
            out.append((path.parent.name, path.stem))
    return out


# ------------------------------------------------------------ reasoning/answer split


@pytest.mark.parametrize(("provider", "mode"), recordings(), ids=lambda x: str(x))
def test_recorded_response_split(server: ReplayServer, provider: str, mode: str) -> None:
    rec = load_recording(provider, mode)
    streamed = "sse" in rec["response"]
    llm = llm_for(provider, rec["model"], server, streaming=streamed)
    server.add(rec)
    events = list(llm.stream(MESSAGES, effort="medium", max_tokens=2048))
    exp = rec["expect"]
    done = collect(iter(events))

    assert done.reasoning == exp["reasoning"]
    assert done.text == exp["text"]
    for marker in ("<think>", "</think>", "<|channel|>", "<|message|>"):
        assert marker not in done.text
    assert done.finish_reason == exp["finish_reason"]
    assert done.complete is exp["complete"]
    if exp["complete"]:
        assert done.usage.reasoning_tokens == exp["reasoning_tokens"]
        assert done.usage.cost == exp["cost"]
        if "prompt_tokens" in exp:
            assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (
                exp["prompt_tokens"],
                exp["completion_tokens"],
            )
    for want, got in zip(exp.get("tool_calls", []), done.tool_calls, strict=True):
        assert got.name == want["name"]
        assert json.loads(got.arguments) == json.loads(want["arguments"])
        if "id" in want:
            assert got.id == want["id"]

    # Event order: content events, then at most one usage, then exactly one done, last.
    kinds = [e.type for e in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert kinds.count("usage") <= 1
    if "usage" in kinds:
        assert kinds.index("usage") == len(kinds) - 2
    if exp["reasoning"] and exp["text"]:  # reasoning is streamed before the answer
        assert max(i for i, k in enumerate(kinds) if k == "reasoning") < kinds.index("text")

    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.body["stream"] is streamed
    assert req.body["model"] == rec["model"]


# ------------------------------------------------------------ what each server receives


def _plain(provider: str) -> dict[str, Any]:
    return load_recording(provider, "plain")


EFFORT_EXPECTED: dict[str, dict[str, Any]] = {
    "openrouter": {"reasoning": {"effort": "high"}},
    "vllm": {"reasoning_effort": "high"},
    "ollama": {"reasoning_effort": "high"},
    "lmstudio": {"reasoning_effort": "high"},
    "llamacpp": {"chat_template_kwargs": {"reasoning_effort": "high"}, "reasoning_effort": "high"},
    "groq": {"reasoning_effort": "high"},
    "openai": {"reasoning_effort": "high"},
    "deepseek": {},
}


@pytest.mark.parametrize("provider", sorted(EFFORT_EXPECTED))
def test_effort_parameter_each_provider_receives(server: ReplayServer, provider: str) -> None:
    rec = _plain(provider)
    llm = llm_for(provider, rec["model"], server)
    server.add(rec, rec)
    llm.complete(MESSAGES, effort="high", max_tokens=500)
    llm.complete(MESSAGES, effort="high", max_tokens=500)
    body = server.requests[0].body
    sent = {
        k: body[k] for k in ("reasoning", "reasoning_effort", "chat_template_kwargs") if k in body
    }
    assert sent == EFFORT_EXPECTED[provider]
    assert llm.last_request["sent_as"] == EFFORT_EXPECTED[provider]
    assert body["stream_options"] == {"include_usage": True}
    auth = server.requests[0].headers["authorization"]
    if PROVIDERS[provider].key_env:
        assert auth == f"Bearer test-key-{PROVIDERS[provider].key_env.lower()}"
    else:
        assert auth == "Bearer sk-no-key-required"
    if provider == "deepseek":  # not sent, and said once (not per request)
        assert [w for w in llm.warnings if "reasoning effort" in w] == [
            "DeepSeek does not support a reasoning effort; --effort high is not sent and the "
            "server's default applies"
        ]
    if provider == "lmstudio":  # sent, but recorded as possibly ignored
        assert any("#988" in w for w in llm.warnings)
        assert any("#988" in n for n in llm.last_request["notes"])


def test_o_series_quirks(server: ReplayServer) -> None:
    rec = load_recording("openai", "plain")
    llm = llm_for("openai", "o4-mini", server)
    server.add(rec)
    llm.complete(MESSAGES, effort="low", max_tokens=500, temperature=0.2)
    body = server.requests[0].body
    assert body["max_completion_tokens"] == 500
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body
    assert body["reasoning_effort"] == "low"
    assert any("temperature" in w for w in llm.warnings)


def test_gpt_oss_sampling_defaults(server: ReplayServer) -> None:
    rec = load_recording("vllm", "plain")
    llm = llm_for("vllm", "openai/gpt-oss-20b", server)
    server.add(rec, rec)
    llm.complete(MESSAGES, max_tokens=300)
    llm.complete(MESSAGES, max_tokens=300, temperature=0.3)
    first, second = (r.body for r in server.requests)
    assert (first["temperature"], first["top_p"], first["max_tokens"]) == (1.0, 1.0, 300)
    assert "reasoning_effort" not in first  # no effort given: nothing sent
    assert (second["temperature"], second["top_p"]) == (0.3, 1.0)


def test_non_gpt_oss_model_gets_no_sampling_defaults(server: ReplayServer) -> None:
    server.add(load_recording("qwen3", "plain_think"))
    llm_for("qwen3", "Qwen/Qwen3-8B", server, streaming=False).complete(MESSAGES)
    body = server.requests[0].body
    assert "temperature" not in body and "top_p" not in body and "max_tokens" not in body


HISTORY = [
    {"role": "user", "content": "What is Milvus Lite?"},
    {
        "role": "assistant",
        "content": "A local Milvus [1].",
        "reasoning": "Look at [1].",
        "reasoning_content": "Look at [1].",
    },
    {
        "role": "assistant",
        "content": None,
        "reasoning": "Need a search.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "search_docs", "arguments": '{"query": "x"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "[1] ..."},
    {"role": "user", "content": "And the port?"},
]


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ("deepseek", None),
        ("groq", None),
        ("openai", None),
        ("openrouter", "reasoning"),
        ("vllm", "reasoning"),
        ("ollama", "reasoning"),
        ("llamacpp", "thinking"),
    ],
)
def test_reasoning_in_history(server: ReplayServer, provider: str, field: str | None) -> None:
    rec = _plain(provider)
    server.add(rec)
    llm_for(provider, rec["model"], server).complete(HISTORY)
    sent = server.requests[0].body["messages"]
    assert [m["role"] for m in sent] == [m["role"] for m in HISTORY]
    answer, call = sent[1], sent[2]
    for m in (answer, call):
        others = {"reasoning", "reasoning_content", "thinking", "reasoning_details"} - {field}
        assert not others & set(m), m
    if field == "thinking":  # only on the tool-call turn without content (llama.cpp #17040)
        assert field not in answer and call[field] == "Need a search."
    elif field:
        assert answer[field] == "Look at [1]." and call[field] == "Need a search."
    assert HISTORY[1]["reasoning_content"] == "Look at [1]."  # the caller's list is not modified


def test_tools_and_json_schema_pass_through(server: ReplayServer) -> None:
    server.add(load_recording("vllm", "tool_call_stream"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_docs",
                "description": "Search.",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "strict": True,
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        },
    }
    llm = llm_for("vllm", "openai/gpt-oss-20b", server)
    done = llm.complete(MESSAGES, tools=tools, response_format=fmt, stop=["</answer>"])
    body = server.requests[0].body
    assert (
        body["tools"] == tools and body["response_format"] == fmt and body["stop"] == ["</answer>"]
    )
    assert [c.name for c in done.tool_calls] == ["search_docs"]
    assert llm.supports_tools and llm.supports_json_schema and llm.supports_reasoning


# ------------------------------------------------------------ errors and retries


def test_missing_key_names_the_env_var(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(LLMAuthError, match="OPENROUTER_API_KEY"):
        llm_for("openrouter", "openai/gpt-oss-120b", server)
    assert server.requests == []  # checked before any request
    monkeypatch.setenv("OSSRAG_LLM_API_KEY", "override")
    server.add(_plain("openrouter"))
    llm_for("openrouter", "openai/gpt-oss-120b", server).complete(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer override"


def test_the_servers_own_key_never_reaches_a_provider(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OSSRAG_API_KEY is `ossrag serve`'s bearer token: sending it upstream would leak it."""
    monkeypatch.setenv("OSSRAG_API_KEY", "server-secret")
    monkeypatch.setenv("OPENROUTER_API_KEY", "provider-key")
    server.add(_plain("openrouter"), _plain("vllm"))
    llm_for("openrouter", "openai/gpt-oss-120b", server).complete(MESSAGES)
    llm_for("vllm", "openai/gpt-oss-20b", server).complete(MESSAGES)  # a keyless local server
    sent = [r.headers["authorization"] for r in server.requests]
    assert sent[0] == "Bearer provider-key" and all("server-secret" not in h for h in sent)


@pytest.mark.parametrize(
    ("provider", "mode", "error", "words"),
    [
        (
            "openrouter",
            "error_401",
            LLMAuthError,
            ["HTTP 401", "No auth credentials found", "OPENROUTER_API_KEY"],
        ),
        ("openai", "error_401", LLMAuthError, ["Incorrect API key", "OPENAI_API_KEY"]),
        ("deepseek", "error_401", LLMAuthError, ["Authentication Fails", "DEEPSEEK_API_KEY"]),
        ("openrouter", "error_400", LLMResponseError, ["HTTP 400", "Reasoning is mandatory"]),
        (
            "openrouter",
            "error_400_model",
            ModelNotFoundError,
            ["openai/gpt-oss-12b", "openrouter.ai/models"],
        ),
        (
            "vllm",
            "error_404",
            ModelNotFoundError,
            ["'openai/gpt-oss-120b' not found", "/v1", "vllm serve"],
        ),
        (
            "ollama",
            "error_404_model",
            ModelNotFoundError,
            ["gpt-oss:120b", "ollama pull gpt-oss:120b"],
        ),
        ("openai", "error_404_model", ModelNotFoundError, ["o5-mini", "does not exist"]),
        (
            "llamacpp",
            "error_500",
            LLMResponseError,
            ["HTTP 500", "Cannot pass both content and thinking"],
        ),
    ],
)
def test_error_responses(
    server: ReplayServer, provider: str, mode: str, error: type[Exception], words: list[str]
) -> None:
    rec = load_recording(provider, mode)
    # 500s are retried: queue the same answer for every attempt.
    server.add(*[rec] * 3)
    llm = llm_for(provider, rec["model"], server, max_retries=2)
    with pytest.raises(error) as info:
        llm.complete(MESSAGES, effort="low")
    message = str(info.value)
    for word in words:
        assert word in message
    assert server.url in message  # what was tried
    assert len(server.requests) == (3 if mode == "error_500" else 1)


def test_429_retries_honour_retry_after(server: ReplayServer) -> None:
    rate = load_recording("groq", "error_429")
    server.add(rate, rate, load_recording("groq", "stream"))
    llm = llm_for("groq", "openai/gpt-oss-120b", server, max_retries=2, backoff=5.0)
    done = llm.complete(MESSAGES, effort="medium")
    assert done.text == load_recording("groq", "stream")["expect"]["text"]
    at = [r.at for r in server.requests]
    assert len(at) == 3
    # Retry-After: 0.2 s is what the server asked for, not the 5 s backoff.
    assert all(0.18 <= b - a < 2.0 for a, b in itertools.pairwise(at))


def test_429_after_retries_is_a_rate_limit_error(server: ReplayServer) -> None:
    rate = load_recording("openrouter", "error_429")
    server.add(rate, rate, rate, _plain("openrouter"))
    llm = llm_for("openrouter", "openai/gpt-oss-120b", server, max_retries=2)
    with pytest.raises(
        LLMRateLimitError, match=r"HTTP 429.*3 attempt.*0\.2 s.*free-models-per-min"
    ):
        llm.complete(MESSAGES)
    assert len(server.requests) == 3


def test_500_then_success_is_retried(server: ReplayServer) -> None:
    server.add(load_recording("vllm", "error_500"), load_recording("vllm", "stream"))
    done = llm_for("vllm", "openai/gpt-oss-20b", server).complete(MESSAGES)
    assert done.complete and done.text == load_recording("vllm", "stream")["expect"]["text"]
    assert len(server.requests) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("provider", "hint"),
    [
        ("ollama", "ollama serve"),
        ("vllm", "vllm serve openai/gpt-oss-20b"),
        ("llamacpp", "llama-server -m"),
        ("lmstudio", "LM Studio"),
    ],
)
def test_connection_refused_says_what_was_tried(provider: str, hint: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    llm = OpenAICompatLLM(f"{provider}:gpt-oss-20b", base_url=url, max_retries=1, backoff=0.01)
    with pytest.raises(LLMConnectionError) as info:
        llm.complete(MESSAGES)
    assert not isinstance(info.value, LLMTimeoutError)
    assert url in str(info.value) and hint in str(info.value)


def test_default_base_url_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OpenAICompatLLM("ollama:gpt-oss:20b").base_url == "http://localhost:11434/v1"
    assert OpenAICompatLLM("lmstudio:openai/gpt-oss-20b").base_url == "http://localhost:1234/v1"
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box")
    assert OpenAICompatLLM("ollama:gpt-oss:20b").base_url == "http://gpu-box:11434/v1"
    monkeypatch.setenv("OSSRAG_BASE_URL", "http://127.0.0.1:9/v1/")
    assert OpenAICompatLLM("ollama:gpt-oss:20b").base_url == "http://127.0.0.1:9/v1"
    provider, model = resolve("gpt-oss-20b")  # OSSRAG_BASE_URL set: the generic preset
    assert (provider.name, model) == ("openai-compatible", "gpt-oss-20b")


def test_timeout(server: ReplayServer) -> None:
    slow = dict(load_recording("vllm", "stream")["response"], delay=2.0)
    server.add(slow)
    llm = llm_for("vllm", "openai/gpt-oss-20b", server, timeout=0.5, max_retries=2)
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.5 s"):
        llm.complete(MESSAGES)
    assert time.monotonic() - start < 1.5  # not retried, and far below openai's 600 s
    assert len(server.requests) == 1


def _cut_stream(rec: dict[str, Any], n_text: int, end: dict[str, Any] | None) -> dict[str, Any]:
    """The recording's SSE events up to the n-th content delta, then ``end`` (or nothing)."""
    events, seen = [], 0
    for ev in rec["response"]["sse"]:
        events.append(ev)
        data = ev.get("data")
        if isinstance(data, dict) and any(
            c.get("delta", {}).get("content") for c in data.get("choices", [])
        ):
            seen += 1
            if seen == n_text:
                break
    return {"status": 200, "sse": [*events, end] if end else events}


def _text_prefix(rec: dict[str, Any], n_text: int) -> str:
    parts = []
    for ev in rec["response"]["sse"]:
        data = ev.get("data")
        if isinstance(data, dict):
            for c in data.get("choices", []):
                if c.get("delta", {}).get("content"):
                    parts.append(c["delta"]["content"])
    return "".join(parts[:n_text])


@pytest.mark.parametrize("how", ["drop", "early_end"])
def test_broken_stream_keeps_partial_answer(server: ReplayServer, how: str) -> None:
    rec = load_recording("vllm", "stream")
    server.add(_cut_stream(rec, 5, {"drop": True} if how == "drop" else None))
    llm = llm_for("vllm", "openai/gpt-oss-20b", server)
    events = list(llm.stream(MESSAGES))
    done = collect(iter(events))
    assert events[-1].type == "done" and events[-1].finish_reason == "error"
    assert done.complete is False
    assert done.reasoning == rec["expect"]["reasoning"]
    assert done.text == _text_prefix(rec, 5) and done.text
    assert llm.last_error is not None
    assert (server.url if how == "drop" else "without a finish_reason") in llm.last_error
    assert len(server.requests) == 1  # tokens had been streamed: never retried


def test_error_event_inside_stream(server: ReplayServer) -> None:
    rec = load_recording("openrouter", "stream_error_event")
    server.add(rec)
    llm = llm_for("openrouter", "openai/gpt-oss-120b", server)
    done = llm.complete(MESSAGES)
    assert (done.complete, done.finish_reason) == (False, "error")
    assert done.text == rec["expect"]["text"]
    assert "Provider returned error" in (llm.last_error or "")


def test_stream_broken_before_any_token_is_retried(server: ReplayServer) -> None:
    rec = load_recording("ollama", "stream")
    first_chunk_then_drop = {"status": 200, "sse": [rec["response"]["sse"][0], {"drop": True}]}
    server.add(first_chunk_then_drop)
    # The first chunk carries a reasoning token, so this drop comes after a token: not retried.
    done = llm_for("ollama", "gpt-oss:20b", server).complete(MESSAGES)
    assert done.complete is False and len(server.requests) == 1
    role_only = load_recording("vllm", "stream")
    server.add({"status": 200, "sse": [role_only["response"]["sse"][0], {"drop": True}]}, role_only)
    done = llm_for("vllm", "openai/gpt-oss-20b", server).complete(MESSAGES)
    assert done.complete and done.text == role_only["expect"]["text"]  # once, not twice
    assert len(server.requests) == 3


def test_rejected_stream_options_retried_without(server: ReplayServer) -> None:
    server.add(load_recording("vllm", "error_400_stream_options"), load_recording("vllm", "stream"))
    llm = llm_for("vllm", "openai/gpt-oss-20b", server, max_retries=0)
    assert llm.complete(MESSAGES).complete
    first, second = (r.body for r in server.requests)
    assert "stream_options" in first and "stream_options" not in second
    assert any("stream_options" in w for w in llm.warnings)


def test_rejected_effort_retried_without(server: ReplayServer) -> None:
    server.add(load_recording("vllm", "error_400_effort"), load_recording("vllm", "stream"))
    llm = llm_for("vllm", "openai/gpt-oss-20b", server, max_retries=0)
    assert llm.complete(MESSAGES, effort="low").complete
    first, second = (r.body for r in server.requests)
    assert first["reasoning_effort"] == "low" and "reasoning_effort" not in second
    assert any("rejected the reasoning effort" in w for w in llm.warnings)
    assert llm.last_request["effort"] == "low" and llm.last_request["sent_as"] == {}


def test_unsupported_parameter_retried_without(server: ReplayServer) -> None:
    server.add(
        load_recording("openai", "error_400_temperature"), load_recording("openai", "stream")
    )
    llm = OpenAICompatLLM("my-reasoner", base_url=server.url, max_retries=0)
    assert llm.provider.name == "openai-compatible"
    assert llm.complete(MESSAGES, temperature=0.2).complete
    first, second = (r.body for r in server.requests)
    assert first["temperature"] == 0.2 and "temperature" not in second


def test_history_rejected_by_unknown_server_is_stripped(server: ReplayServer) -> None:
    server.add(
        load_recording("groq", "error_400_reasoning_content"), load_recording("groq", "stream")
    )
    llm = OpenAICompatLLM("openai/gpt-oss-120b", base_url=server.url, max_retries=0)
    assert llm.complete(HISTORY).complete
    first, second = (r.body["messages"] for r in server.requests)
    assert first[1]["reasoning"] == "Look at [1]."
    assert not any(k in m for m in second for k in ("reasoning", "reasoning_content"))


# ------------------------------------------------------------ resolving model strings


def test_resolve_and_make_llm(server: ReplayServer) -> None:
    provider, model = resolve("ollama:gpt-oss:20b")
    assert (provider.name, model) == ("ollama", "gpt-oss:20b")
    provider, model = resolve("gpt-oss-20b", base_url="http://host/v1")
    assert (provider.name, model) == ("openai-compatible", "gpt-oss-20b")
    with pytest.raises(ConfigError) as info:
        resolve("mystery:gpt-oss")
    for word in (
        "openrouter:",
        "ollama:",
        "vllm:",
        "lmstudio:",
        "llamacpp:",
        "groq:",
        "openai:",
        "deepseek:",
        "--base-url",
    ):
        assert word in str(info.value)
    with pytest.raises(ConfigError, match="effort"):
        make_llm("vllm:x", base_url=server.url).stream(MESSAGES, effort="extreme")
    llm = make_llm("vllm:openai/gpt-oss-20b", base_url=server.url, timeout=7)
    assert isinstance(llm, LLM)  # the runtime-checkable protocol
    assert (
        isinstance(llm, OpenAICompatLLM)
        and llm.timeout == 7.0
        and llm.model == "vllm:openai/gpt-oss-20b"
    )


def test_every_recording_is_valid_json_with_notes() -> None:
    paths = sorted(Path(DATA).glob("*/*.json"))
    assert len(paths) >= 40
    for path in paths:
        rec = json.loads(path.read_text())
        assert rec["notes"] and rec["model"] and "response" in rec
