"""Neutralising untrusted text before it reaches a prompt or a terminal: one place for both.

Documents and questions are untrusted. A string shaped like a chat-template
special token or turn marker must never be read by a tokenizer as structure:

* ``<|word|>``: harmony's ``<|start|>``, ``<|channel|>``, ``<|message|>``,
  ``<|end|>``, ``<|call|>``, ``<|return|>``, ``<|constrain|>``, ChatML's
  ``<|im_start|>``/``<|im_end|>``, Llama 3's ``<|start_header_id|>``, Phi's
  ``<|user|>``...; DeepSeek's full-width ``<｜Assistant｜>``;
* Gemma's ``<start_of_turn>``/``<end_of_turn>``, ``<bos>``, ``<eos>``, the
  ``<s>``/``</s>`` of Llama 2 and Mistral, ``<think>``, ``<tool_call>``,
  ``<tool_response>``;
* Llama 2's and Mistral's ``[INST]``/``[/INST]``, ``<<SYS>>``/``<</SYS>>``,
  ``[SYSTEM_PROMPT]``, ``[TOOL_CALLS]``, ``[AVAILABLE_TOOLS]``,
  ``[TOOL_RESULTS]``, ``[THINK]``::

    from ossrag.safety import neutralize
    neutralize("x<|end|><|start|>system")      # 'x<\\u200b|end|><\\u200b|start|>system'
    neutralize("[INST] <<SYS>>")               # '[\\u200bINST] <\\u200b<SYS>>'

A zero-width space goes after the opening ``<`` or ``[``: the text reads the
same to a person and to the model, but no longer tokenizes into a special
token or matches a template's marker. It is idempotent, and the LLM backends
apply it to every message they send (:func:`neutralize_messages`), so it holds
for passages, questions, history and tool results alike; stored chunk text is
kept as written (search results and citations show what the document says).

Documents and model output also reach terminals (the CLI streams answers and
reasoning). ANSI/OSC escape sequences in them could recolour, hide or rewrite
what the user sees, set the window title, or (OSC 52) write the clipboard, so
every control character but newline and tab is shown instead of obeyed::

    terminal_safe("ok\x1b]52;c;ZXZpbA==\x07")   # 'ok^[]52;c;ZXZpbA==^G'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["neutralize", "neutralize_messages", "terminal_safe"]

_ANGLE_WORDS = (
    "start_of_turn",
    "end_of_turn",
    "bos",
    "eos",
    "s",
    "unk",
    "pad",
    "think",
    "tool_call",
    "tool_response",
    "start_of_image",
    "end_of_image",
)
_SQUARE_WORDS = (
    "INST",
    "SYS",
    "SYSTEM_PROMPT",
    "TOOL_CALLS",
    "AVAILABLE_TOOLS",
    "TOOL_RESULTS",
    "THINK",
)
# The opening character of anything shaped like a special token or a turn marker.
_MARKER = re.compile(
    r"<(?=\|[A-Za-z0-9_]+\|>)"  # <|word|>: harmony, ChatML, Llama 3, Phi, ...
    r"|<(?=｜[^<>｜\n]{1,40}｜>)"  # DeepSeek: <｜Assistant｜>, <｜begin▁of▁sentence｜>
    rf"|<(?=/?(?:{'|'.join(_ANGLE_WORDS)})>)"  # Gemma, Llama 2 / Mistral, Qwen
    rf"|\[(?=/?(?:{'|'.join(_SQUARE_WORDS)})\])"  # Llama 2 / Mistral instructions
    r"|<(?=</?SYS>>)"  # Llama 2's <<SYS>> and <</SYS>>
)


def neutralize(text: str) -> str:
    """Make special-token strings in foreign text harmless (see the module docstring).

    >>> neutralize("x<|end|><|start|>system")
    'x<\\u200b|end|><\\u200b|start|>system'
    >>> neutralize("<start_of_turn>user [INST]")
    '<\\u200bstart_of_turn>user [\\u200bINST]'
    """
    return _MARKER.sub(lambda m: m.group(0) + "\u200b", text)


def neutralize_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of chat ``messages`` with :func:`neutralize` applied to every text they carry.

    Content (a string or text parts), earlier reasoning and tool-call arguments;
    other fields are copied as they are.

    >>> neutralize_messages([{"role": "user", "content": "hi<|end|>"}])[0]["content"]
    'hi<\\u200b|end|>'
    """
    out: list[dict[str, Any]] = []
    for msg in messages:
        m = dict(msg)
        content = m.get("content")
        if isinstance(content, str):
            m["content"] = neutralize(content)
        elif isinstance(content, list):
            m["content"] = [
                {**part, "text": neutralize(part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else neutralize(part)
                if isinstance(part, str)
                else part
                for part in content
            ]
        for key in ("reasoning", "reasoning_content", "thinking"):
            if isinstance(m.get(key), str):
                m[key] = neutralize(m[key])
        if isinstance(m.get("tool_calls"), list):
            m["tool_calls"] = [_neutral_call(c) for c in m["tool_calls"]]
        out.append(m)
    return out


def _neutral_call(call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    fn = dict(call["function"])
    if isinstance(fn.get("arguments"), str):
        fn["arguments"] = neutralize(fn["arguments"])
    return {**call, "function": fn}


# C0 controls but \t and \n, DEL, and the C1 controls (U+0080-U+009F: CSI, OSC, ... in 8 bits).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _caret(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation: ESC -> ^[, BEL -> ^G, CR -> ^M
    return "^?" if code == 0x7F else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with its terminal control characters made visible (see the module docstring).

    >>> terminal_safe("red\x1b[31m alert\rhidden")
    'red^[[31m alert^Mhidden'
    """
    return _CONTROL.sub(_caret, text)
