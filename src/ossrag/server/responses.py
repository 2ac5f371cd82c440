"""``POST /v1/responses``: the Responses API (stateless), which OpenAI recommends for gpt-oss.

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")
    r = client.responses.create(model="docs", input="Where is data stored?",
                                reasoning={"effort": "low"})
    r.output_text                       # the answer; r.output[-1].content[0].annotations: sources
    [i for i in r.output if i.type == "reasoning"][0].content[0].text   # raw reasoning
    r.model_extra["ossrag"]["hits"]

Output: a ``reasoning`` item whose content is ``reasoning_text`` (unless the
request says ``reasoning: {"exclude": true}``), then the answer as a
``message`` item with one ``output_text`` part carrying ``url_citation``
annotations. Streamed: ``response.created``, ``response.in_progress``, for
each item ``output_item.added``/``content_part.added``, the deltas
(``response.reasoning_text.delta`` / ``response.output_text.delta``), their
``.done``, ``output_text.annotation.added`` per source, ``output_item.done``,
then ``response.completed`` (or ``response.incomplete`` when the token budget
ran out). A stream that breaks ends with ``error`` and ``response.failed``.
Stateless: ``previous_response_id`` is refused; send the conversation in
``input`` (earlier reasoning items are accepted and dropped).
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
from ..llms.base import Message
from . import shapes
from .chat import ContentPart
from .errors import ApiError
from .openapi import documented, sse_event
from .runs import (
    ANSWER_ERRORS,
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
from .schemas import ResponseEvent, ResponseObject
from .streaming import sse_response

__all__ = [
    "InputItem",
    "ResponsesRequest",
    "create_response",
    "input_messages",
    "router",
]

log = logging.getLogger("ossrag.server")
router = APIRouter(tags=["openai"])

_SKIPPED_ITEMS = ("reasoning", "configuration_update")  # accepted back, not used


class InputItem(BaseModel):
    """An item of ``input``: a message (earlier reasoning items are accepted and dropped)."""

    model_config = ConfigDict(extra="allow")

    type: str = "message"
    role: Literal["system", "developer", "user", "assistant"] | None = None
    content: str | list[ContentPart] | None = None


class ResponsesRequest(BaseModel):
    """The Responses API fields ossrag reads; others are accepted and ignored."""

    # strict: no coercion (false is not 0.0), as the published schema says.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(
        description="KB or KB@provider:model (GET /v1/models lists the KBs)",
        json_schema_extra={"pattern": MODEL_PATTERN},
    )
    input: str | list[InputItem] = Field(
        description="the question, or the conversation (the last message is the question)"
    )
    instructions: str | None = None
    stream: bool = False
    reasoning: ReasoningOptions | None = None
    max_output_tokens: Annotated[int, Field(ge=1), JSON_INT] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[Any] | None = Field(
        default=None,
        description="offered tools are never called (answers come from the knowledge base)",
    )
    tool_choice: Any = None
    previous_response_id: str | None = None
    conversation: Any = None
    background: bool | None = None
    text: dict[str, Any] | None = None


def _check(body: ResponsesRequest) -> list[str]:
    notes = offered_tools(body.tools, body.tool_choice) + not_applied(body.model_extra)
    if body.previous_response_id or body.conversation:
        raise unsupported(
            "previous_response_id",
            "ossrag's Responses API is stateless: send the whole conversation in input",
        )
    if body.background:
        raise unsupported("background", "answers are returned or streamed directly")
    fmt = (body.text or {}).get("format") or {}
    if fmt.get("type") not in (None, "text"):
        raise unsupported("text.format", "answers are cited text (use type text)")
    return notes


def input_messages(value: str | list[dict[str, Any]]) -> list[Message]:
    """``input`` as chat messages: message items kept, earlier reasoning dropped."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    out: list[Message] = []
    for i, item in enumerate(value):
        kind = item.get("type", "message")
        if kind in _SKIPPED_ITEMS:
            continue
        if kind != "message":
            raise unsupported(f"input[{i}].type", f"{kind!r} items (only messages are read)")
        content = item.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") not in ("input_text", "output_text", "text"):
                    raise unsupported(f"input[{i}].content", f"{part.get('type')!r} parts")
        out.append({"role": item.get("role", "user"), "content": content})
    return out


@router.post(
    "/v1/responses",
    summary="Answer from a knowledge base (Responses API, stateless)",
    response_model=None,
    responses=documented(
        ResponseObject, *ANSWER_ERRORS, stream=sse_event(ResponseEvent, named=True)
    ),
)
def create_response(body: ResponsesRequest, request: Request) -> Any:
    tool_notes = _check(body)
    state = request.app.state.ossrag
    target = resolve_model(state, body.model)
    messages = input_messages(
        body.input
        if isinstance(body.input, str)
        else [i.model_dump(exclude_none=True) for i in body.input]
    )
    if body.instructions:
        messages.insert(0, {"role": "system", "content": body.instructions})
    turns = split_turns(messages)
    effort, notes = pick_effort(body.reasoning and body.reasoning.effort)
    notes = [*notes, *tool_notes]
    started = start(
        state,
        target,
        turns,
        effort=effort,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        notes=notes,
    )
    view = _View(body, started, base_url=state.config.base_url)
    if body.stream:
        return sse_response(view.events(), started)
    return view.response()


class _View:
    """One answer as a Response object, or as the events of a streamed one."""

    def __init__(self, body: ResponsesRequest, started: Started, *, base_url: str) -> None:
        self.body, self.started, self.base_url = body, started, base_url
        self.id, self.created = "resp_" + uuid.uuid4().hex, int(time.time())
        self.show_reasoning = not (body.reasoning and body.reasoning.exclude)
        self.seq = 0

    def _response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        effort = self.body.reasoning and self.body.reasoning.effort
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.body.model,
            "output": output,
            "instructions": self.body.instructions,
            "parallel_tool_calls": False,
            "tool_choice": "none",
            "tools": [],
            "temperature": self.body.temperature,
            "top_p": None,
            "max_output_tokens": self.body.max_output_tokens,
            "reasoning": {"effort": effort, "summary": None},
            "text": {"format": {"type": "text"}},
            "metadata": {},
            "store": False,
            "error": None,
            "incomplete_details": None,
            "usage": None,
            **extra,
        }

    def _finished(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        answer, kb = self.started.answer, self.started.target.kb_name
        length = shapes.finish_reason(answer) == "length"
        return self._response(
            "incomplete" if length else "completed",
            output,
            incomplete_details={"reason": "max_output_tokens"} if length else None,
            usage=shapes.responses_usage(answer.usage, reasoning=answer.reasoning),
            ossrag=shapes.ossrag_field(
                answer, kb=kb, base_url=self.base_url, warnings=self.started.notes
            ),
        )

    def _message(self, item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
        answer = self.started.run.answer  # None while the answer is still streaming
        annotations = (
            []
            if answer is None or status != "completed"
            else shapes.flat_annotations(
                text, answer, kb=self.started.target.kb_name, base_url=self.base_url
            )
        )
        return {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [
                {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
            ],
        }

    @staticmethod
    def _reasoning(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
        content = [{"type": "reasoning_text", "text": text}] if text else []
        return {
            "id": item_id,
            "type": "reasoning",
            "summary": [],
            "content": content,
            "status": status,
        }

    # -- not streamed
    def response(self) -> JSONResponse:
        for _ in self.started:
            pass
        answer = self.started.answer
        if not answer.complete:
            raise ApiError(
                502,
                "the answering model's stream broke off midway",
                type="api_error",
                code="upstream_stream_broken",
            )
        output = []
        if self.show_reasoning and answer.reasoning:
            output.append(self._reasoning("rs_" + uuid.uuid4().hex, answer.reasoning))
        output.append(self._message("msg_" + uuid.uuid4().hex, answer.text))
        return JSONResponse(self._finished(output))

    # -- streamed
    def _event(self, type: str, **fields: Any) -> str:
        obj = {"type": type, "sequence_number": self.seq, **fields}
        self.seq += 1
        return f"event: {type}\ndata: {json.dumps(obj, ensure_ascii=False)}\n\n"

    def events(self) -> Iterator[str]:
        yield self._event("response.created", response=self._response("in_progress", []))
        yield self._event("response.in_progress", response=self._response("in_progress", []))
        items = _Items(self)
        try:
            for ev in self.started:
                if ev.type == "reasoning" and ev.delta and self.show_reasoning:
                    yield from items.delta("reasoning", ev.delta)
                elif ev.type == "text" and ev.delta:
                    yield from items.delta("message", ev.delta)
            if not self.started.answer.complete:
                yield from self._failed(self.started.answer.warnings[-1], items.output)
                return
            has_message = any(i["type"] == "message" for i in items.output)
            if not has_message and (items.open or {}).get("type") != "message":
                yield from items.delta("message", "")  # an empty answer is still a message
            yield from items.close()
            final = self._finished(items.output)
            incomplete = final["status"] == "incomplete"
            kind = "response.incomplete" if incomplete else "response.completed"
            yield self._event(kind, response=final)
        except OssragError as exc:
            yield from self._failed(str(exc), items.output)
        except Exception as exc:  # never a silent truncation
            log.exception("responses stream failed")
            yield from self._failed(f"internal error: {type(exc).__name__}: {exc}", items.output)

    def _failed(self, message: str, output: list[dict[str, Any]]) -> Iterator[str]:
        yield self._event("error", code="server_error", message=message, param=None)
        yield self._event(
            "response.failed",
            response=self._response(
                "failed", output, error={"code": "server_error", "message": message}
            ),
        )


class _Items:
    """The output items of a streamed response, opened and closed as the deltas change kind."""

    def __init__(self, view: _View) -> None:
        self.view = view
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # {"type", "id", "parts": [...]}

    def delta(self, kind: str, delta: str) -> Iterator[str]:
        ev, v = self.view._event, self.view
        if self.open is None or self.open["type"] != kind:
            yield from self.close()
            prefix = "rs_" if kind == "reasoning" else "msg_"
            self.open = {"type": kind, "id": prefix + uuid.uuid4().hex, "parts": []}
            index = len(self.output)
            empty = (
                v._reasoning(self.open["id"], "", "in_progress")
                if kind == "reasoning"
                else v._message(self.open["id"], "", "in_progress")
            )
            empty["content"] = []
            yield ev("response.output_item.added", output_index=index, item=empty)
            part = (
                {"type": "reasoning_text", "text": ""}
                if kind == "reasoning"
                else {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            )
            yield ev(
                "response.content_part.added",
                item_id=self.open["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        self.open["parts"].append(delta)
        if not delta:
            return
        where = {"item_id": self.open["id"], "output_index": len(self.output), "content_index": 0}
        if kind == "reasoning":
            yield ev("response.reasoning_text.delta", delta=delta, **where)
        else:
            yield ev("response.output_text.delta", delta=delta, logprobs=[], **where)

    def close(self) -> Iterator[str]:
        if self.open is None:
            return
        ev, v, item = self.view._event, self.view, self.open
        text, index = "".join(item["parts"]), len(self.output)
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if item["type"] == "reasoning":
            done = v._reasoning(item["id"], text)
            yield ev("response.reasoning_text.done", text=text, **where)
            yield ev(
                "response.content_part.done",
                part=done["content"][0] if text else {"type": "reasoning_text", "text": ""},
                **where,
            )
        else:
            done = v._message(item["id"], text)
            part = done["content"][0]
            yield ev("response.output_text.done", text=text, logprobs=[], **where)
            for n, annotation in enumerate(part["annotations"]):
                yield ev(
                    "response.output_text.annotation.added",
                    annotation_index=n,
                    annotation=annotation,
                    **where,
                )
            yield ev("response.content_part.done", part=part, **where)
        yield ev("response.output_item.done", output_index=index, item=done)
        self.output.append(done)
        self.open = None
