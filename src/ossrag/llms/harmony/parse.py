"""Parsing raw harmony output (what llama.cpp in-process or an unparsing server hands back).

    from ossrag.llms.harmony.parse import HarmonyStreamParser, parse_harmony

    parser = HarmonyStreamParser()
    for chunk in raw_chunks:              # any split, even mid-token
        for event in parser.feed(chunk):  # StreamEvent('reasoning'|'text'|'tool_call')
            ...
    events = parser.close()
    parser.truncated                      # True: no final answer arrived
    parse_harmony("<|channel|>final<|message|>4<|return|>").text   # '4'

Channels: ``analysis`` (and anything unknown) becomes ``reasoning``;
``final`` and recipient-less ``commentary`` (preambles) become ``text``; a
message to a recipient becomes a ``tool_call``.  See :mod:`ossrag.llms.harmony`.
"""

from __future__ import annotations

import re
import uuid

from ...types import StreamEvent, ToolCall
from ..base import Completion, collect
from ._tokens import (
    ALL_TOKENS,
    CALL,
    CHANNEL,
    CONSTRAIN,
    END,
    ENDOFTEXT,
    MESSAGE,
    RETURN,
    START,
    TOKEN_RE,
)

__all__ = ["HarmonyStreamParser", "looks_like_harmony", "parse_harmony"]


def looks_like_harmony(text: str) -> bool:
    """True when ``text`` carries raw harmony structure (a server did not parse it)."""
    return CHANNEL in text or (MESSAGE in text and START in text) or text.startswith(START)


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
            m = TOKEN_RE.search(self._buf)
            if m is None:
                # Hold back a tail that could still grow into a special token.
                cut = self._buf.rfind("<")
                if cut != -1 and any(t.startswith(self._buf[cut:]) for t in ALL_TOKENS):
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
