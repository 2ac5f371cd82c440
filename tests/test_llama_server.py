"""SmolLM2 behind ``python -m llama_cpp.server`` on 127.0.0.1, driven by the real ``openai`` client."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from fixtures_llm import SERVER_ALIAS, llama_server, smollm2_path  # noqa: F401  (fixtures)

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.llm

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is a vector database used for?"},
]


@pytest.fixture(scope="module")
def client(llama_server: str):  # noqa: F811
    return openai.OpenAI(base_url=llama_server, api_key="x", timeout=60, max_retries=0)


@pytest.fixture(scope="module")
def reference(client):
    """The server's own greedy, non-streamed answer (32 tokens) and its usage."""
    return client.chat.completions.create(
        model=SERVER_ALIAS, messages=MESSAGES, max_tokens=32, temperature=0, seed=0
    )


def test_models_endpoint_lists_the_model(client) -> None:
    ids = [m.id for m in client.models.list().data]
    assert SERVER_ALIAS in ids


def test_streaming_with_include_usage(client, reference) -> None:
    stream = client.chat.completions.create(
        model=SERVER_ALIAS,
        messages=MESSAGES,
        max_tokens=32,
        temperature=0,
        seed=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text and text == reference.choices[0].message.content
    assert finish == [reference.choices[0].finish_reason]
    # llama-cpp-python's server ignores stream_options (no usage chunk); if a
    # later version sends one, it must agree with the non-streamed count.
    usages = [c.usage for c in chunks if getattr(c, "usage", None)]
    if usages:
        assert usages[-1].completion_tokens == reference.usage.completion_tokens


@pytest.mark.isolated
def test_usage_numbers_match_the_in_process_model(reference, smollm2_path: Path) -> None:  # noqa: F811
    usage = reference.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 < usage.completion_tokens <= 32
    if importlib.util.find_spec("llama_cpp") is None:  # pragma: no cover
        return
    from ossrag.llms.local import LocalLLM

    local = LocalLLM("local:smollm2", n_ctx=2048, n_threads=1)
    done = local.complete(MESSAGES, max_tokens=32, temperature=0)
    # same GGUF, same chat template: the prompt counts agree exactly
    assert done.usage.prompt_tokens == usage.prompt_tokens


def test_max_tokens(client) -> None:
    resp = client.chat.completions.create(
        model=SERVER_ALIAS, messages=MESSAGES, max_tokens=4, temperature=0
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 4


def test_stop_sequence(client, reference) -> None:
    full = reference.choices[0].message.content
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[2]
    resp = client.chat.completions.create(
        model=SERVER_ALIAS, messages=MESSAGES, max_tokens=32, temperature=0, seed=0, stop=[stop]
    )
    assert resp.choices[0].message.content == full[: full.index(stop)]
    assert resp.choices[0].finish_reason == "stop"


def test_client_timeout(llama_server: str) -> None:  # noqa: F811
    tiny = openai.OpenAI(base_url=llama_server, api_key="x", timeout=0.001, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        tiny.chat.completions.create(model=SERVER_ALIAS, messages=MESSAGES, max_tokens=8)
    assert time.monotonic() - t0 < 5


def _openai_compat():
    try:
        from ossrag.llms.openai_compat import OpenAICompatLLM
    except ImportError:  # pragma: no cover - written by another module owner
        pytest.skip("ossrag.llms.openai_compat is not available")
    return OpenAICompatLLM


def test_openai_compat_backend_streams_from_llama_server(llama_server: str, reference) -> None:  # noqa: F811
    llm = _openai_compat()(f"llamacpp:{SERVER_ALIAS}", base_url=llama_server, timeout=60)
    events = list(llm.stream(MESSAGES, max_tokens=32, temperature=0))
    kinds = [e.type for e in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert "text" in kinds and kinds.index("text") < kinds.index("done")
    text = "".join(e.delta for e in events if e.type == "text")
    assert text == reference.choices[0].message.content
    assert events[-1].finish_reason == reference.choices[0].finish_reason
    assert events[-1].complete


def test_openai_compat_backend_usage_and_max_tokens(llama_server: str, reference) -> None:  # noqa: F811
    llm = _openai_compat()(
        f"llamacpp:{SERVER_ALIAS}", base_url=llama_server, timeout=60, streaming=False
    )
    done = llm.complete(MESSAGES, max_tokens=4, temperature=0)
    assert done.finish_reason == "length"
    assert done.usage.completion_tokens == 4
    assert done.usage.prompt_tokens == reference.usage.prompt_tokens
    assert reference.choices[0].message.content.startswith(done.text)


def test_openai_compat_backend_timeout(llama_server: str) -> None:  # noqa: F811
    from ossrag.errors import LLMTimeoutError

    llm = _openai_compat()(
        f"llamacpp:{SERVER_ALIAS}", base_url=llama_server, timeout=0.001, max_retries=0
    )
    with pytest.raises(LLMTimeoutError):
        llm.complete(MESSAGES, max_tokens=8)
