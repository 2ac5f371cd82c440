"""One row of a comparison: one model and effort answers one question, and the answer is scored.

    row = answer_one(llm, question, hits, template="cited", effort="low", max_tokens=None,
                     judge=None, judge_lock=None, prices=PriceTable.load(None), lock=None)
    row["answer"], row["scores"]["correctness"], row.get("error")

A failed call is a row with ``error`` set, never an exception: :func:`ossrag.evaluation.compare.run_compare`
writes it and goes on.  :class:`Counter` counts the finished rows for the progress lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..answering.agent import Agent
from ..answering.run import AnswerRun
from ..errors import OssragError, StreamInterruptedError
from ..llms.base import LLM
from ..types import Answer, Hit
from .pricing import PriceTable
from .runs import effort_label
from .scoring import score_answer

__all__ = ["Counter", "answer_one", "make_agent"]


class Counter:
    """Thread-safe counts of finished answers, one progress line each."""

    def __init__(self, total: int, report: Callable[[str], None] | None) -> None:
        self.total, self.report = total, report
        self.done = self.errors = 0
        self._lock = threading.Lock()

    def tick(self, qi: int, model: str, effort: str | None, row: dict[str, Any]) -> None:
        with self._lock:
            self.done += 1
            self.errors += bool(row.get("error"))
            if self.report is None:
                return
            status = f"error: {row['error'][:120]}" if row.get("error") else "ok"
            took = row.get("total_s")
            head = f"[{self.done}/{self.total}] q{qi + 1} {model} {effort_label(effort)}:"
            self.report(f"{head} {took:.1f}s {status}" if took is not None else f"{head} {status}")


def make_agent(
    kb: Any,
    llm: LLM,
    effort: str | None,
    max_steps: int,
    max_tokens: int | None,
    search: dict[str, Any],
    lock: threading.Lock,
) -> Agent:
    """The agent one agent-mode answer runs (``search_lock`` guards the shared embedder and store)."""
    return Agent(
        kb,
        llm,
        effort=effort,
        max_steps=max_steps,
        max_tokens=max_tokens,
        search_kwargs=search,
        search_lock=lock,
    )


def answer_one(
    llm: LLM,
    q: dict[str, Any],
    hits: list[Hit],
    *,
    template: str,
    effort: str | None,
    max_tokens: int | None,
    judge: LLM | None,
    judge_lock: threading.RLock | None,
    prices: PriceTable,
    lock: threading.RLock | None,
    agent: Agent | None = None,
) -> dict[str, Any]:
    """Answer one question with one model and effort, score it; never raises for model errors.

    With ``agent`` (an :class:`ossrag.answering.agent.Agent`) the model searches itself instead of
    answering from ``hits``; the row's ``messages`` is then the whole agent conversation
    (tool calls and results), ``steps`` its steps, and citations are scored against the
    passages the agent was shown.
    """
    run: Any = (
        agent.run(q["question"])
        if agent is not None
        else AnswerRun(
            llm, q["question"], hits, template=template, effort=effort, max_tokens=max_tokens
        )
    )
    row: dict[str, Any] = {
        "model": llm.model,
        "effort": effort,
        "messages": run.messages,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    t0 = time.perf_counter()
    try:
        if lock is not None:
            with lock:
                for _ in run:
                    pass
        else:
            for _ in run:
                pass
    except Exception as exc:  # every failure of a call is a row, never the end of the run
        partial = exc.partial if isinstance(exc, StreamInterruptedError) else ""
        msg = str(exc) if isinstance(exc, OssragError) else f"{type(exc).__name__}: {exc}"
        row.update(
            error=msg or type(exc).__name__,
            answer=partial or None,
            total_s=time.perf_counter() - t0,
            complete=False,
        )
        return row
    answer = run.answer
    assert answer is not None
    if agent is not None:
        hits = answer.hits
        row.update(messages=run.messages, steps=answer.steps)
    citations = [dict(c.to_dict(), valid=c.valid) for c in answer.citations]
    _fill_answer(row, llm, answer, citations, prices)
    if not answer.complete:
        # Kept with its partial text, but as an error so that a resumed run tries it again.
        why = getattr(llm, "last_error", None)  # OpenAICompatLLM says why (timeout, reset ...)
        row["error"] = "; ".join([*answer.warnings, *([str(why)] if why else [])]) or (
            "the answer stream broke off"
        )
        return row
    row["scores"] = score_answer(
        q,
        answer.text,
        citations,
        [h.to_dict() for h in hits],
        template=template,
        judge=judge,
        judge_lock=judge_lock,
    )
    return row


def _fill_answer(
    row: dict[str, Any],
    llm: LLM,
    answer: Answer,
    citations: list[dict[str, Any]],
    prices: PriceTable,
) -> None:
    """The answer's text, timings, tokens and cost into ``row``."""
    usage = answer.usage
    warnings = list(answer.warnings)
    prompt_tokens: int | None = usage.prompt_tokens
    completion_tokens: int | None = usage.completion_tokens
    cost, cost_source = prices.cost(llm.model, usage)
    if (
        not usage.prompt_tokens
        and not usage.completion_tokens
        and usage.cost is None
        and (answer.text or answer.reasoning)
    ):
        # Some servers (llama-cpp-python's) send no usage when streaming: unknown, not zero.
        prompt_tokens = completion_tokens = None
        warnings.append("the server reported no token usage")
        if cost_source != "local":
            cost, cost_source = None, "unknown"
    row.update(
        answer=answer.text,
        reasoning=answer.reasoning,
        citations=citations,
        first_token_s=answer.timings.get("first_token_s"),
        total_s=answer.timings.get("total_s"),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost=cost,
        cost_source=cost_source,
        finish_reason=answer.finish_reason,
        complete=answer.complete,
        warnings=warnings,
    )
