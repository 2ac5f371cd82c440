"""One question through the agent loop: :class:`AgentRun` and the :class:`AgentAnswer` it makes.

    run = Agent(kb, llm, max_steps=4).run("Which index types does Milvus Lite support?")
    for event in run:            # reasoning / tool_call / text events, then usage and done
        ...
    run.answer.steps, run.messages   # what each step did, the whole conversation

:meth:`AgentRun.__iter__` picks the loop (native tool calls, or the prompt-driven
``SEARCH:``/``ANSWER:`` loop, also after a server refused ``tools``), each loop
calls the model one turn at a time (:meth:`AgentRun._turn`, through the shared
:class:`~ossrag.llms.stream.TurnStream`), and the tools run in
:class:`~._agent_tools.AgentTools`.  :mod:`ossrag.answering.agent` describes both
loops and holds :class:`~ossrag.answering.agent.Agent`, the settings a run uses.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LLMError, LLMResponseError
from ..llms.base import Completion, Message
from ..llms.stream import TurnStream
from ..types import Answer, Hit, StreamEvent, ToolCall, Usage
from ._agent_tools import (
    AGENT_SYSTEM,
    FINAL_NUDGE,
    PROMPT_NEXT,
    PROMPT_SYSTEM,
    TOOLS,
    AgentTools,
    as_call,
    call_dict,
    directive,
)
from .prompts import extract_citations

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["AgentAnswer", "AgentRun"]

# A server that cannot do tools says so with 400/422/501, usually naming them.
_TOOLS_REJECTED = re.compile(
    r"HTTP (400|422|501)\b.*(tool|function)|tool.{0,40}(not supported|unsupported|requires)",
    re.I | re.S,
)


@dataclass
class AgentAnswer(Answer):
    """An :class:`~ossrag.types.Answer` with the agent's ``steps``; ``to_dict`` adds them."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "tools"  # tools | prompt

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["steps"] = self.steps
        return out


class _ToolsUnsupported(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgentRun:
    """One question through the agent loop. Iterate for events; ``answer`` at the end.

    ``messages`` holds the whole conversation afterwards (tool calls and results
    included), e.g. to store the exact prompt with a comparison run.
    """

    def __init__(self, agent: Agent, question: str, *, t0: float | None = None) -> None:
        self.agent = agent
        self.question = question
        self.t0 = t0
        self.messages: list[Message] = []
        self.answer: AgentAnswer | None = None
        self._reset()

    def _reset(self) -> None:
        a = self.agent
        translate = None
        if a.translate != "off":

            def translate(query: str) -> Any:
                return a.kb.translate(query, llm=a.llm, mode=a.translate)

        self.tools = AgentTools(
            a.kb, k=a.k, search_kwargs=a.search_kwargs, lock=a.search_lock, translate=translate
        )
        self.steps: list[dict[str, Any]] = []
        self.usage = Usage()
        self._reasoning: list[str] = []
        self._first_token: float | None = None
        self._finish: str | None = None
        self._complete = True

    @property
    def hits(self) -> list[Hit]:
        """Every passage shown to the model so far, in the order of their numbers."""
        return self.tools.hits

    # -- the loops -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[StreamEvent]:
        a = self.agent
        self._started = self.t0 if self.t0 is not None else time.perf_counter()
        llm_warnings: list[str] = getattr(a.llm, "warnings", None) or []
        seen = len(llm_warnings)
        warnings: list[str] = []
        use_tools = a.mode == "tools" or (a.mode == "auto" and a.llm.supports_tools)
        mode = "tools" if use_tools else "prompt"
        text = ""
        if use_tools:
            try:
                text = yield from self._tool_loop(warnings)
            except _ToolsUnsupported as exc:
                if a.mode == "tools":
                    raise LLMError(
                        f"{a.llm.model} cannot call tools: {exc.reason}",
                        hint="use agent mode 'auto' or 'prompt'",
                    ) from None
                warnings.append(
                    f"{a.llm.model} cannot call tools ({exc.reason}); "
                    "used prompt-driven search instead"
                )
                self._reset()
                mode = "prompt"
        if mode == "prompt":
            text = yield from self._prompt_loop(warnings)
        if not self._complete:
            reason = getattr(a.llm, "last_error", None)
            warnings.append(
                "the answer stream broke off midway; the answer is incomplete"
                + (f" ({reason})" if reason else "")
            )
        elif not text.strip():
            warnings.append("the model gave no answer; raise --max-tokens or --max-steps")
        self.answer = AgentAnswer(
            question=self.question,
            text=text.strip(),
            reasoning="\n\n".join(self._reasoning).strip(),
            citations=extract_citations(text, self.hits),
            hits=list(self.hits),
            model=a.llm.model,
            effort=a.effort,
            usage=self.usage,
            timings={
                "retrieve_s": self.tools.retrieve_s,
                "first_token_s": self._first_token,
                "total_s": time.perf_counter() - self._started,
                **({"translate_s": self.tools.translate_s} if self.tools.translations else {}),
            },
            complete=self._complete,
            finish_reason=self._finish,
            warnings=[*llm_warnings[seen:], *warnings],
            steps=self.steps,
            mode=mode,
        )
        yield StreamEvent(type="usage", usage=self.usage)
        yield StreamEvent(type="done", finish_reason=self._finish, complete=self._complete)

    def _tool_loop(self, warnings: list[str]) -> Generator[StreamEvent, None, str]:
        self.messages = [
            {"role": "system", "content": AGENT_SYSTEM},
            {"role": "user", "content": self.question},
        ]
        for step in range(self.agent.max_steps + 1):
            forced = step == self.agent.max_steps
            if forced:
                self.messages.append({"role": "user", "content": FINAL_NUDGE})
            t = time.perf_counter()
            done = yield from self._turn(
                None if forced else TOOLS, live_text=forced, first=step == 0
            )
            rec: dict[str, Any] = {
                "step": step + 1,
                "finish_reason": done.finish_reason,
                "usage": done.usage.to_dict(),
            }
            if done.tool_calls and not forced and done.complete:
                calls = [as_call(c, step, i) for i, c in enumerate(done.tool_calls)]
                msg: Message = {
                    "role": "assistant",
                    "content": done.text or None,
                    "tool_calls": [call_dict(c) for c in calls],
                }
                if done.reasoning:
                    msg["reasoning"] = done.reasoning  # renamed or stripped per provider
                self.messages.append(msg)
                rec["kind"], rec["calls"] = "tool_calls", []
                for call in calls:
                    yield StreamEvent(type="tool_call", tool_call=call)
                    content, info = self.tools.run_call(call)
                    rec["calls"].append(info)
                    self.messages.append(
                        {"role": "tool", "tool_call_id": call.id, "content": content}
                    )
                rec["elapsed_s"] = round(time.perf_counter() - t, 3)
                self.steps.append(rec)
                continue
            if done.tool_calls and forced:
                warnings.append(
                    "the model still called a tool after the last step; answered with its text"
                )
            rec["kind"] = "forced_answer" if forced else "answer"
            rec["elapsed_s"] = round(time.perf_counter() - t, 3)
            self.steps.append(rec)
            self.messages.append({"role": "assistant", "content": done.text})
            if not forced:
                yield from self._emit_text(done.text)
            return done.text
        return ""  # pragma: no cover - the forced turn always returns

    def _prompt_loop(self, warnings: list[str]) -> Generator[StreamEvent, None, str]:
        a = self.agent
        seed: dict[str, Any] = {"step": 0, "kind": "search", "by": "ossrag"}
        shown = self.tools.search(self.question, a.k, seed)
        self.steps.append(seed)
        self.messages = [
            {"role": "system", "content": PROMPT_SYSTEM},
            {"role": "user", "content": f"Question: {self.question}\n\n{shown}\n\n{PROMPT_NEXT}"},
        ]
        for step in range(a.max_steps + 1):
            forced = step == a.max_steps
            if forced:
                self.messages.append({"role": "user", "content": FINAL_NUDGE})
            t = time.perf_counter()
            done = yield from self._turn(None, live_text=False, first=False)
            # Earlier replies go back as plain text; harmony drops their reasoning anyway.
            self.messages.append({"role": "assistant", "content": done.text})
            kind, rest = directive(done.text)
            rec: dict[str, Any] = {
                "step": step + 1,
                "finish_reason": done.finish_reason,
                "usage": done.usage.to_dict(),
            }
            if kind == "search" and not forced and done.complete:
                rec["kind"] = "search"
                shown = self.tools.search(rest, a.k, rec)
                rec["elapsed_s"] = round(time.perf_counter() - t, 3)
                self.steps.append(rec)
                yield StreamEvent(
                    type="tool_call",
                    tool_call=ToolCall(
                        id=f"prompt_{step + 1}",
                        name="search",
                        arguments=json.dumps({"query": rest}),
                    ),
                )
                self.messages.append({"role": "user", "content": f"{shown}\n\n{PROMPT_NEXT}"})
                continue
            answer = rest if kind == "answer" else done.text
            if kind == "search":  # asked for more after the last step: no answer
                answer = ""
                warnings.append("the model still asked to search after the last step")
            rec["kind"] = "forced_answer" if forced else "answer"
            rec["elapsed_s"] = round(time.perf_counter() - t, 3)
            self.steps.append(rec)
            yield from self._emit_text(answer.strip())
            return answer
        return ""  # pragma: no cover

    # -- one model turn --------------------------------------------------------------------
    def _turn(
        self, tools: list[dict[str, Any]] | None, *, live_text: bool, first: bool
    ) -> Generator[StreamEvent, None, Completion]:
        """Call the model once (the budget policy may retry); reasoning streams live."""
        a = self.agent
        turn = TurnStream(
            a.llm,
            self.messages,
            effort=a.effort,
            tools=tools,
            max_tokens=a.max_tokens,
            notice=False,
            started=self._started,
        )
        yielded = False
        try:
            for ev in turn:
                if ev.type == "reasoning":
                    if not yielded and self._reasoning:
                        yield StreamEvent(type="reasoning", delta="\n\n")  # between turns
                    yielded = True
                    yield ev
                elif ev.type == "text" and live_text:
                    yielded = True
                    yield ev
        except LLMError as exc:
            if tools and first and not yielded and _rejects_tools(exc):
                raise _ToolsUnsupported(str(exc.message)) from exc
            raise
        out = turn.completion
        assert out is not None
        if self._first_token is None:
            self._first_token = turn.first_token_s
        self.usage.add(turn.usage)
        if out.reasoning:
            self._reasoning.append(out.reasoning)
        self._finish, self._complete = out.finish_reason, out.complete
        return out

    def _emit_text(self, text: str) -> Iterator[StreamEvent]:
        if text:
            if self._first_token is None:
                self._first_token = time.perf_counter() - self._started
            yield StreamEvent(type="text", delta=text)


def _rejects_tools(exc: LLMError) -> bool:
    """A backend error that means "no tool calling here" (LocalLLM, HTTP 400 naming tools)."""
    msg = str(exc)
    if "cannot call tools" in msg:
        return True
    return isinstance(exc, LLMResponseError) and bool(_TOOLS_REJECTED.search(msg))
