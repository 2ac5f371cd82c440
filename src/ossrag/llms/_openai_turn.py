"""One OpenAI-compatible response, streamed or not, turned into ossrag's stream events.

Private to :class:`~ossrag.llms.openai_compat.OpenAICompatLLM`::

    turn = Turn(pre_opened=False)
    for chunk in response:                        # a streamed chat completion
        yield from turn.on_chunk(as_dict(chunk))  # reasoning / text events as they arrive
    # or, not streamed: yield from turn.on_response(as_dict(response))
    yield from turn.finish()                      # tool calls, usage, then done
    turn.error                                    # why it ended incomplete, if it did

Reasoning is read from every field servers use (:func:`~ossrag.llms.reasoning.reasoning_from`)
and ``<think>``/raw harmony is split out of ``content``
(:class:`~ossrag.llms.reasoning.InlineReasoningSplitter`), so it never reaches the
answer text; ``tool_calls`` deltas are gathered by index (or by id, for servers
that reuse index 0 for parallel calls).  ``finish(error=...)`` ends a stream that
broke off: what arrived is kept, half-streamed tool calls are dropped, and
``done`` says ``complete=False``.
"""

from __future__ import annotations

import json
from typing import Any

from ..types import StreamEvent, ToolCall, Usage
from .base import content_text
from .reasoning import InlineReasoningSplitter, reasoning_from, split_inline, usage_from

__all__ = ["Turn", "as_dict"]


def as_dict(obj: Any) -> dict[str, Any]:
    """An openai response object as a plain dict, unknown fields (reasoning, cost) included."""
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict(warnings=False))
    return dict(obj.model_dump())


def _items(value: Any) -> list[dict[str, Any]]:
    """The dicts of a JSON list (``choices``, ``tool_calls``); anything else is malformed: none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class Turn:
    """Accumulates one response (streamed or not) into events; see the module docstring."""

    def __init__(self, pre_opened: bool) -> None:
        self.pre_opened = pre_opened
        self.splitter = InlineReasoningSplitter(pre_opened=pre_opened)
        self.inline_calls: list[ToolCall] = []  # tool calls found in raw harmony content
        self.tools: dict[Any, dict[str, str]] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.received = False
        self.error: str | None = None

    def _events(self, parts: list[tuple[str, str]]) -> list[StreamEvent]:
        return [
            StreamEvent(type="reasoning" if k == "reasoning" else "text", delta=t) for k, t in parts
        ]

    def on_chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        self.received = True
        out: list[StreamEvent] = []
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")  # Groq: x_groq.usage
        if usage:
            self.usage = usage_from(usage)
        for choice in _items(chunk.get("choices")):
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if not isinstance(delta, dict):
                continue
            reasoning = reasoning_from(delta)
            if reasoning:
                out.append(StreamEvent(type="reasoning", delta=reasoning))
            content = content_text(delta.get("content"))
            if content:
                out += self._events(self.splitter.feed(content))
            for tc in _items(delta.get("tool_calls")):
                self._tool_delta(tc)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def on_response(self, resp: dict[str, Any]) -> list[StreamEvent]:
        self.received = True
        self.usage = usage_from(resp.get("usage"))
        choices = _items(resp.get("choices"))
        if not choices:
            self.error = "the response has no choices"
            return []
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason")
        msg = choice.get("message") or {}
        if not isinstance(msg, dict):
            msg = {}
        out: list[StreamEvent] = []
        reasoning = reasoning_from(msg)
        split = split_inline(
            content_text(msg.get("content")),
            pre_opened=self.pre_opened,
            incomplete=self.finish_reason == "length",
        )
        reasoning += split.reasoning
        if reasoning:
            out.append(StreamEvent(type="reasoning", delta=reasoning))
        if split.text:
            out.append(StreamEvent(type="text", delta=split.text))
        for i, tc in enumerate(_items(msg.get("tool_calls"))):
            self._tool_delta({"index": i, **tc})
        self.inline_calls += split.tool_calls
        return out

    def _tool_delta(self, tc: dict[str, Any]) -> None:
        key: Any = tc.get("index", len(self.tools))
        if not isinstance(key, int | str):
            key = len(self.tools)
        slot = self.tools.get(key)
        if slot and tc.get("id") and slot["id"] and tc["id"] != slot["id"]:
            key = (key, tc["id"])  # a server that reuses index 0 for parallel calls
            slot = self.tools.get(key)
        if slot is None:
            slot = self.tools[key] = {"id": "", "name": "", "arguments": ""}
        raw = tc.get("function")
        fn: dict[str, Any] = raw if isinstance(raw, dict) else {}
        slot["id"] = slot["id"] or str(tc.get("id") or "")
        name = fn.get("name") or ""
        name = name if isinstance(name, str) else json.dumps(name)  # a malformed call: kept, shown
        if name and name != slot["name"]:
            slot["name"] += name
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):  # some servers send parsed arguments
            args = json.dumps(args)
        slot["arguments"] += args or ""

    def finish(self, error: str | None = None) -> list[StreamEvent]:
        incomplete = error is not None or self.finish_reason in (None, "length")
        out = self._events(self.splitter.flush(incomplete=incomplete))
        calls: list[ToolCall] = []
        if error is None:  # half-streamed tool calls are not worth running
            for n, slot in enumerate(self.tools.values()):
                calls.append(
                    ToolCall(
                        id=slot["id"] or f"call_{n}",
                        name=slot["name"],
                        arguments=slot["arguments"] or "{}",
                    )
                )
            calls += self.splitter.tool_calls + self.inline_calls
            out += [StreamEvent(type="tool_call", tool_call=c) for c in calls]
        if self.usage is not None:
            out.append(StreamEvent(type="usage", usage=self.usage))
        if error is None and self.finish_reason is None:
            error = "the stream ended without a finish_reason (the connection closed early)"
        self.error = error
        if error is not None:
            out.append(StreamEvent(type="done", finish_reason="error", complete=False))
            return out
        finish = self.finish_reason
        if calls and finish == "stop":
            finish = "tool_calls"
        out.append(StreamEvent(type="done", finish_reason=finish, complete=True))
        return out
