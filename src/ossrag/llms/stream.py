"""One loop that turns an LLM's events into a turn, and one budget-retry policy.

Every caller that runs a model turn (plain answers, the agent, structured
answers, ``LLM.complete``) goes through :class:`TurnStream`::

    turn = TurnStream(llm, messages, effort="low", max_tokens=256)
    for event in turn:            # the backend's events, done excluded; a retry notice may appear
        ...
    turn.completion               # Completion: text, reasoning, tool_calls, usage, finish_reason
    turn.warnings                 # what the user should know (a retry, a budget spent twice)
    turn.first_token_s            # seconds from ``started`` to the first text or reasoning

    done, warning = complete_with_budget_retry(llm, messages, 256)   # the same, gathered

**The budget policy.** gpt-oss can spend the whole ``max_tokens`` on
reasoning and end with ``finish_reason="length"`` and no answer. Then the
turn is asked once more with ``max(4 * budget, budget + 2048)`` tokens
(``budget`` is ``max_tokens``, else what the server reported using, else
1024), and the user is told; if the retry runs out too, a second warning says
what to change. A turn that produced text or tool calls, or broke off, is
never retried.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ..types import StreamEvent, Usage
from .base import LLM, Completion, Gatherer, Message

__all__ = [
    "NO_RETRY",
    "BudgetPolicy",
    "TurnStream",
    "complete_with_budget_retry",
    "reasoning_exhausted",
]


def reasoning_exhausted(done: Completion) -> bool:
    """Reasoning used up the whole token budget: stopped for ``length`` with no answer."""
    return (
        done.finish_reason == "length"
        and done.complete
        and not done.text.strip()
        and not done.tool_calls
    )


@dataclass(frozen=True)
class BudgetPolicy:
    """When and how a turn whose reasoning ate the budget is retried (see the module docstring)."""

    retries: int = 1
    factor: int = 4
    min_extra: int = 2048
    fallback: int = 1024  # the budget assumed when neither max_tokens nor usage says

    def next_budget(self, max_tokens: int | None, done: Completion) -> int:
        budget = max_tokens or done.usage.completion_tokens or self.fallback
        return max(budget * self.factor, budget + self.min_extra)


NO_RETRY = BudgetPolicy(retries=0)


class TurnStream:
    """One model turn: iterate for its events, then read :attr:`completion`.

    ``policy`` decides the budget retry (``None``: never retry). ``notice``
    puts a ``reasoning`` event saying "retried" into the stream, so a user
    watching the reasoning sees why it starts over. ``started`` is the
    ``time.perf_counter()`` that :attr:`first_token_s` counts from.
    The backend's stream is closed even when the caller stops early (a local
    model's lock is released).
    """

    def __init__(
        self,
        llm: LLM,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        policy: BudgetPolicy | None = BudgetPolicy(),
        notice: bool = True,
        started: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.llm, self.messages, self.max_tokens, self.kwargs = llm, messages, max_tokens, kwargs
        self.policy = policy or NO_RETRY
        self.notice = notice
        self.started = time.perf_counter() if started is None else started
        self.completion: Completion | None = None
        self.warnings: list[str] = []
        self.first_token_s: float | None = None
        self.attempts = 0
        #: Tokens of every attempt (a retried turn spent the first attempt's too).
        self.usage = Usage()

    def __iter__(self) -> Iterator[StreamEvent]:
        # Backends keep a list of what they had to work around (an effort the server
        # ignores, a parameter it rejected...); what is added during this turn is its own.
        backend: list[str] = getattr(self.llm, "warnings", None) or []
        seen = len(backend)
        own: list[str] = []
        try:
            yield from self._attempts(own)
        finally:
            self.warnings = [*backend[seen:], *own]

    def _attempts(self, own: list[str]) -> Iterator[StreamEvent]:
        max_tokens = self.max_tokens
        for attempt in range(self.policy.retries + 1):
            self.attempts = attempt + 1
            done = yield from self._one(max_tokens)
            self.completion = done
            self.usage.add(done.usage)
            if not reasoning_exhausted(done):
                return
            spent = f" of {max_tokens} tokens" if max_tokens else ""
            if attempt < self.policy.retries:
                bigger = self.policy.next_budget(max_tokens, done)
                own.append(
                    f"the model spent its whole token budget{spent} on reasoning and gave "
                    f"no answer; retried once with max_tokens={bigger}"
                )
                if self.notice:
                    yield StreamEvent(type="reasoning", delta=f"\n[ossrag: {own[-1]}]\n")
                max_tokens = bigger
                continue
            if attempt:
                own.append(
                    f"a retry with max_tokens={max_tokens} ran out too: raise --max-tokens "
                    "or lower --effort"
                )
            else:
                own.append(
                    f"no answer: reasoning used up the token budget{spent}; raise "
                    "--max-tokens or lower --effort"
                )

    def _one(self, max_tokens: int | None) -> Generator[StreamEvent, None, Completion]:
        g = Gatherer()
        stream = self.llm.stream(self.messages, max_tokens=max_tokens, **self.kwargs)
        try:
            for ev in stream:
                if ev.type in ("text", "reasoning") and ev.delta and self.first_token_s is None:
                    self.first_token_s = time.perf_counter() - self.started
                g.add(ev)
                if ev.type != "done":
                    yield ev
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return g.completion()


def complete_with_budget_retry(
    llm: LLM, messages: list[Message], max_tokens: int | None, **kwargs: Any
) -> tuple[Completion, str | None]:
    """Run one turn to the end with the budget policy; ``(completion, warning or None)``."""
    turn = TurnStream(llm, messages, max_tokens=max_tokens, notice=False, **kwargs)
    for _ in turn:
        pass
    assert turn.completion is not None
    return turn.completion, " ".join(turn.warnings) or None
