"""The LLM stream suite: the event contract every :class:`~ossrag.llms.base.LLM` backend keeps.

    class TestMyBackend(LLMStreamSuite):
        @pytest.fixture
        def llm(self):
            return MyLLM("my:model")

The contract (see :mod:`ossrag.llms.base`): content events (``reasoning``,
``text``, ``tool_call``) first, then at most one ``usage``, then exactly one
``done``, last; reasoning never leaks into ``text`` (no ``<think>`` or raw
harmony markers, no reasoning sentence repeated in the answer); a small
``max_tokens`` ends the turn with ``finish_reason="length"``. Each test calls
``stream`` once, so a fixture may queue one recorded response per test.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..llms.base import LLM, collect
from ..types import StreamEvent

__all__ = ["CONTENT_EVENTS", "FINISH_REASONS", "LEAK_MARKERS", "LLMStreamSuite"]

CONTENT_EVENTS = ("reasoning", "text", "tool_call")
FINISH_REASONS = ("stop", "length", "tool_calls")
LEAK_MARKERS = ("<think>", "</think>", "<|channel|>", "<|message|>", "<|start|>", "<|end|>")


class LLMStreamSuite:
    """Subclass and override :meth:`llm`; :meth:`llm_at_length` when a budget cut needs setup."""

    messages: list[dict[str, Any]] = [  # noqa: RUF012 - read-only class data
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "Name three colours of the rainbow."},
    ]
    #: Extra ``stream`` keywords every test passes (e.g. ``temperature=0``).
    stream_kwargs: dict[str, Any] = {}  # noqa: RUF012

    @pytest.fixture
    def llm(self) -> LLM:
        raise NotImplementedError("override the `llm` fixture")

    @pytest.fixture
    def llm_at_length(self, llm: LLM) -> tuple[LLM, int]:
        """A backend and a ``max_tokens`` that its next turn will run out of."""
        return llm, 4

    def _events(self, llm: LLM, **kwargs: Any) -> list[StreamEvent]:
        return list(llm.stream(self.messages, **{**self.stream_kwargs, **kwargs}))

    def test_satisfies_the_protocol(self, llm: LLM) -> None:
        assert isinstance(llm, LLM)
        assert isinstance(llm.model, str) and llm.model
        for flag in ("supports_reasoning", "supports_tools", "supports_json_schema"):
            assert isinstance(getattr(llm, flag), bool), flag

    def test_event_order_one_usage_one_done(self, llm: LLM) -> None:
        events = self._events(llm, max_tokens=64)
        kinds = [e.type for e in events]
        assert kinds and kinds[-1] == "done" and kinds.count("done") == 1, kinds
        assert kinds.count("usage") <= 1, kinds
        if "usage" in kinds:
            assert kinds.index("usage") == len(kinds) - 2, kinds
        assert set(kinds[:-1]) - {"usage"} <= set(CONTENT_EVENTS), kinds
        done = events[-1]
        assert done.finish_reason in FINISH_REASONS and isinstance(done.complete, bool)
        gathered = collect(iter(events))
        assert gathered.text.strip() or gathered.tool_calls or gathered.finish_reason == "length"

    def test_reasoning_never_in_the_answer_text(self, llm: LLM) -> None:
        done = collect(iter(self._events(llm, max_tokens=64)))
        for marker in LEAK_MARKERS:
            assert marker not in done.text, marker
        for line in done.reasoning.splitlines():
            if len(line.strip()) > 30:  # a real sentence of reasoning, not a stray word
                assert line.strip() not in done.text, line

    def test_max_tokens_gives_length(self, llm_at_length: tuple[LLM, int]) -> None:
        llm, max_tokens = llm_at_length
        events = self._events(llm, max_tokens=max_tokens)
        assert events[-1].type == "done" and events[-1].finish_reason == "length"
        assert events[-1].complete
