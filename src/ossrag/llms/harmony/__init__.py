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

Rendering lives in :mod:`ossrag.llms.harmony.render`, parsing in
:mod:`ossrag.llms.harmony.parse`; both are re-exported here.

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

from ._tokens import ENDOFTEXT, SPECIAL_TOKENS
from .parse import HarmonyStreamParser, looks_like_harmony, parse_harmony
from .render import (
    IDENTITY,
    KNOWLEDGE_CUTOFF,
    render_prompt,
    render_response_format,
    render_tools,
    schema_to_ts,
)

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
