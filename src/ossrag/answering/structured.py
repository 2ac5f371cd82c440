"""Structured answers: JSON that matches a JSON Schema, validated, repaired or retried.

    from ossrag.answering.structured import ask_structured, load_schema

    schema = load_schema("answer.schema.json")
    answer = ask_structured(kb, "Which index types does Milvus Lite support?", schema,
                            model="vllm:openai/gpt-oss-20b", effort="low")
    answer.data                  # the parsed JSON, valid against the schema
    answer.to_dict()["data"]     # `ossrag ask QUESTION --schema FILE --json` prints this shape

    ossrag ask "..." --schema answer.schema.json            # prints the JSON
    ossrag ask "..." --schema answer.schema.json --json     # the answer object, JSON under "data"

The parsed JSON goes under ``data`` (not ``answer``): ``answer`` stays the text
of the reply in every mode, so tools that read ``ask --json`` see one shape.

How an answer is obtained, since servers do not reliably enforce schemas for
gpt-oss (PROVIDERS.md; harmony only "influences" the model without a grammar):

1. The schema is in the prompt, and sent as ``response_format`` =
   ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
   where the backend supports it (llama.cpp turns it into a grammar; the
   in-process gpt-oss path puts it in the harmony developer message). A server
   that answers 400/422 to it is asked again without it (a warning says so).
2. An object schema gets a required ``citations`` array of passage numbers
   (``with_citations``), mapped to passages like ``[n]`` in text answers.
3. The reply is parsed; if that fails it is repaired (code fences stripped,
   the first JSON value in the text taken), then validated (:func:`validate`,
   a dependency-free validator for the common subset: type, properties,
   required, additionalProperties, items, enum, const, anyOf/oneOf/allOf,
   min/max length/items/value, local ``$ref``).
4. Still invalid: one retry with the validation errors in a follow-up
   message; then :class:`~ossrag.errors.LLMResponseError` naming the errors.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import LLMResponseError
from ..llms.base import LLM, Completion, Message
from ..llms.stream import TurnStream
from ..safety import neutralize
from ..types import Answer, Citation, Hit, StreamEvent, Usage
from .prompts import DATA_RULE, extract_citations, format_passage
from .schema import parse_reply, response_format, with_citations

__all__ = [
    "CITE",
    "RETRY",
    "SYSTEM",
    "USER",
    "StructuredAnswer",
    "ask_structured",
    "build_messages",
    "structured_answer",
]

SYSTEM = (
    "You are a careful assistant that answers questions using only the numbered passages "
    "provided by the user. Reply with only a JSON value (no prose, no code fences) that matches "
    "this JSON Schema:\n{schema}\n{cite}If the passages do not contain the answer, say so in the "
    'JSON (e.g. "I don\'t know") instead of guessing. ' + DATA_RULE  # no braces: format-safe
)
CITE = (
    'Put the numbers of the passages that support the answer in "citations" (e.g. [1, 3]); '
    "do not cite numbers that were not provided. "
)
USER = "Passages:\n\n{context}\n\nQuestion: {question}\n\nReply with the JSON:"
RETRY = (
    "Your reply is not valid: {errors}. Reply again with only the JSON value that matches "
    "the schema."
)

_SCHEMA_REJECTED = re.compile(r"response_format|json_schema|schema|strict|structured", re.I)


@dataclass
class StructuredAnswer(Answer):
    """An :class:`~ossrag.types.Answer` whose reply is JSON; ``data`` holds it parsed."""

    data: Any = None
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["data"] = self.data
        return out


def build_messages(question: str, hits: list[Hit], schema: dict[str, Any]) -> list[Message]:
    cite = CITE if "citations" in (schema.get("properties") or {}) else ""
    context = "\n\n".join(format_passage(i, h) for i, h in enumerate(hits, start=1))
    return [
        {
            "role": "system",
            "content": SYSTEM.format(schema=json.dumps(schema, ensure_ascii=False), cite=cite),
        },
        {
            "role": "user",
            "content": USER.format(
                context=context or "(no passages were found)", question=neutralize(question)
            ),
        },
    ]


def _citations(data: Any, hits: list[Hit]) -> list[Citation]:
    """``citations`` numbers and ``[n]`` markers inside string values, mapped to hits."""
    marks: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("citations"), list):
        marks += [
            f"[{n}]" for n in data["citations"] if isinstance(n, int) and not isinstance(n, bool)
        ]

    def strings(v: Any) -> None:
        if isinstance(v, str):
            marks.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                strings(x)
        elif isinstance(v, list):
            for x in v:
                strings(x)

    strings(data)
    return extract_citations(" ".join(marks), hits)


# -- answering -------------------------------------------------------------------------------
def structured_answer(
    llm: LLM,
    question: str,
    hits: list[Hit],
    schema: dict[str, Any],
    *,
    effort: str | None = None,
    max_tokens: int | None = None,
    citations: bool = True,
    retrieve_s: float | None = None,
    t0: float | None = None,
    on_event: Callable[[StreamEvent], None] | None = None,
) -> StructuredAnswer:
    """Answer ``question`` from ``hits`` as JSON valid against ``schema``; see the module docstring.

    ``on_event`` sees every event (e.g. to show reasoning as it streams).
    Raises :class:`LLMResponseError` when two replies are not valid.
    """
    run = _StructuredRun(
        llm,
        question,
        hits,
        with_citations(schema) if citations else schema,
        effort=effort,
        max_tokens=max_tokens,
        on_event=on_event,
        started=t0 if t0 is not None else time.perf_counter(),
    )
    return run.answer(retrieve_s)


class _StructuredRun:
    """Up to two valid-JSON attempts, each one :class:`~ossrag.llms.stream.TurnStream`."""

    def __init__(
        self,
        llm: LLM,
        question: str,
        hits: list[Hit],
        schema: dict[str, Any],
        *,
        effort: str | None,
        max_tokens: int | None,
        on_event: Callable[[StreamEvent], None] | None,
        started: float,
    ) -> None:
        self.llm, self.question, self.hits, self.schema = llm, question, hits, schema
        self.effort, self.max_tokens, self.on_event, self.started = (
            effort,
            max_tokens,
            on_event,
            started,
        )
        self.messages = build_messages(question, hits, schema)
        # In-process gpt-oss cannot enforce it, but harmony renders it as the developer
        # message's "# Response Formats" section, the way the model was trained to see schemas.
        enforce = llm.supports_json_schema or bool(getattr(llm, "harmony", False))
        self.rf: dict[str, Any] | None = response_format(schema) if enforce else None
        self.warnings: list[str] = []
        self.usage = Usage()
        self.reasoning: list[str] = []
        self.first: float | None = None

    def _turn(self) -> Completion:
        """One reply; a server that refuses ``response_format`` is asked again without it."""
        while True:
            turn = TurnStream(
                self.llm,
                self.messages,
                effort=self.effort,
                response_format=self.rf,
                max_tokens=self.max_tokens,
                started=self.started,
            )
            texted = False
            try:
                for ev in turn:
                    texted = texted or ev.type == "text"
                    if self.on_event is not None:
                        self.on_event(ev)
            except LLMResponseError as exc:
                # Some servers refuse json_schema (or strict mode): the schema stays in the prompt.
                if self.rf is not None and not texted and _SCHEMA_REJECTED.search(str(exc)):
                    self.warnings.append(
                        f"{self.llm.model} refused response_format ({exc.message}); "
                        "the schema was given in the prompt only"
                    )
                    self.rf = None
                    continue
                raise
            done = turn.completion
            assert done is not None
            self.usage.add(turn.usage)
            self.warnings += turn.warnings
            self.reasoning.append(done.reasoning)
            if self.first is None:
                self.first = turn.first_token_s
            return done

    def answer(self, retrieve_s: float | None) -> StructuredAnswer:
        errors: list[str] = []
        for attempt in (1, 2):
            done = self._turn()
            data, errors, repaired = parse_reply(done.text, self.schema)
            if errors and done.finish_reason == "length":
                errors.append("the reply was cut off by the token budget")
            if not errors and data is not None:
                if repaired:
                    self.warnings.append(
                        "the reply was repaired (text around the JSON was removed)"
                    )
                return StructuredAnswer(
                    question=self.question,
                    text=json.dumps(data, ensure_ascii=False),
                    reasoning="".join(self.reasoning).strip(),
                    citations=_citations(data, self.hits),
                    hits=self.hits,
                    model=self.llm.model,
                    effort=self.effort,
                    usage=self.usage,
                    timings={
                        "retrieve_s": retrieve_s,
                        "first_token_s": self.first,
                        "total_s": time.perf_counter() - self.started,
                    },
                    complete=done.complete,
                    finish_reason=done.finish_reason,
                    warnings=self.warnings,
                    data=data,
                    attempts=attempt,
                )
            if attempt == 1:
                self.warnings.append(
                    f"the first reply was not valid ({'; '.join(errors[:3])}); asked again"
                )
                self.messages = [
                    *self.messages,
                    {"role": "assistant", "content": done.text},
                    {"role": "user", "content": RETRY.format(errors="; ".join(errors[:5]))},
                ]
                if done.finish_reason == "length" and self.max_tokens:
                    self.max_tokens *= 2
        raise LLMResponseError(
            f"{self.llm.model} did not reply with JSON matching the schema after 2 attempts: "
            + "; ".join(errors[:5]),
            hint="simplify the schema, raise --max-tokens, or use a model/server that enforces "
            "JSON schemas (vLLM, OpenRouter, local: models with a grammar)",
        )


def ask_structured(
    kb: Any,
    question: str,
    schema: dict[str, Any],
    *,
    model: str | None = None,
    base_url: str | None = None,
    search: dict[str, Any] | None = None,
    **kwargs: Any,
) -> StructuredAnswer:
    """Retrieve from ``kb`` (a :class:`~ossrag.kb.KnowledgeBase`), then :func:`structured_answer`."""
    t0 = time.perf_counter()
    llm = kb.llm(model, base_url=base_url)
    hits = kb.search(question, **(search or {}))
    kwargs.setdefault("effort", kb.settings.effort)
    return structured_answer(
        llm, question, hits, schema, retrieve_s=time.perf_counter() - t0, t0=t0, **kwargs
    )
