"""Plain dataclasses shared by every component.

The flow is ``RawSource -> Document -> Chunk -> (stored row) -> Hit`` on the
indexing side and ``Hit -> StreamEvent -> Answer`` on the answering side.
They hold data only; behaviour lives in the components.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "EventType",
    "Hit",
    "RawSource",
    "Skipped",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "chunk_id",
    "content_hash",
]


def content_hash(data: bytes | str) -> str:
    """Short, stable hash of content (sha256, 16 hex chars)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def chunk_id(origin: str, source: str, chunk_index: int, text: str) -> str:
    """Primary key of a chunk: derived from where it comes from and what it says.

    The same text at the same place always gets the same id, so re-ingesting
    unchanged files writes nothing; edited text gets a new id, so new rows can
    be written before the old ones are deleted.
    """
    key = f"{origin}\x00{source}\x00{chunk_index}\x00{content_hash(text)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class RawSource:
    """One file's bytes, before parsing. ``source`` is relative to ``origin``."""

    origin: str  # the ingested root: absolute directory, zip path or URL
    source: str  # posix path relative to origin (or the URL for a single page)
    data: bytes
    fmt: str  # markdown | text | rst | html | pdf
    source_hash: str = ""

    def __post_init__(self) -> None:
        if not self.source_hash:
            self.source_hash = content_hash(self.data)


@dataclass
class Skipped:
    """A file that was not ingested, with the reason shown in the summary."""

    origin: str
    source: str
    reason: str


@dataclass
class Document:
    """Parsed text of one source."""

    origin: str
    source: str
    text: str
    fmt: str
    source_hash: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A passage cut from a document, with its heading path (``A > B > C``)."""

    text: str
    heading: str = ""
    chunk_index: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading path gives a section its context."""
        if self.heading and not self.text.startswith(self.heading.split(" > ")[-1]):
            return f"{self.heading}\n\n{self.text}"
        return self.text


@dataclass
class Hit:
    """One search result. ``score`` is higher-is-better on the mode's documented scale."""

    id: str
    score: float
    text: str
    source: str
    heading: str = ""
    chunk_index: int = 0
    origin: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``search --json`` shape: id, score, text, source, heading, chunk_index."""
        return {
            "id": self.id,
            "score": float(self.score),
            "text": self.text,
            "source": self.source,
            "heading": self.heading,
            "chunk_index": int(self.chunk_index),
        }


EventType = Literal["reasoning", "text", "tool_call", "usage", "done"]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None  # None: the server does not report it
    cost: float | None = None  # provider-reported cost (e.g. OpenRouter usage.cost)

    def add(self, other: Usage) -> None:
        """Add ``other`` in place; reasoning tokens and cost stay None until one is reported."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        if other.reasoning_tokens is not None:
            self.reasoning_tokens = (self.reasoning_tokens or 0) + other.reasoning_tokens
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


@dataclass
class StreamEvent:
    """One event of a streamed answer.

    ``reasoning`` and ``text`` carry a ``delta``; ``tool_call`` a ``tool_call``;
    ``usage`` a ``usage``; ``done`` ends the stream with ``finish_reason``
    (``stop``, ``length``, ``tool_calls``) and ``complete=False`` when the
    stream broke off.
    """

    type: EventType
    delta: str = ""
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    complete: bool = True


@dataclass
class Citation:
    n: int  # the bracket number in the answer, [n]
    id: str  # hit id, "" when the number points at no passage that was given
    source: str = ""
    heading: str = ""
    valid: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "id": self.id, "source": self.source, "heading": self.heading}


@dataclass
class Answer:
    question: str
    text: str
    reasoning: str = ""
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    model: str = ""
    effort: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: dict[str, float | None] = field(default_factory=dict)
    complete: bool = True
    finish_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: How the question was searched when query translation was considered
    #: (:meth:`ossrag.retrieval.translate.Translation.to_dict`), else None.
    translation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``ask --json`` shape (``translation`` only when translation was considered)."""
        out = {
            "question": self.question,
            "answer": self.text,
            "reasoning": self.reasoning,
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "model": self.model,
            "effort": self.effort,
            "usage": self.usage.to_dict(),
            # Always these three; retrieval stages (search_s, rerank_s, mmr_s,
            # expand_s) when they ran.
            "timings": {
                "retrieve_s": self.timings.get("retrieve_s"),
                "first_token_s": self.timings.get("first_token_s"),
                "total_s": self.timings.get("total_s"),
                **{
                    k: v
                    for k, v in self.timings.items()
                    if k in ("translate_s", "search_s", "rerank_s", "mmr_s", "expand_s")
                },
            },
        }
        if self.translation is not None:
            out["translation"] = self.translation
        return out
