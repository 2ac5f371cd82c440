"""One answer from retrieved passages, streamed.

    run = AnswerRun(llm, question, hits, template="cited", effort="low")
    for event in run:                  # StreamEvents, as the model produces them
        ...
    answer = run.answer                # an Answer, once the stream is exhausted

The prompt comes from :mod:`ossrag.answering.prompts`; citations are mapped
back to the hits when the stream ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..llms.base import LLM, Message
from ..llms.stream import TurnStream
from ..types import Answer, Hit, StreamEvent
from .prompts import TEMPLATES, build_messages, extract_citations

__all__ = ["TEMPLATES", "AnswerRun"]


class AnswerRun:
    """Iterate to stream one answer; ``answer`` is filled in when the stream ends."""

    def __init__(
        self,
        llm: LLM,
        question: str,
        hits: list[Hit],
        *,
        template: str = "cited",
        effort: str | None = None,
        max_tokens: int | None = None,
        history: list[Message] | None = None,
        retrieve_s: float | None = None,
        llm_kwargs: dict[str, Any] | None = None,
        t0: float | None = None,
        stage_timings: dict[str, float] | None = None,
        warnings: list[str] | None = None,
        translation: dict[str, Any] | None = None,
    ) -> None:
        self.llm = llm
        self.question = question
        self.hits = hits
        self.template = template
        self.effort = effort
        self.max_tokens = max_tokens
        self.messages = build_messages(question, hits, template=template, history=history)
        self.retrieve_s = retrieve_s
        self.stage_timings = dict(stage_timings or {})  # retrieval stages (search_s, rerank_s, ...)
        self.llm_kwargs = llm_kwargs or {}
        self.warnings = list(warnings or [])  # from retrieval, shown with the answer
        self.translation = translation  # how the question was searched (Answer.translation)
        self.answer: Answer | None = None
        # Timings count from t0 (the start of retrieval when given): what the user waits.
        self.t0 = t0

    def __iter__(self) -> Iterator[StreamEvent]:
        started = self.t0 if self.t0 is not None else time.perf_counter()
        turn = TurnStream(
            self.llm,
            self.messages,
            effort=self.effort,
            max_tokens=self.max_tokens,
            started=started,
            **self.llm_kwargs,
        )
        yield from turn
        done = turn.completion
        assert done is not None
        warnings = [*self.warnings, *turn.warnings]
        if not done.complete:
            reason = getattr(self.llm, "last_error", None)
            warnings.append(
                "the answer stream broke off midway; the answer is incomplete"
                + (f" ({reason})" if reason else "")
            )
        self.answer = Answer(
            question=self.question,
            text=done.text.strip(),
            reasoning=done.reasoning.strip(),
            citations=extract_citations(done.text, self.hits) if self.template == "cited" else [],
            hits=self.hits,
            model=self.llm.model,
            effort=self.effort,
            usage=done.usage,
            timings={
                **self.stage_timings,
                "retrieve_s": self.retrieve_s,
                "first_token_s": turn.first_token_s,
                "total_s": time.perf_counter() - started,
            },
            complete=done.complete,
            finish_reason=done.finish_reason,
            warnings=warnings,
            translation=self.translation,
        )
        yield StreamEvent(type="done", finish_reason=done.finish_reason, complete=done.complete)
