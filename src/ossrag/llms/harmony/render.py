"""Rendering chat messages, tools and response formats as a harmony prompt for gpt-oss.

    from ossrag.llms.harmony.render import render_prompt, render_tools, schema_to_ts

    prompt = render_prompt([{"role": "user", "content": "2+2?"}], effort="low")
    # '<|start|>system<|message|>You are ChatGPT, ...Reasoning: low...<|end|>'
    # '<|start|>user<|message|>2+2?<|end|><|start|>assistant'
    render_tools([{"type": "function", "function": {"name": "search", "parameters": {...}}}])
    schema_to_ts({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    # '{\nq: string,\n}'

Every message content is neutralised (:func:`ossrag.safety.neutralize`), so a
document cannot smuggle in a fake turn.  See :mod:`ossrag.llms.harmony`.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from ...config import EFFORTS
from ...errors import ConfigError
from ...safety import neutralize
from ..base import Message, content_text
from ._tokens import CALL, CHANNEL, CONSTRAIN, END, MESSAGE, START

__all__ = [
    "IDENTITY",
    "KNOWLEDGE_CUTOFF",
    "render_prompt",
    "render_response_format",
    "render_tools",
    "schema_to_ts",
]

IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"


def _default_comment(schema: dict[str, Any]) -> str:
    default = schema["default"]
    if isinstance(default, str) and "enum" not in schema:
        return f'default: "{default}"'
    if isinstance(default, str):
        return f"default: {default}"
    return f"default: {json.dumps(default)}"


def schema_to_ts(schema: dict[str, Any], indent: str = "") -> str:
    """A JSON schema as the TypeScript-like type harmony declares tools with."""
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(schema_to_ts(v, indent) for v in schema[key])
    typ = schema.get("type")
    if isinstance(typ, list):
        return " | ".join("number" if t == "integer" else str(t) for t in typ)
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if typ == "object" and "properties" in schema:
        required = set(schema.get("required") or [])
        lines = ["{"]
        for name, prop in schema["properties"].items():
            prop = prop if isinstance(prop, dict) else {}
            if prop.get("description"):
                for line in str(prop["description"]).splitlines():
                    lines.append(f"{indent}// {line}")
            opt = "" if name in required else "?"
            ts = schema_to_ts(prop, indent)
            if prop.get("nullable") and "null" not in ts:
                ts += " | null"
            line = f"{indent}{name}{opt}: {ts},"
            if "default" in prop:
                line += f" // {_default_comment(prop)}"
            lines.append(line)
        lines.append(f"{indent}}}")
        return "\n".join(lines)
    if typ == "object":
        return "object"
    if typ == "array":
        items = schema.get("items")
        return f"{schema_to_ts(items, indent)}[]" if isinstance(items, dict) else "Array<any>"
    return _SCALARS.get(str(typ), "any")


_SCALARS = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "null": "null",
}


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    """Accept the OpenAI shape ``{"type": "function", "function": {...}}`` or the bare one."""
    fn = tool.get("function", tool)
    if not isinstance(fn, dict) or not fn.get("name"):
        raise ConfigError(
            f"tool definition without a name: {tool!r}",
            hint='pass {"type": "function", "function": {"name": ..., "parameters": ...}}',
        )
    return fn


def render_tools(tools: list[dict[str, Any]]) -> str:
    """The ``# Tools`` section of the developer message (namespace ``functions``)."""
    lines = ["# Tools", "", "## functions", "", "namespace functions {", ""]
    for tool in tools:
        fn = _tool_spec(tool)
        for line in str(fn.get("description") or "").splitlines():
            lines.append(f"// {line}")
        params = fn.get("parameters") or {}
        if params.get("properties"):
            lines.append(f"type {fn['name']} = (_: {schema_to_ts(params)}) => any;")
        else:
            lines.append(f"type {fn['name']} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def render_response_format(response_format: dict[str, Any]) -> str | None:
    """The ``# Response Formats`` section for an OpenAI ``json_schema`` response format."""
    if response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema", spec)
    out = f"# Response Formats\n\n## {spec.get('name') or 'response'}\n\n"
    if spec.get("description"):
        out += f"// {spec['description']}\n"
    return out + json.dumps(schema, separators=(",", ":"))


def _msg(header: str, content: str, end: str = END) -> str:
    return f"{START}{header}{MESSAGE}{neutralize(content)}{end}"


def _reasoning_of(msg: Message) -> str:
    for key in ("reasoning", "reasoning_content", "thinking"):
        if isinstance(msg.get(key), str) and msg[key]:
            return str(msg[key])
    return ""


def render_prompt(
    messages: list[Message],
    *,
    effort: str | None,
    tools: list[dict[str, Any]] | None = None,
    response_format: dict[str, Any] | None = None,
    date: str | None = None,
) -> str:
    """Render OpenAI-style chat messages as a harmony prompt ending in ``<|start|>assistant``.

    ``system``/``developer`` messages at the start become the developer
    message's ``# Instructions`` (later ones a developer message in place);
    ``effort`` (default ``medium``) goes into the system message. Reasoning of
    earlier turns is dropped once a turn ended in a final answer; inside an
    ongoing tool loop it is sent back as ``analysis``.
    """
    effort = effort or "medium"
    if effort not in EFFORTS:
        raise ConfigError(f"unknown reasoning effort {effort!r}", hint="use low, medium or high")
    parts = [_system_message(effort, date, bool(tools))]
    i = 0
    instructions = []
    while i < len(messages) and messages[i].get("role") in ("system", "developer"):
        instructions.append(content_text(messages[i].get("content")))
        i += 1
    developer = _developer_message(instructions, tools, response_format)
    if developer:
        parts.append(developer)
    parts += _render_turns(messages[i:])
    parts.append(f"{START}assistant")
    return "".join(parts)


def _system_message(effort: str, date: str | None, tools: bool) -> str:
    date = date or _dt.datetime.now(_dt.UTC).date().isoformat()
    system = (
        f"{IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: {date}\n\n"
        f"Reasoning: {effort}\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message."
    )
    if tools:
        system += "\nCalls to these tools must go to the commentary channel: 'functions'."
    return f"{START}system{MESSAGE}{system}{END}"


def _developer_message(
    instructions: list[str],
    tools: list[dict[str, Any]] | None,
    response_format: dict[str, Any] | None,
) -> str:
    """The developer message: instructions, tools and response format ("" when there are none)."""
    sections = []
    if any(instructions):
        sections.append("# Instructions\n\n" + "\n\n".join(x for x in instructions if x))
    if tools:
        sections.append(render_tools(tools))
    if response_format and (fmt := render_response_format(response_format)):
        sections.append(fmt)
    return _msg("developer", "\n\n".join(sections)) if sections else ""


def _render_turns(rest: list[Message]) -> list[str]:
    """The conversation after the leading instructions, one harmony message each."""
    # Reasoning is kept only after the last assistant turn that ended in a final answer.
    last_final = -1
    for j, m in enumerate(rest):
        if (
            m.get("role") == "assistant"
            and not m.get("tool_calls")
            and content_text(m.get("content"))
        ):
            last_final = j
    names: dict[str, str] = {}  # tool call id -> function name, for the tool results
    parts: list[str] = []
    for j, m in enumerate(rest):
        role = m.get("role")
        content = content_text(m.get("content"))
        if role in ("system", "developer"):
            parts.append(_msg("developer", content))
        elif role == "user":
            parts.append(_msg("user", content))
        elif role == "assistant":
            parts += _render_assistant(m, content, j > last_final, names)
        elif role in ("tool", "function"):
            name = m.get("name") or names.get(str(m.get("tool_call_id", ""))) or "tool"
            header = f"functions.{name} to=assistant{CHANNEL}commentary"
            parts.append(_msg(header, content))
        else:
            raise ConfigError(
                f"unknown message role {role!r}",
                hint="use system, developer, user, assistant or tool",
            )
    return parts


def _render_assistant(
    m: Message, content: str, keep_reasoning: bool, names: dict[str, str]
) -> list[str]:
    """One assistant turn: its reasoning (when kept), then its tool calls or its final answer."""
    parts = []
    reasoning = _reasoning_of(m)
    if reasoning and keep_reasoning:
        parts.append(_msg(f"assistant{CHANNEL}analysis", reasoning))
    calls = m.get("tool_calls") or []
    if calls:
        if content:
            parts.append(_msg(f"assistant{CHANNEL}commentary", content))
        for call in calls:
            fn = call.get("function", call)
            name = str(fn.get("name", ""))
            names[str(call.get("id", ""))] = name
            header = f"assistant{CHANNEL}commentary to=functions.{name} {CONSTRAIN}json"
            parts.append(_msg(header, str(fn.get("arguments") or "{}"), CALL))
    elif content:
        parts.append(_msg(f"assistant{CHANNEL}final", content))
    return parts
