"""``POST /v1/chat/completions``: a question to a knowledge base, answered with sources.

    curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "docs", "messages": [{"role": "user", "content": "Where is data stored?"}]}'

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")
    reply = client.chat.completions.create(model="docs@ollama:gpt-oss:20b", messages=[...],
                                           reasoning_effort="low")
    reply.choices[0].message.content, reply.choices[0].message.model_extra["reasoning"]
    reply.model_extra["ossrag"]["hits"]

``model`` is a knowledge base, optionally with the answering model
(``KB@provider:model``). The last user message is the question; earlier turns
are history. Reasoning is ``message.reasoning`` / ``delta.reasoning`` (plus
``reasoning_content`` when the server runs with ``--reasoning-content``),
never inside ``content``, and left out when the request says
``reasoning: {"exclude": true}``. Sources are ``url_citation`` annotations
plus the ``ossrag`` field (see :mod:`.shapes`). A streamed answer that breaks
off ends with an error event before ``data: [DONE]``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import OssragError
from . import shapes
from .errors import ApiError, error_body, status_for
from .openapi import documented, sse_event
from .runs import (
    ANSWER_ERRORS,
    EFFORT_VALUES,
    JSON_INT,
    MODEL_PATTERN,
    ReasoningOptions,
    Started,
    not_applied,
    offered_tools,
    pick_effort,
    resolve_model,
    split_turns,
    start,
    unsupported,
)
from .schemas import ChatCompletion, ChatCompletionChunk
from .streaming import sse_response

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ContentPart",
    "chat_completions",
    "router",
]

log = logging.getLogger("ossrag.server")
router = APIRouter(tags=["openai"])


class ContentPart(BaseModel):
    """A part of a message's content; text parts are read, others ignored."""

    model_config = ConfigDict(extra="allow")

    type: str = "text"
    text: str | None = None


class ChatMessage(BaseModel):
    """One message (client-side tool roles are refused with 400, as is a tool call)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    """The Chat Completions fields ossrag reads; others are accepted and ignored."""

    # strict: no coercion (false is not 0.0), as the published schema says.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(
        description="KB or KB@provider:model (GET /v1/models lists the KBs)",
        json_schema_extra={"pattern": MODEL_PATTERN},
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="the last one is the question (a user's); earlier ones are history",
    )
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    reasoning_effort: str | None = Field(
        default=None, json_schema_extra={"enum": [*EFFORT_VALUES, None]}
    )
    reasoning: ReasoningOptions | None = None
    max_tokens: Annotated[int, Field(ge=1), JSON_INT] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1), JSON_INT] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: Annotated[int, JSON_INT] | None = None
    tools: list[Any] | None = Field(
        default=None,
        description="offered tools are never called (answers come from the knowledge base)",
    )
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, JSON_INT] | None = None
    response_format: dict[str, Any] | None = None


def _check(body: ChatRequest) -> list[str]:
    """400 for what ossrag cannot honour (rather than silently ignoring it); notes."""
    if body.n is not None and body.n != 1:
        raise unsupported("n", "ossrag returns one answer per request (n=1)")
    notes = offered_tools(body.tools, body.tool_choice)
    notes += offered_tools(body.functions, body.function_call)
    notes += not_applied(body.model_extra)
    if body.logprobs or body.top_logprobs:
        raise unsupported("logprobs", "the answering backends do not report them")
    if body.response_format and body.response_format.get("type") not in (None, "text"):
        raise unsupported("response_format", "answers are cited text (use type text)")
    return notes


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


@router.post(
    "/v1/chat/completions",
    summary="Answer the last user message from a knowledge base",
    response_model=None,
    responses=documented(
        ChatCompletion, *ANSWER_ERRORS, stream=sse_event(ChatCompletionChunk, done=True)
    ),
)
def chat_completions(body: ChatRequest, request: Request) -> Any:
    tool_notes = _check(body)
    state = request.app.state.ossrag
    target = resolve_model(state, body.model)
    turns = split_turns([m.model_dump(exclude_none=True) for m in body.messages])
    effort, notes = pick_effort(body.reasoning_effort, body.reasoning and body.reasoning.effort)
    notes = [*notes, *tool_notes]
    started = start(
        state,
        target,
        turns,
        effort=effort,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        notes=notes,
    )
    view = _View(
        body,
        started,
        base_url=state.config.base_url,
        reasoning_content=state.config.reasoning_content,
    )
    if body.stream:
        return sse_response(view.chunks(), started)
    return view.completion()


class _View:
    """One answer as a chat completion, or as the chunks of a streamed one."""

    def __init__(
        self, body: ChatRequest, started: Started, *, base_url: str, reasoning_content: bool
    ) -> None:
        self.body, self.started, self.base_url = body, started, base_url
        self.id, self.created = _new_id(), int(time.time())
        self.show_reasoning = not (body.reasoning and body.reasoning.exclude)
        self.reasoning_fields = (
            ("reasoning", "reasoning_content") if reasoning_content else ("reasoning",)
        )

    def _extra(self, text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        answer, kb = self.started.answer, self.started.target.kb_name
        return (
            shapes.chat_annotations(text, answer, kb=kb, base_url=self.base_url),
            shapes.ossrag_field(answer, kb=kb, base_url=self.base_url, warnings=self.started.notes),
        )

    # -- not streamed
    def completion(self) -> JSONResponse:
        for _ in self.started:
            pass
        answer = self.started.answer
        if not answer.complete:
            reason = "; ".join(w for w in answer.warnings if "broke off" in w) or "stream broke off"
            raise ApiError(
                502,
                f"the answering model's stream broke off midway ({reason})",
                type="api_error",
                code="upstream_stream_broken",
            )
        annotations, extra = self._extra(answer.text)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.text,
            "refusal": None,
            "annotations": annotations,
        }
        if self.show_reasoning and answer.reasoning:
            message.update(dict.fromkeys(self.reasoning_fields, answer.reasoning))
        return JSONResponse(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": shapes.finish_reason(answer),
                    }
                ],
                "usage": shapes.chat_usage(answer.usage, reasoning=answer.reasoning),
                "ossrag": extra,
            }
        )

    # -- streamed
    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **top: Any) -> str:
        obj = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.body.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **top,
        }
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    def chunks(self) -> Iterator[str]:
        """role, reasoning deltas, content deltas, the final chunk, usage, [DONE]."""
        yield self._chunk({"role": "assistant", "content": ""})
        sent: list[str] = []
        try:
            for ev in self.started:
                if ev.type == "reasoning" and ev.delta and self.show_reasoning:
                    yield self._chunk(dict.fromkeys(self.reasoning_fields, ev.delta))
                elif ev.type == "text" and ev.delta:
                    sent.append(ev.delta)
                    yield self._chunk({"content": ev.delta})
            answer = self.started.answer
            if not answer.complete:
                reason = "; ".join(answer.warnings[-1:]) or "the answer stream broke off"
                yield _error_event(reason, code="upstream_stream_broken")
            else:
                annotations, extra = self._extra("".join(sent))
                yield self._chunk(
                    {"annotations": annotations}, shapes.finish_reason(answer), ossrag=extra
                )
                if (self.body.stream_options or {}).get("include_usage"):
                    usage = shapes.chat_usage(answer.usage, reasoning=answer.reasoning)
                    obj = {
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.body.model,
                        "choices": [],
                        "usage": usage,
                    }
                    yield f"data: {json.dumps(obj)}\n\n"
        except OssragError as exc:
            _, kind, code = status_for(exc)
            yield _error_event(str(exc), type=kind, code=code or "upstream_error")
        except Exception as exc:  # never a silent truncation, whatever broke
            log.exception("chat stream failed")
            yield _error_event(
                f"internal error: {type(exc).__name__}: {exc}", code="internal_error"
            )
        yield "data: [DONE]\n\n"


def _error_event(message: str, *, type: str = "api_error", code: str) -> str:
    return f"data: {json.dumps(error_body(message, type=type, code=code))}\n\n"
