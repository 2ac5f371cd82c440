"""What the CLI prints: the answer on stdout, reasoning dimmed on stderr, JSON, sources, warnings.

    printer = EventPrinter(show_reasoning=True)
    for event in kb.stream("Where is data stored?"):
        printer(event)                 # text -> stdout; reasoning (dimmed) and tool calls -> stderr
    printer.close()                    # ends a dimmed block
    finish_answer(run.answer, json_output=False)

Only the front end prints; the library hands back data (answers with their
``warnings``) or logs through :mod:`logging`, which :func:`install_log_handler`
turns into one ``warning: ...`` line on stderr.

Documents and model output are untrusted, and they reach the terminal: while a
command runs, ``sys.stdout`` and ``sys.stderr`` are :class:`SafeStream` s
(:func:`safe_streams`), which show ANSI/OSC escapes and other control
characters instead of obeying them (:func:`ossrag.safety.terminal_safe`), so
no passage or answer can recolour, hide or rewrite what the user reads, retitle
the window or write the clipboard. ossrag's own dimming passes; the progress
bar writes to the raw stream.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from ..safety import terminal_safe
from ..types import Answer, StreamEvent

__all__ = [
    "DIM",
    "RESET",
    "EventPrinter",
    "SafeStream",
    "finish_answer",
    "install_log_handler",
    "print_json",
    "print_sources",
    "print_warnings",
    "raw_stream",
    "safe_streams",
]

DIM = "\x1b[2m"
RESET = "\x1b[0m"
_OWN = re.compile(r"(\x1b\[2m|\x1b\[0m)")  # the only escapes ossrag itself writes to text


class SafeStream:
    """A text stream that shows control characters instead of obeying them (see the module
    docstring); everything else is the wrapped stream's (``isatty``, ``flush``, ``buffer``...)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        parts = _OWN.split(text)  # odd items are ossrag's own escapes
        self.raw.write("".join(p if i % 2 else terminal_safe(p) for i, p in enumerate(parts)))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def raw_stream(stream: TextIO) -> TextIO:
    """The stream under a :class:`SafeStream` (for the progress bar's own ``\\r``)."""
    return stream.raw if isinstance(stream, SafeStream) else stream


@contextlib.contextmanager
def safe_streams() -> Iterator[None]:
    """Make ``sys.stdout``/``sys.stderr`` :class:`SafeStream` s for the duration."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def print_json(data: Any) -> None:
    """One JSON document on stdout (UTF-8 kept readable, indented)."""
    print(json.dumps(data, ensure_ascii=False, indent=2))


def print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


class EventPrinter:
    """Streams events as ``ossrag ask`` shows them; call it with each event, then :meth:`close`.

    Reasoning goes to stderr only with ``show_reasoning``, dimmed when stderr
    is a terminal; answer text goes to stdout unless ``text=False`` (structured
    answers print their JSON at the end instead); tool calls are announced on
    stderr as ``[search] {...}``. ``quiet`` prints nothing (``--json``).
    """

    def __init__(
        self,
        *,
        show_reasoning: bool = False,
        text: bool = True,
        tools: bool = True,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.show_reasoning, self.text, self.tools, self.quiet = show_reasoning, text, tools, quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.dim = bool(getattr(self.err, "isatty", lambda: False)())
        self._in_reasoning = False

    def __call__(self, ev: StreamEvent) -> None:
        if self.quiet:
            return
        if ev.type == "reasoning":
            if self.show_reasoning and ev.delta:
                self.err.write((DIM if self.dim and not self._in_reasoning else "") + ev.delta)
                self.err.flush()
                self._in_reasoning = True
            return
        if ev.type == "text" and self.text and ev.delta:
            self._end_reasoning()
            self.out.write(ev.delta)
            self.out.flush()
        elif ev.type == "tool_call" and ev.tool_call is not None and self.tools:
            self._end_reasoning()
            self.err.write(f"[{ev.tool_call.name}] {ev.tool_call.arguments}\n")
            self.err.flush()

    def _end_reasoning(self) -> None:
        if self._in_reasoning:
            self.err.write((RESET if self.dim else "") + "\n")
            self.err.flush()
            self._in_reasoning = False

    def close(self) -> None:
        """End a dimmed reasoning block that is still open."""
        self._end_reasoning()


def print_sources(answer: Answer) -> None:
    """The cited passages (or, without citations, the retrieved ones) after an answer."""
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            if c.valid:
                print(f"  [{c.n}] {c.source}" + (f" — {c.heading}" if c.heading else ""))
            else:
                print(f"  [{c.n}] (cited, but no passage {c.n} was given)")
    elif answer.hits:
        print("\nRetrieved passages:")
        for i, h in enumerate(answer.hits, start=1):
            print(f"  [{i}] {h.source}" + (f" — {h.heading}" if h.heading else ""))


def finish_answer(answer: Answer, *, json_output: bool = False, data: bool = False) -> int:
    """Print what follows a streamed answer (JSON, the structured data, or sources) and its
    warnings. Exit code 1 when the answer is incomplete (the stream broke off)."""
    if json_output:
        print_json(answer.to_dict())
    elif data:
        print(json.dumps(getattr(answer, "data", None), ensure_ascii=False, indent=2))
    else:
        print()
        print_sources(answer)
    print_warnings(answer.warnings)
    if not answer.complete:
        print("warning: the answer is incomplete (the stream broke off)", file=sys.stderr)
        return 1
    return 0


class _WarningLine(logging.Handler):
    """``warning: MESSAGE`` on stderr (the library says each thing once where it matters)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        print(f"warning: {record.getMessage()}", file=sys.stderr)


def install_log_handler() -> None:
    """Show the library's warnings (logger ``ossrag``) as one line each on stderr."""
    logger = logging.getLogger("ossrag")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        logger.addHandler(_WarningLine())
