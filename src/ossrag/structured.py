"""Structured answers: JSON that matches a JSON Schema, validated, repaired or retried.

    from ossrag.structured import ask_structured, load_schema

    schema = load_schema("answer.schema.json")
    answer = ask_structured(kb, "Which index types does Milvus Lite support?", schema,
                            model="vllm:openai/gpt-oss-20b", effort="low")
    answer.data                  # the parsed JSON, valid against the schema
    answer.to_dict()["data"]     # `ossrag ask --schema FILE --json` prints this shape

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
from pathlib import Path
from typing import Any

from .agent import add_usage
from .errors import ConfigError, LLMResponseError
from .llms.base import LLM, Message
from .rag import extract_citations, format_passage
from .types import Answer, Citation, Hit, StreamEvent, Usage

__all__ = [
    "StructuredAnswer",
    "ask_structured",
    "build_messages",
    "extract_json",
    "load_schema",
    "parse_reply",
    "response_format",
    "structured_answer",
    "validate",
    "with_citations",
]

SYSTEM = (
    "You are a careful assistant that answers questions using only the numbered passages "
    "provided by the user. Reply with only a JSON value (no prose, no code fences) that matches "
    "this JSON Schema:\n{schema}\n{cite}If the passages do not contain the answer, say so in the "
    "JSON (e.g. \"I don't know\") instead of guessing."
)
CITE = ('Put the numbers of the passages that support the answer in "citations" (e.g. [1, 3]); '
        "do not cite numbers that were not provided. ")  # fmt: skip
USER = "Passages:\n\n{context}\n\nQuestion: {question}\n\nReply with the JSON:"
RETRY = ("Your reply is not valid: {errors}. Reply again with only the JSON value that matches "
         "the schema.")  # fmt: skip

_FENCE = re.compile(r"```[ \t]*(?:json[c5]?|JSON)?[ \t]*\n?(.*?)```", re.S)
_SCHEMA_REJECTED = re.compile(r"response_format|json_schema|schema|strict|structured", re.I)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}  # fmt: skip


@dataclass
class StructuredAnswer(Answer):
    """An :class:`~ossrag.types.Answer` whose reply is JSON; ``data`` holds it parsed."""

    data: Any = None
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["data"] = self.data
        return out


# -- schemas ---------------------------------------------------------------------------------
def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a JSON Schema file; :class:`ConfigError` when it is missing or not a JSON object."""
    p = Path(path)
    try:
        schema = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"schema file not found: {p}", hint="pass --schema FILE.json") from None
    except ValueError as exc:
        raise ConfigError(f"{p} is not valid JSON: {exc}", hint="a JSON Schema is a JSON object") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{p} holds no JSON Schema object", hint='e.g. {"type": "object", ...}')
    schema.setdefault("title", re.sub(r"[^A-Za-z0-9_-]+", "_", p.stem)[:64] or "answer")
    return schema


def with_citations(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an object schema with a required ``citations`` integer array (if it has none).

    Required, not optional, so that schemas written for strict mode (every
    property required) stay valid for it; an empty list is a valid value.
    """
    if schema.get("type") != "object" or "citations" in (schema.get("properties") or {}):
        return schema
    out = dict(schema)
    out["properties"] = {**(schema.get("properties") or {}),
                         "citations": {"type": "array", "items": {"type": "integer"},
                                       "description": "numbers of the passages that support the answer"}}  # fmt: skip
    out["required"] = [*(schema.get("required") or []), "citations"]
    return out


def response_format(schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """The OpenAI ``response_format`` for ``schema`` (name from its ``title``)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "answer"))[:64] or "answer"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


def validate(instance: Any, schema: dict[str, Any], *, root: dict[str, Any] | None = None,
             path: str = "$") -> list[str]:  # fmt: skip
    """Errors of ``instance`` against ``schema`` (empty: valid), each with its JSON path."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/"):
            return [f"{path}: unsupported $ref {ref!r} (only local #/... refs)"]
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        return validate(instance, target, root=root, path=path)
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is_type(instance, t) for t in names):
            return [f"{path}: expected {' or '.join(map(str, names))}, got {_type_name(instance)}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} is not one of {schema['enum']!r}")
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    for key, ok, what in (("anyOf", lambda n: n >= 1, "any"), ("oneOf", lambda n: n == 1, "exactly one")):
        if isinstance(schema.get(key), list):
            n = sum(not validate(instance, s, root=root, path=path) for s in schema[key])
            if not ok(n):
                errors.append(f"{path}: must match {what} of the {key} schemas")
    for sub in schema.get("allOf") or []:
        errors += validate(instance, sub, root=root, path=path)
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{path}: less than {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{path}: greater than {schema['maximum']}")
    if isinstance(instance, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in instance:
                errors.append(f"{path}: missing required property {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, value in instance.items():
            if name in props:
                errors += validate(value, props[name], root=root, path=f"{path}.{name}")
            elif extra is False:
                errors.append(f"{path}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                errors += validate(value, extra, root=root, path=f"{path}.{name}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(instance):
                errors += validate(item, schema["items"], root=root, path=f"{path}[{i}]")
    return errors


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


# -- replies ---------------------------------------------------------------------------------
def extract_json(text: str) -> Any:
    """The JSON in a reply: the whole text, a fenced block, or the first JSON object/array in it.

    Raises :class:`ValueError` when there is none.
    """
    text = text.strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(value, dict | list):
            return value
    raise ValueError("no JSON object or array found in the reply")


def parse_reply(text: str, schema: dict[str, Any]) -> tuple[Any, list[str], bool]:
    """(data, validation errors, repaired?) for a reply; data is None when no JSON was found."""
    try:
        data = json.loads(text)
    except ValueError:
        pass
    else:
        return data, validate(data, schema), False
    try:
        data = extract_json(text)
    except ValueError as exc:
        snippet = " ".join(text.split())[:120]
        return None, [f"{exc} (the reply began: {snippet!r})" if snippet else "the reply was empty"], False
    return data, validate(data, schema), True


def build_messages(question: str, hits: list[Hit], schema: dict[str, Any]) -> list[Message]:
    cite = CITE if "citations" in (schema.get("properties") or {}) else ""
    context = "\n\n".join(format_passage(i, h) for i, h in enumerate(hits, start=1))
    return [
        {"role": "system", "content": SYSTEM.format(schema=json.dumps(schema, ensure_ascii=False), cite=cite)},
        {"role": "user", "content": USER.format(context=context or "(no passages were found)",
                                                question=question)},
    ]  # fmt: skip


def _citations(data: Any, hits: list[Hit]) -> list[Citation]:
    """``citations`` numbers and ``[n]`` markers inside string values, mapped to hits."""
    marks: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("citations"), list):
        marks += [f"[{n}]" for n in data["citations"] if isinstance(n, int) and not isinstance(n, bool)]

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
    started = t0 if t0 is not None else time.perf_counter()
    sent = with_citations(schema) if citations else schema
    messages = build_messages(question, hits, sent)
    # In-process gpt-oss cannot enforce it, but harmony renders it as the developer
    # message's "# Response Formats" section, the way the model was trained to see schemas.
    enforce = llm.supports_json_schema or bool(getattr(llm, "harmony", False))
    rf: dict[str, Any] | None = response_format(sent) if enforce else None
    llm_warnings: list[str] = getattr(llm, "warnings", None) or []
    seen = len(llm_warnings)
    warnings: list[str] = []
    usage = Usage()
    reasoning: list[str] = []
    first: float | None = None
    errors: list[str] = []
    attempt = 0
    while attempt < 2:
        text: list[str] = []
        finish: str | None = None
        complete = True
        got = Usage()
        try:
            for ev in llm.stream(messages, effort=effort, response_format=rf, max_tokens=max_tokens):
                if on_event is not None:
                    on_event(ev)
                if ev.type in ("text", "reasoning") and ev.delta and first is None:
                    first = time.perf_counter() - started
                if ev.type == "text":
                    text.append(ev.delta)
                elif ev.type == "reasoning":
                    reasoning.append(ev.delta)
                elif ev.type == "usage" and ev.usage is not None:
                    got = ev.usage
                elif ev.type == "done":
                    finish, complete = ev.finish_reason, ev.complete
        except LLMResponseError as exc:
            # Some servers refuse json_schema (or strict mode): ask again with the schema in the prompt only.
            if rf is not None and not text and _SCHEMA_REJECTED.search(str(exc)):
                warnings.append(f"{llm.model} refused response_format ({exc.message}); "
                                "the schema was given in the prompt only")  # fmt: skip
                rf = None
                continue
            raise
        add_usage(usage, got)
        reply = "".join(text)
        attempt += 1
        data, errors, repaired = parse_reply(reply, sent)
        if errors and finish == "length":
            errors.append("the reply was cut off by the token budget")
        if not errors and data is not None:
            if repaired:
                warnings.append("the reply was repaired (text around the JSON was removed)")
            return StructuredAnswer(
                question=question, text=json.dumps(data, ensure_ascii=False),
                reasoning="".join(reasoning).strip(), citations=_citations(data, hits), hits=hits,
                model=llm.model, effort=effort, usage=usage,
                timings={"retrieve_s": retrieve_s, "first_token_s": first,
                         "total_s": time.perf_counter() - started},
                complete=complete, finish_reason=finish,
                warnings=[*llm_warnings[seen:], *warnings], data=data, attempts=attempt,
            )  # fmt: skip
        if attempt == 1:
            warnings.append(f"the first reply was not valid ({'; '.join(errors[:3])}); asked again")
            messages = [*messages, {"role": "assistant", "content": reply},
                        {"role": "user", "content": RETRY.format(errors="; ".join(errors[:5]))}]  # fmt: skip
            if finish == "length" and max_tokens:
                max_tokens *= 2
    raise LLMResponseError(
        f"{llm.model} did not reply with JSON matching the schema after 2 attempts: "
        + "; ".join(errors[:5]),
        hint="simplify the schema, raise --max-tokens, or use a model/server that enforces "
        "JSON schemas (vLLM, OpenRouter, local: models with a grammar)",
    )


def ask_structured(kb: Any, question: str, schema: dict[str, Any], *, model: str | None = None,
                   base_url: str | None = None, search: dict[str, Any] | None = None,
                   **kwargs: Any) -> StructuredAnswer:  # fmt: skip
    """Retrieve from ``kb`` (a :class:`~ossrag.kb.KnowledgeBase`), then :func:`structured_answer`."""
    t0 = time.perf_counter()
    llm = kb.llm(model, base_url=base_url)
    hits = kb.search(question, **(search or {}))
    kwargs.setdefault("effort", kb.settings.effort)
    return structured_answer(llm, question, hits, schema, retrieve_s=time.perf_counter() - t0,
                             t0=t0, **kwargs)  # fmt: skip
