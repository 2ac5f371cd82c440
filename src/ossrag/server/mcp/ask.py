"""The ``ask`` tool: retrieve, let the answering model write, report progress as it streams.

    result = ask(Tools(state), "Where does Milvus store data?", kb="docs",
                 progress=lambda step, message: print(step, message))
    result.structured_content["answer"], result.structured_content["citations"]

Blocking, like the methods of :class:`~.tools.Tools` (the knowledge bases, the
fenced hits and the error reading it uses are there); :mod:`.server` runs it in a
worker thread and turns ``progress`` into MCP progress notifications. Setting
``stop`` ends the answer at its next streamed event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult

from ...answering.run import AnswerRun
from ...types import Answer
from . import models as m
from .render import UNTRUSTED_NOTICE, clean, clean_line
from .tools import Tools, explained, tool_result

__all__ = ["Progress", "ask"]

#: ``progress(step, message)``: called from the worker thread while ``ask`` runs.
Progress = Callable[[float, str], None]


def ask(
    tools: Tools,
    question: str,
    kb: str | None = None,
    model: str | None = None,
    effort: str | None = None,
    k: int | None = None,
    include_reasoning: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> CallToolResult:
    """Retrieve, answer, and report ``progress`` per stage and every few streamed chunks."""
    if not question.strip():
        raise ToolError("question is empty")
    report = progress or (lambda step, message: None)
    state = tools.state
    if model and not state.config.model_allowed(model, state.settings.model):
        raise ToolError(
            f"this server does not let clients choose the answering model {model!r}; "
            "leave model empty to use the server's own"
        )
    base = tools.open_kb(kb)
    search: dict[str, Any] = {"k": max(1, min(k, tools.budget.max_k))} if k else {}
    report(0, f"searching {base.name!r}")
    with explained("answering"):
        run = base.stream(question, model=model, effort=effort, search=search)
        report(1, f"{len(run.hits)} passage(s) found; {run.llm.model} is answering")
        pieces = _stream(run, report, stop)
    answer = run.answer
    assert answer is not None
    report(2 + pieces, "done")
    return _answer_result(tools, base.name, question, answer, include_reasoning)


def _stream(run: AnswerRun, report: Progress, stop: threading.Event | None) -> int:
    """Run the answer to its end, reporting every 16 chunks or each second; the chunk count."""
    pieces, last = 0, time.monotonic()
    events = iter(run)
    try:
        for event in events:
            if stop is not None and stop.is_set():
                raise ToolError("cancelled by the client")
            if event.type in ("text", "reasoning") and event.delta:
                pieces += 1
                if pieces % 16 == 0 or time.monotonic() - last > 1.0:
                    last = time.monotonic()
                    report(1 + pieces, f"{run.llm.model}: {pieces} chunk(s) streamed")
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # a stopped stream releases the model now, not at garbage collection
    return pieces


def _answer_result(
    tools: Tools, kb: str, question: str, answer: Answer, include_reasoning: bool
) -> CallToolResult:
    """The answer, its citations and the passages it was written from, fenced."""
    sources, blocks, _ = tools.fenced_hits(answer.hits, kb)
    citations = [
        m.Citation(
            n=c.n,
            id=c.id,
            source=clean_line(c.source),
            heading=clean_line(c.heading),
            url=tools.chunk_link(kb, c.id),
        )
        for c in answer.citations
        if c.valid and c.id
    ]
    data = m.AskResult(
        kb=kb,
        question=question,
        model=answer.model,
        effort=answer.effort,
        answer=clean(answer.text),
        citations=citations,
        sources=sources,
        reasoning=clean(answer.reasoning) if include_reasoning else None,
        complete=answer.complete,
        finish_reason=answer.finish_reason,
        warnings=answer.warnings,
        usage=answer.usage.to_dict(),
        timings=dict(answer.timings),
    )
    parts = [data.answer or "(the model gave no answer)"]
    if not answer.complete:
        parts.append("(incomplete: the answer stream broke off)")
    if citations:
        parts.append(
            "Cited: "
            + "; ".join(
                f"[{c.n}] {c.source}" + (f" — {c.heading}" if c.heading else "") for c in citations
            )
        )
    if blocks:
        parts.append(f"Passages the answer was written from. {UNTRUSTED_NOTICE}")
        parts.extend(blocks)
    if include_reasoning and data.reasoning:
        parts.append(f"Reasoning:\n{data.reasoning}")
    parts.extend(f"warning: {w}" for w in answer.warnings)
    return tool_result(data, "\n\n".join(parts))
