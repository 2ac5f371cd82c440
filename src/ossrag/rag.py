"""Answering from retrieved passages: prompts, streaming, citations.

    run = AnswerRun(llm, question, hits, template="cited", effort="low")
    for event in run:                  # StreamEvents, as the model produces them
        ...
    answer = run.answer                # an Answer, once the stream is exhausted

Two prompt templates:

* ``tutorial``: the reference tutorial's system prompt and its
  ``<context>``/``<question>`` user prompt, passages joined by newlines.
* ``cited`` (default): numbered passages with their source and heading; the
  model is asked to cite them as ``[1]`` and to say "I don't know" when they
  do not hold the answer. Citations are mapped back to hits afterwards, and a
  citation of a number that was never given is flagged, not silently kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from .llms.base import LLM, Message
from .types import Answer, Citation, Hit, StreamEvent, Usage

__all__ = [
    "CITED_SYSTEM",
    "TEMPLATES",
    "TUTORIAL_SYSTEM",
    "AnswerRun",
    "build_messages",
    "extract_citations",
]

TUTORIAL_SYSTEM = (
    "Human: You are an AI assistant. You are able to find answers to the questions "
    "from the contextual passage snippets provided."
)
TUTORIAL_USER = (
    "Use the following pieces of information enclosed in <context> tags to provide an answer "
    "to the question enclosed in <question> tags.\n<context>\n{context}\n</context>\n"
    "<question>\n{question}\n</question>"
)

CITED_SYSTEM = (
    "You are a careful assistant that answers questions using only the numbered passages "
    "provided by the user. Cite the passages that support each statement with their numbers "
    "in square brackets, like [1] or [2][3]. Do not cite numbers that were not provided. If "
    "the passages do not contain the answer, reply exactly: I don't know."
)
CITED_USER = "Passages:\n\n{context}\n\nQuestion: {question}\n\nAnswer with citations:"

TEMPLATES = ("cited", "tutorial")

# When reasoning used the whole budget and no answer came out, retry once with this much more.
_BUDGET_RETRY_FACTOR = 4
_BUDGET_RETRY_MIN_EXTRA = 2048

_CITATION_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


def _safe(text: str) -> str:
    """Defuse chat-template special tokens that documents could smuggle into a prompt."""
    try:
        from .llms.harmony import neutralize
    except ImportError:  # pragma: no cover - harmony ships with ossrag
        return text.replace("<|", "<\u200b|")
    return neutralize(text)


def format_passage(n: int, hit: Hit) -> str:
    where = hit.source + (f" — {hit.heading}" if hit.heading else "")
    return f"[{n}] ({where})\n{_safe(hit.text.strip())}"


def build_messages(
    question: str,
    hits: list[Hit],
    *,
    template: str = "cited",
    history: list[Message] | None = None,
) -> list[Message]:
    """The chat messages for one question; ``history`` holds earlier turns (no reasoning)."""
    if template == "tutorial":
        context = "\n".join(_safe(h.text) for h in hits)
        system, user = TUTORIAL_SYSTEM, TUTORIAL_USER.format(context=context, question=question)
    elif template == "cited":
        context = "\n\n".join(format_passage(i, h) for i, h in enumerate(hits, start=1))
        if not hits:
            context = "(no passages were found)"
        system, user = CITED_SYSTEM, CITED_USER.format(context=context, question=question)
    else:
        raise ValueError(f"unknown template {template!r}; use one of {', '.join(TEMPLATES)}")
    messages: list[Message] = [{"role": "system", "content": system}]
    for msg in history or []:
        # Harmony rule: earlier turns ended with a final answer, so their reasoning is dropped.
        messages.append({k: v for k, v in msg.items() if k not in ("reasoning", "reasoning_content", "thinking")})
    messages.append({"role": "user", "content": user})
    return messages


def extract_citations(text: str, hits: list[Hit]) -> list[Citation]:
    """Map ``[n]`` markers to hits, in order of first appearance; unknown numbers are flagged."""
    seen: dict[int, Citation] = {}
    for match in _CITATION_RE.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part.strip())
            if n in seen:
                continue
            if 1 <= n <= len(hits):
                h = hits[n - 1]
                seen[n] = Citation(n=n, id=h.id, source=h.source, heading=h.heading)
            else:
                seen[n] = Citation(n=n, id="", valid=False)
    return list(seen.values())


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
        self.answer: Answer | None = None
        # Timings count from t0 (the start of retrieval when given): what the user waits.
        self.t0 = t0

    def __iter__(self) -> Iterator[StreamEvent]:
        started = self.t0 if self.t0 is not None else time.perf_counter()
        first_token: float | None = None
        warnings: list[str] = []
        max_tokens = self.max_tokens
        # Backends keep a list of what they had to work around (effort not supported,
        # a parameter the server rejected...); the part added during this run belongs
        # to this answer.
        llm_warnings: list[str] = getattr(self.llm, "warnings", None) or []
        seen_warnings = len(llm_warnings)
        for attempt in range(2):
            text: list[str] = []
            reasoning: list[str] = []
            usage = Usage()
            finish: str | None = None
            complete = True
            for ev in self.llm.stream(
                self.messages, effort=self.effort, max_tokens=max_tokens, **self.llm_kwargs
            ):
                if ev.type in ("text", "reasoning") and ev.delta and first_token is None:
                    first_token = time.perf_counter() - started
                if ev.type == "text":
                    text.append(ev.delta)
                elif ev.type == "reasoning":
                    reasoning.append(ev.delta)
                elif ev.type == "usage" and ev.usage is not None:
                    usage = ev.usage
                elif ev.type == "done":
                    finish, complete = ev.finish_reason, ev.complete
                    continue  # the run emits its own final done
                yield ev
            answer_text = "".join(text)
            if attempt == 0 and finish == "length" and not answer_text.strip() and complete:
                budget = max_tokens or usage.completion_tokens or 1024
                max_tokens = max(budget * _BUDGET_RETRY_FACTOR, budget + _BUDGET_RETRY_MIN_EXTRA)
                warnings.append(
                    f"the model spent its whole token budget ({budget}) on reasoning and gave no "
                    f"answer; retried once with max_tokens={max_tokens}"
                )
                yield StreamEvent(type="reasoning", delta=f"\n[ossrag: {warnings[-1]}]\n")
                continue
            break
        if finish == "length" and not answer_text.strip():
            warnings.append(
                "no answer: reasoning used up the token budget again; raise --max-tokens or lower --effort"
            )
        if not complete:
            reason = getattr(self.llm, "last_error", None)
            warnings.append(
                "the answer stream broke off midway; the answer is incomplete"
                + (f" ({reason})" if reason else "")
            )
        warnings = list(llm_warnings[seen_warnings:]) + warnings
        total = time.perf_counter() - started
        self.answer = Answer(
            question=self.question,
            text=answer_text.strip(),
            reasoning="".join(reasoning).strip(),
            citations=extract_citations(answer_text, self.hits) if self.template == "cited" else [],
            hits=self.hits,
            model=self.llm.model,
            effort=self.effort,
            usage=usage,
            timings={**self.stage_timings, "retrieve_s": self.retrieve_s,
                     "first_token_s": first_token, "total_s": total},
            complete=complete,
            finish_reason=finish,
            warnings=warnings,
        )
        yield StreamEvent(type="done", finish_reason=finish, complete=complete)
