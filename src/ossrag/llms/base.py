"""The LLM protocol: every backend streams :class:`~ossrag.types.StreamEvent` s.

    llm = make_llm("local:smollm2")
    for event in llm.stream([{"role": "user", "content": "Hi"}], effort="low"):
        if event.type == "text":
            print(event.delta, end="")

Event order: any number of ``reasoning``/``text``/``tool_call`` events, then at
most one ``usage``, then exactly one ``done`` (``finish_reason`` ``stop``,
``length`` or ``tool_calls``; ``complete=False`` if the stream broke off).
Reasoning never appears inside ``text`` events: backends split it out of
whatever field or inline form the server used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..types import StreamEvent, ToolCall, Usage

__all__ = ["LLM", "Completion", "Gatherer", "Message", "collect", "content_text"]

# OpenAI-style chat message: {"role": ..., "content": ..., optional "reasoning", "tool_calls", ...}
Message = dict[str, Any]


@runtime_checkable
class LLM(Protocol):
    """What every language-model backend provides."""

    #: The model string it was made from, e.g. ``openrouter:openai/gpt-oss-120b``.
    model: str
    supports_reasoning: bool
    supports_tools: bool
    supports_json_schema: bool

    def stream(
        self,
        messages: list[Message],
        *,
        effort: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream one assistant turn as events."""
        ...

    def complete(
        self,
        messages: list[Message],
        **kwargs: Any,
    ) -> Completion:
        """Run :meth:`stream` to the end and gather it."""
        ...


@dataclass
class Completion:
    """A gathered stream."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    complete: bool = True


def content_text(content: Any) -> str:
    """The text of OpenAI message content: a string, or a list of parts (text parts kept)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type", "text") in (
            "text",
            "input_text",
            "output_text",
        ):
            parts.append(str(part.get("text", "")))
        elif isinstance(part, str):
            parts.append(part)
    return "".join(parts)


class Gatherer:
    """Accumulates events into a :class:`Completion`: the one place that reads a stream."""

    def __init__(self) -> None:
        self.out = Completion()
        self._text: list[str] = []
        self._reasoning: list[str] = []

    def add(self, ev: StreamEvent) -> None:
        if ev.type == "text":
            self._text.append(ev.delta)
        elif ev.type == "reasoning":
            self._reasoning.append(ev.delta)
        elif ev.type == "tool_call" and ev.tool_call is not None:
            self.out.tool_calls.append(ev.tool_call)
        elif ev.type == "usage" and ev.usage is not None:
            self.out.usage = ev.usage
        elif ev.type == "done":
            self.out.finish_reason, self.out.complete = ev.finish_reason, ev.complete

    def completion(self) -> Completion:
        self.out.text, self.out.reasoning = "".join(self._text), "".join(self._reasoning)
        return self.out


def collect(events: Iterator[StreamEvent]) -> Completion:
    """Gather a stream of events into a :class:`Completion` (``complete()`` helper)."""
    g = Gatherer()
    for ev in events:
        g.add(ev)
    return g.completion()
