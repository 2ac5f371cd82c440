"""The special tokens of harmony, shared by the renderer and the parser.

from ossrag.llms.harmony._tokens import CHANNEL, MESSAGE, START, TOKEN_RE

TOKEN_RE.findall("<|start|>user<|message|>hi<|end|>")   # ['<|start|>', '<|message|>', '<|end|>']
"""

from __future__ import annotations

import re

__all__ = [
    "ALL_TOKENS",
    "CALL",
    "CHANNEL",
    "CONSTRAIN",
    "END",
    "ENDOFTEXT",
    "MESSAGE",
    "RETURN",
    "SPECIAL_TOKENS",
    "START",
    "TOKEN_RE",
]

START, END, MESSAGE, CHANNEL = "<|start|>", "<|end|>", "<|message|>", "<|channel|>"
CONSTRAIN, RETURN, CALL = "<|constrain|>", "<|return|>", "<|call|>"
ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)
ALL_TOKENS = (*SPECIAL_TOKENS, ENDOFTEXT)
TOKEN_RE = re.compile("|".join(re.escape(t) for t in ALL_TOKENS))
