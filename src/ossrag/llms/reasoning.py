"""Reasoning in every form servers send it, split from the answer.

Servers return gpt-oss's chain of thought in different places (see
docs/models.md): a ``reasoning`` field (OpenRouter, new vLLM,
Ollama ``/v1``, Groq, LM Studio), ``reasoning_content`` (llama.cpp, DeepSeek,
old vLLM), ``reasoning_details`` (OpenRouter, alongside ``reasoning``),
``thinking`` (Ollama native), or inline in ``content``: ``<think>...</think>``
(Qwen3, R1 on raw servers) or raw harmony channels (llama.cpp
``--reasoning-format none``, early LM Studio builds)::

    reasoning_from({"reasoning": "Sum.", "reasoning_details": [...]})  # 'Sum.' (once)

    splitter = InlineReasoningSplitter()
    splitter.feed("<thi")                    # []  (could still become <think>)
    splitter.feed("nk>2+2?</think>\\n\\n4")   # [('reasoning', '2+2?'), ('text', '4')]
    splitter.flush()                         # []

    split_inline("Hmm.</think>4")            # InlineSplit(reasoning='Hmm.', text='4', ...)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import ToolCall, Usage

__all__ = [
    "REASONING_FIELDS",
    "InlineReasoningSplitter",
    "InlineSplit",
    "details_text",
    "partial_suffix",
    "reasoning_from",
    "split_inline",
    "usage_from",
]

log = logging.getLogger("ossrag.llms")

#: Plain-text reasoning fields, in order of preference.
REASONING_FIELDS = ("reasoning", "reasoning_content", "thinking")
OPEN, CLOSE = "<think>", "</think>"
_HARMONY_MARKERS = ("<|channel|>", "<|start|>")


def details_text(details: Any) -> str:
    """Readable text of OpenRouter ``reasoning_details`` (encrypted entries carry none)."""
    if not isinstance(details, list):
        return ""
    parts: list[str] = []
    for item in details:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "reasoning.text" and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif kind == "reasoning.summary" and isinstance(item.get("summary"), str):
            parts.append(item["summary"])
        # "reasoning.encrypted": opaque data for the provider, nothing to show
    return "".join(parts)


def reasoning_from(obj: Mapping[str, Any] | None) -> str:
    """The reasoning a message or stream delta carries, from whichever field holds it.

    OpenRouter sends the same text in ``reasoning`` and ``reasoning_details``;
    the first non-empty plain field wins and the details are only a fallback,
    so nothing is emitted twice. Inline forms are :class:`InlineReasoningSplitter`'s job.
    """
    if not obj:
        return ""
    for key in REASONING_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return details_text(obj.get("reasoning_details"))


def usage_from(usage: Mapping[str, Any] | None) -> Usage | None:
    """A :class:`~ossrag.types.Usage` from a chat-completions (or responses) usage object."""
    if not usage:
        return None
    details = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    cost = usage.get("cost")
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or usage.get("output_tokens") or 0),
        reasoning_tokens=int(reasoning) if isinstance(reasoning, int | float) else None,
        cost=float(cost) if isinstance(cost, int | float) else None,
    )


def partial_suffix(buf: str, markers: tuple[str, ...] | list[str]) -> int:
    """Length of the longest tail of ``buf`` that could still grow into one of ``markers``."""
    best = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(buf)), best, -1):
            if marker.startswith(buf[-n:]):
                best = n
                break
    return best


class InlineReasoningSplitter:
    """Split streamed ``content`` into reasoning and answer, whatever the chunking.

    Handles ``<think>...</think>`` split at any character, a block never closed
    (output cut off: all of it is reasoning, :attr:`truncated` is set), and raw
    harmony (delegated to :class:`ossrag.llms.harmony.HarmonyStreamParser`;
    its tool calls collect in :attr:`tool_calls`). With ``pre_opened=True``
    (templates that open ``<think>`` in the prompt, e.g. Qwen3-Thinking-2507)
    everything up to ``</think>`` is reasoning. Without it, a ``</think>``
    that was never opened is dropped and :attr:`stray_close` set: text before
    it was already streamed as answer (:func:`split_inline` can look ahead
    and gets it right for whole messages).
    """

    def __init__(self, *, pre_opened: bool = False) -> None:
        self._mode = "think" if pre_opened else "start"  # start|think|after|text|harmony
        self._lead = True  # at the start of a think block (leading blank lines dropped)
        self._answered = False  # answer text was emitted (a later </think> is mid-answer)
        self._buf = ""
        self._harmony: Any = None
        self.tool_calls: list[ToolCall] = []
        self.truncated = False
        self.stray_close = False
        self.harmony = False  # the content turned out to be raw harmony
        self.harmony_finish_reason: str | None = None

    def feed(self, delta: str) -> list[tuple[str, str]]:
        """Consume a chunk of content; return ``(kind, text)`` pairs, kind ``reasoning``/``text``."""
        if not delta:
            return []
        self._buf += delta
        out: list[tuple[str, str]] = []
        self._drain(out, final=False)
        return _merge(out)

    def flush(self, *, incomplete: bool = False) -> list[tuple[str, str]]:
        """End of content. ``incomplete``: the output was cut (``length`` or a broken stream)."""
        out: list[tuple[str, str]] = []
        self._drain(out, final=True)
        if self._mode == "harmony" and self._harmony is not None:
            self._harmony_events(self._harmony.close(incomplete=incomplete), out)
            self.truncated = bool(self._harmony.truncated)
            self.harmony_finish_reason = self._harmony.finish_reason
        return _merge(out)

    # -- internals

    def _drain(self, out: list[tuple[str, str]], *, final: bool) -> None:
        while True:
            mode = self._mode
            if mode == "start":
                if not self._decide(final):
                    return
            elif mode == "think":
                if self._lead:  # the newline after <think> is layout, not reasoning
                    self._buf = self._buf.lstrip()
                    self._lead = not self._buf
                i = self._buf.find(CLOSE)
                if i >= 0:
                    out.append(("reasoning", self._buf[:i].rstrip()))
                    # Blank lines after a leading block are layout; inside the answer they are text.
                    self._buf = self._buf[i + len(CLOSE) :]
                    self._mode = "text" if self._answered else "after"
                    continue
                if final:
                    out.append(("reasoning", self._buf.rstrip()))
                    self._buf = ""
                    self.truncated = True  # the block was never closed
                    return
                # Hold back what could be the start of </think> and the whitespace before it.
                keep = partial_suffix(self._buf, (CLOSE,))
                head = self._buf[: len(self._buf) - keep]
                cut = len(head.rstrip())
                out.append(("reasoning", head[:cut]))
                self._buf = self._buf[cut:]
                return
            elif mode == "after":
                # The blank line(s) between </think> and the answer are layout, not answer.
                self._buf = self._buf.lstrip()
                if not self._buf:
                    return
                self._mode = "text"
            elif mode == "text":
                i_open, i_close = self._buf.find(OPEN), self._buf.find(CLOSE)
                hits = [(i, tag) for i, tag in ((i_open, OPEN), (i_close, CLOSE)) if i >= 0]
                if hits:
                    i, tag = min(hits)
                    self._emit_text(self._buf[:i], out)
                    self._buf = self._buf[i + len(tag) :]
                    if tag == OPEN:
                        self._mode, self._lead = "think", True
                    else:
                        self.stray_close = True
                    continue
                keep = 0 if final else partial_suffix(self._buf, (OPEN, CLOSE))
                self._emit_text(self._buf[: len(self._buf) - keep], out)
                self._buf = self._buf[len(self._buf) - keep :]
                return
            else:  # harmony
                buf, self._buf = self._buf, ""
                if buf:
                    self._harmony_events(self._harmony.feed(buf), out)
                return

    def _emit_text(self, text: str, out: list[tuple[str, str]]) -> None:
        if text:
            self._answered = True
            out.append(("text", text))

    def _decide(self, final: bool) -> bool:
        """In ``start`` mode: pick the mode from the first non-blank characters."""
        head = self._buf.lstrip()
        if not head:
            if final:
                self._buf = ""
            return False
        for marker in (OPEN, CLOSE, *_HARMONY_MARKERS):
            if head.startswith(marker):
                if marker == OPEN:
                    self._buf, self._mode = head[len(OPEN) :], "think"
                elif marker == CLOSE:  # an empty pre-opened block
                    self._buf, self._mode = head[len(CLOSE) :], "after"
                elif self._start_harmony():
                    self._buf = head
                else:
                    self._mode = "text"
                return True
            if marker.startswith(head) and not final:
                return False  # could still become this marker: wait for more
        self._mode = "text"
        return True

    def _start_harmony(self) -> bool:
        try:
            from .harmony import HarmonyStreamParser
        except ImportError:  # pragma: no cover - harmony.py ships with ossrag
            log.warning("raw harmony in the answer, but ossrag.llms.harmony is missing")
            return False
        self._harmony = HarmonyStreamParser()
        self._mode = "harmony"
        self.harmony = True
        return True

    def _harmony_events(self, events: list[Any], out: list[tuple[str, str]]) -> None:
        for ev in events:
            if ev.type in ("reasoning", "text") and ev.delta:
                out.append((ev.type, ev.delta))
            elif ev.type == "tool_call" and ev.tool_call is not None:
                self.tool_calls.append(ev.tool_call)


def _merge(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind, text in parts:
        if not text:
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out


@dataclass
class InlineSplit:
    """Result of :func:`split_inline`."""

    reasoning: str = ""
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    truncated: bool = False
    harmony: bool = False


def split_inline(
    content: str | None, *, pre_opened: bool = False, incomplete: bool = False
) -> InlineSplit:
    """Split a whole (non-streamed) ``content`` into reasoning and answer.

    Unlike the streaming splitter this sees the whole text, so a ``</think>``
    without an opening tag (the template opened it) is handled: what precedes it is reasoning.
    """
    content = content or ""
    i_close, i_open = content.find(CLOSE), content.find(OPEN)
    if i_close >= 0 and (i_open < 0 or i_open > i_close):
        pre_opened = True
    if not pre_opened:
        try:
            from .harmony import looks_like_harmony, parse_harmony
        except ImportError:  # pragma: no cover
            looks_like_harmony = None  # type: ignore[assignment]
        if looks_like_harmony is not None and looks_like_harmony(content):
            done = parse_harmony(content, incomplete=incomplete)
            return InlineSplit(
                done.reasoning,
                done.text,
                list(done.tool_calls),
                truncated=not done.complete,
                harmony=True,
            )
    splitter = InlineReasoningSplitter(pre_opened=pre_opened)
    parts = splitter.feed(content) + splitter.flush(incomplete=incomplete)
    return InlineSplit(
        reasoning="".join(t for k, t in parts if k == "reasoning"),
        text="".join(t for k, t in parts if k == "text"),
        tool_calls=splitter.tool_calls,
        truncated=splitter.truncated,
        harmony=splitter.harmony,
    )
