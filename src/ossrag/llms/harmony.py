"""The harmony format of gpt-oss: render prompts, parse raw output.

gpt-oss speaks "harmony": ``<|start|>{header}<|message|>{content}<|end|>``,
where the assistant header names a channel (``analysis`` = raw chain of
thought, ``commentary`` = tool calls and preambles, ``final`` = the answer).
Servers with a harmony parser split this for us; raw completions (llama.cpp
in-process, ``llama-server --reasoning-format none``) hand us the text, so we
split it ourselves::

    prompt = render_prompt([{"role": "user", "content": "2+2?"}], effort="low")
    # ... '<|start|>user<|message|>2+2?<|end|><|start|>assistant'

    parser = HarmonyStreamParser()
    for chunk in raw_chunks:              # any split, even mid-token
        for event in parser.feed(chunk):  # StreamEvent('reasoning'|'text'|'tool_call')
            ...
    events = parser.close()
    parser.truncated                      # True: no final answer arrived

    parse_harmony("<|channel|>analysis<|message|>Easy.<|end|>"
                  "<|start|>assistant<|channel|>final<|message|>4<|return|>").text  # '4'

Decisions:

* ``commentary`` messages without a recipient are *preambles*; harmony says
  they are meant for the user (unlike ``analysis``), so they are emitted as
  ``text``. A later message's text is separated from earlier text by a blank line.
* Unknown channels are emitted as ``reasoning`` (hidden by default) rather
  than risk leaking chain of thought into the answer.
* The special-token strings are made harmless in every message content we
  render (:func:`neutralize`), so a document cannot smuggle in a fake turn.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from typing import Any

from ..config import EFFORTS
from ..errors import ConfigError
from ..safety import neutralize
from ..types import StreamEvent, ToolCall
from .base import Completion, Message, collect, content_text

__all__ = [
    "ENDOFTEXT",
    "IDENTITY",
    "KNOWLEDGE_CUTOFF",
    "SPECIAL_TOKENS",
    "HarmonyStreamParser",
    "looks_like_harmony",
    "parse_harmony",
    "render_prompt",
    "render_response_format",
    "render_tools",
    "schema_to_ts",
]

START, END, MESSAGE, CHANNEL = "<|start|>", "<|end|>", "<|message|>", "<|channel|>"
CONSTRAIN, RETURN, CALL = "<|constrain|>", "<|return|>", "<|call|>"
ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)
_ALL_TOKENS = (*SPECIAL_TOKENS, ENDOFTEXT)
_TOKEN_RE = re.compile("|".join(re.escape(t) for t in _ALL_TOKENS))

IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"


def looks_like_harmony(text: str) -> bool:
    """True when ``text`` carries raw harmony structure (a server did not parse it)."""
    return CHANNEL in text or (MESSAGE in text and START in text) or text.startswith(START)


# ---------------------------------------------------------------- parsing


class HarmonyStreamParser:
    """Incremental harmony parser over decoded text chunks.

    Chunks may split anywhere, including inside a special token: text that
    could still become a token is held back until the next chunk decides.
    The stream is assumed to start inside an assistant header (the prompt
    ended with ``<|start|>assistant``); a leading ``<|start|>`` is accepted too.
    """

    def __init__(self) -> None:
        self._buf = ""
        self._state = "header"  # header | content | between | done
        self._header = ""
        self._channel: str | None = None
        self._recipient: str | None = None
        self._args: list[str] = []
        self._text_seen = False
        self._text_gap = False  # a text message ended; separate the next one
        self.final_done = False  # a final message ended with <|end|>/<|return|>
        self.returned = False  # <|return|> (or end of text) was seen
        self.called = False  # <|call|> was seen
        self.tool_calls: list[ToolCall] = []
        self.truncated = False
        self.closed = False

    @property
    def done(self) -> bool:
        """The model finished its turn (``<|return|>`` or ``<|call|>``); stop sampling."""
        return self._state == "done"

    @property
    def channel(self) -> str | None:
        """Channel of the message being read (``None`` between messages or in a header)."""
        return self._channel if self._state == "content" else None

    @property
    def finish_reason(self) -> str:
        """``tool_calls``, ``stop`` or ``length`` (only meaningful after :meth:`close`)."""
        if self.tool_calls:
            return "tool_calls"
        return "length" if self.truncated else "stop"

    def feed(self, text: str) -> list[StreamEvent]:
        """Consume one chunk; return the events it completes."""
        if self.closed:
            raise ValueError("HarmonyStreamParser.feed() after close()")
        self._buf += text
        out: list[StreamEvent] = []
        while self._buf and self._state != "done":
            m = _TOKEN_RE.search(self._buf)
            if m is None:
                # Hold back a tail that could still grow into a special token.
                cut = self._buf.rfind("<")
                if cut != -1 and any(t.startswith(self._buf[cut:]) for t in _ALL_TOKENS):
                    safe, self._buf = self._buf[:cut], self._buf[cut:]
                else:
                    safe, self._buf = self._buf, ""
                self._text(safe, out)
                break
            self._text(self._buf[: m.start()], out)
            self._buf = self._buf[m.end() :]
            self._token(m.group(), out)
        if self._state == "done":
            self._buf = ""
        return out

    def close(self, *, incomplete: bool = False) -> list[StreamEvent]:
        """End of output. Returns the last events and sets :attr:`truncated`.

        Engines usually swallow the stop token (``<|return|>``/``<|call|>``), so
        by default an open final message or tool call counts as finished.
        Pass ``incomplete=True`` when the output was cut (``max_tokens``, a broken
        stream): then an open message is unfinished and a half-written tool
        call is dropped.
        """
        out: list[StreamEvent] = []
        if self.closed:
            return out
        tail, self._buf = self._buf, ""
        if tail and not incomplete:
            # A held-back '<|...' that never completed was plain text; when the
            # output was cut it is the start of a token that never arrived.
            self._text(tail, out)
        if self._state == "content" and not incomplete:
            # The engine swallowed the stop token: the open message is whole.
            if self._recipient:
                self.called = True
            else:
                self.returned = True
            self._finish_message(out)
        self._state = "done"
        self.closed = True
        answered = self.final_done or self.called or bool(self.tool_calls)
        self.truncated = not answered or (incomplete and not self.returned and not self.called)
        return out

    # -- internals

    def _text(self, text: str, out: list[StreamEvent]) -> None:
        if not text:
            return
        if self._state == "header":
            self._header += text
        elif self._state == "content":
            if self._recipient:
                self._args.append(text)
            elif self._channel in ("final", "commentary", None):
                if self._text_gap and self._text_seen:
                    out.append(StreamEvent(type="text", delta="\n\n"))
                self._text_gap = False
                self._text_seen = True
                out.append(StreamEvent(type="text", delta=text))
            else:  # analysis and anything unknown stays out of the answer
                out.append(StreamEvent(type="reasoning", delta=text))
        # "between" messages: stray whitespace is dropped

    def _token(self, tok: str, out: list[StreamEvent]) -> None:
        state = self._state
        if tok == START:
            if state == "content":  # missing <|end|>: be lenient
                self._finish_message(out)
            self._state, self._header = "header", ""
        elif tok in (CHANNEL, CONSTRAIN):
            if state == "header":
                self._header += tok
            elif tok == CHANNEL:  # a header without <|start|>
                if state == "content":
                    self._finish_message(out)
                self._state, self._header = "header", CHANNEL
        elif tok == MESSAGE:
            if state == "header":
                self._open_message()
        elif tok == END:
            if state == "content":
                self._finish_message(out)
            self._state = "between"
        elif tok in (RETURN, CALL, ENDOFTEXT):
            if state == "content":
                self._finish_message(out)
            if tok == CALL:
                self.called = True
            else:
                self.returned = True
            self._state = "done"

    def _open_message(self) -> None:
        header, _, _ctype = self._header.partition(CONSTRAIN)
        _role, _, chan_part = header.partition(CHANNEL)
        recipient = re.search(r"to=(\S+)", header)
        channel = None
        for word in chan_part.split():
            if not word.startswith("to="):
                channel = word
                break
        self._channel = channel
        self._recipient = recipient.group(1) if recipient else None
        if self._recipient == "all":
            self._recipient = None
        self._args = []
        self._state = "content"
        self._header = ""

    def _finish_message(self, out: list[StreamEvent]) -> None:
        if self._recipient:
            name = self._recipient.removeprefix("functions.")
            call = ToolCall(
                id=f"call_{uuid.uuid4().hex[:16]}", name=name, arguments="".join(self._args).strip()
            )
            self.tool_calls.append(call)
            out.append(StreamEvent(type="tool_call", tool_call=call))
        else:
            if self._channel == "final":
                self.final_done = True
            if self._channel in ("final", "commentary", None) and self._text_seen:
                self._text_gap = True
        self._recipient = None
        self._channel = None
        self._args = []
        self._state = "between"


def parse_harmony(text: str, *, incomplete: bool = False) -> Completion:
    """Parse a whole raw harmony output into a :class:`~ossrag.llms.base.Completion`.

    ``incomplete=True`` says the server cut the output (``finish_reason``
    ``length``); see :meth:`HarmonyStreamParser.close`. Output without a
    finished final answer (or tool call) gets ``finish_reason="length"``.
    """
    parser = HarmonyStreamParser()
    events = parser.feed(text) + parser.close(incomplete=incomplete)
    events.append(StreamEvent(type="done", finish_reason=parser.finish_reason))
    return collect(iter(events))


# -------------------------------------------------------------- rendering


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
    return {"string": "string", "number": "number", "integer": "number", "boolean": "boolean",
            "null": "null"}.get(str(typ), "any")  # fmt: skip


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    """Accept the OpenAI shape ``{"type": "function", "function": {...}}`` or the bare one."""
    fn = tool.get("function", tool)
    if not isinstance(fn, dict) or not fn.get("name"):
        raise ConfigError(f"tool definition without a name: {tool!r}",
                          hint='pass {"type": "function", "function": {"name": ..., "parameters": ...}}')  # fmt: skip
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
    date = date or _dt.datetime.now(_dt.UTC).date().isoformat()
    system = (
        f"{IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: {date}\n\n"
        f"Reasoning: {effort}\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message."
    )
    if tools:
        system += "\nCalls to these tools must go to the commentary channel: 'functions'."
    parts = [f"{START}system{MESSAGE}{system}{END}"]

    i = 0
    instructions = []
    while i < len(messages) and messages[i].get("role") in ("system", "developer"):
        instructions.append(content_text(messages[i].get("content")))
        i += 1
    sections = []
    if any(instructions):
        sections.append("# Instructions\n\n" + "\n\n".join(x for x in instructions if x))
    if tools:
        sections.append(render_tools(tools))
    if response_format and (fmt := render_response_format(response_format)):
        sections.append(fmt)
    if sections:
        parts.append(_msg("developer", "\n\n".join(sections)))
    rest = messages[i:]

    # Reasoning is kept only after the last assistant turn that ended in a final answer.
    last_final = -1
    for j, m in enumerate(rest):
        if (
            m.get("role") == "assistant"
            and not m.get("tool_calls")
            and content_text(m.get("content"))
        ):
            last_final = j
    names: dict[str, str] = {}
    for j, m in enumerate(rest):
        role = m.get("role")
        content = content_text(m.get("content"))
        if role in ("system", "developer"):
            parts.append(_msg("developer", content))
        elif role == "user":
            parts.append(_msg("user", content))
        elif role == "assistant":
            reasoning = _reasoning_of(m)
            if reasoning and j > last_final:
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
        elif role in ("tool", "function"):
            name = m.get("name") or names.get(str(m.get("tool_call_id", ""))) or "tool"
            header = f"functions.{name} to=assistant{CHANNEL}commentary"
            parts.append(_msg(header, content))
        else:
            raise ConfigError(f"unknown message role {role!r}",
                              hint="use system, developer, user, assistant or tool")  # fmt: skip
    parts.append(f"{START}assistant")
    return "".join(parts)
