"""JSON Schemas for structured answers: loading, the citations field, validation, reading replies.

    schema = load_schema("answer.schema.json")
    validate({"answer": "x"}, schema)        # ["$: missing required property 'location'"]
    data, errors, repaired = parse_reply('Sure:\n{"answer": "x", "location": "etcd"}', schema)

The validator is written here, not taken from ``jsonschema``, because its
messages go back to the model in the retry prompt: one short line per error
with the JSON path (``$.items[0]: expected integer, got boolean``), which
small models act on better than ``jsonschema``'s longer prose; it covers the
subset servers enforce for ``response_format`` (type, properties, required,
additionalProperties, items, enum, const, anyOf/oneOf/allOf, min/max
length/items/value, local ``$ref``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "extract_json",
    "load_schema",
    "parse_reply",
    "response_format",
    "validate",
    "with_citations",
]

_FENCE = re.compile(r"```[ \t]*(?:json[c5]?|JSON)?[ \t]*\n?(.*?)```", re.S)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


# -- schemas ---------------------------------------------------------------------------------
def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a JSON Schema file; :class:`ConfigError` when it is missing or not a JSON object."""
    p = Path(path)
    try:
        schema = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"schema file not found: {p}", hint="pass --schema FILE.json") from None
    except ValueError as exc:
        raise ConfigError(
            f"{p} is not valid JSON: {exc}", hint="a JSON Schema is a JSON object"
        ) from None
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
    out["properties"] = {
        **(schema.get("properties") or {}),
        "citations": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "numbers of the passages that support the answer",
        },
    }
    out["required"] = [*(schema.get("required") or []), "citations"]
    return out


def response_format(schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """The OpenAI ``response_format`` for ``schema`` (name from its ``title``)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "answer"))[:64] or "answer"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


def validate(
    instance: Any, schema: dict[str, Any], *, root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
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
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(target, dict)
                else {}
            )
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
    for key, ok, what in (
        ("anyOf", lambda n: n >= 1, "any"),
        ("oneOf", lambda n: n == 1, "exactly one"),
    ):
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
        return (
            None,
            [f"{exc} (the reply began: {snippet!r})" if snippet else "the reply was empty"],
            False,
        )
    return data, validate(data, schema), True
