"""LangChain ``ChatOpenAI`` and LlamaIndex ``OpenAILike`` against a real ``ossrag serve``
with a recorded gpt-oss reasoning stream as the answering model: reasoning and sources
must reach each of them. (The ``openai`` client with it: tests/test_server_chat.py; every
client with the bundled local model: tests/test_server_local.py.)
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from fixtures_server import running_server
from replay_server import ReplayServer, load_recording
from server_kb import GPT_OSS, build_kb, gpt_oss_stream

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(180)

QUESTION = "What is Milvus Lite?"
ANSWER = load_recording("vllm", "stream")["expect"]


def _need(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        reason = f"{module} is not installed ({extra}; scripts/test.sh installs it)"
        if os.environ.get("OSSRAG_REQUIRE_CLIENTS"):
            pytest.fail(f"{reason} (OSSRAG_REQUIRE_CLIENTS is set)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture(scope="module")
def base(replay: ReplayServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = build_kb(tmp_path_factory.mktemp("clients"), base_url=replay.url)
    with running_server(settings) as url:
        yield url


# -- a recorded gpt-oss stream: reasoning and sources reach each client ------------------------


def test_langchain_chat_completions_and_responses_api(base: str, replay: ReplayServer) -> None:
    _need("langchain_openai", "langchain-openai")
    from langchain_openai import ChatOpenAI

    replay.add(gpt_oss_stream())
    chat = ChatOpenAI(model=GPT_OSS, base_url=f"{base}/v1", api_key="x", max_retries=0)
    streamed = "".join(str(chunk.content) for chunk in chat.stream(QUESTION))
    assert streamed == ANSWER["text"]  # ChatOpenAI keeps no non-OpenAI fields on this API...
    # ...so reasoning and sources reach LangChain through the Responses API.
    replay.add(gpt_oss_stream(), gpt_oss_stream())
    responses = ChatOpenAI(
        model=GPT_OSS,
        base_url=f"{base}/v1",
        api_key="x",
        max_retries=0,
        use_responses_api=True,
        output_version="responses/v1",
    )
    message = responses.invoke(QUESTION)
    blocks = {b["type"]: b for b in message.content}
    assert blocks["reasoning"]["content"][0] == {
        "type": "reasoning_text",
        "text": ANSWER["reasoning"],
    }
    text = blocks["text"]
    assert text["text"] == ANSWER["text"]
    (ann,) = text["annotations"]
    assert ann["type"] == "url_citation" and "/v1/kbs/docs/chunks/" in ann["url"]
    assert text["text"][ann["start_index"] : ann["end_index"]] == "[2]"
    chunks = list(responses.stream(QUESTION))
    parts = [b for c in chunks for b in c.content if isinstance(b, dict)]
    assert "".join(b.get("text", "") for b in parts if b.get("type") == "text") == ANSWER["text"]
    assert [a["url"] for b in parts for a in b.get("annotations", [])] == [ann["url"]]


def test_llamaindex_openai_like_stream(base: str, replay: ReplayServer) -> None:
    _need("llama_index.llms.openai_like", "llama-index-llms-openai-like")
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    replay.add(gpt_oss_stream())
    llm = OpenAILike(
        model=GPT_OSS,
        api_base=f"{base}/v1",
        api_key="x",
        is_chat_model=True,
        max_retries=0,
        context_window=8192,
    )
    out = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    assert "".join(r.delta or "" for r in out) == ANSWER["text"]
    thinking = "".join(r.additional_kwargs.get("thinking_delta", "") for r in out)
    assert thinking == ANSWER["reasoning"]  # delta.reasoning, read by LlamaIndex itself
    final = next(r.raw for r in out if r.raw.choices and r.raw.choices[0].finish_reason)
    (ann,) = final.choices[0].delta.model_extra["annotations"]
    assert ann["url_citation"]["url"] == final.model_extra["ossrag"]["citations"][0]["url"]
