"""The structured content of each MCP tool (its ``outputSchema``), as pydantic models.

    SearchResult(kb="docs", query="...", mode="hybrid", hits=[SearchHit(...)])

Every result that carries document text has a ``notice`` saying it is
untrusted data; the text itself is cleaned (:func:`..render.clean`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .render import UNTRUSTED_NOTICE

__all__ = [
    "AskResult",
    "Chunk",
    "Citation",
    "KnowledgeBase",
    "KnowledgeBases",
    "SearchHit",
    "SearchResult",
    "Section",
]


class KnowledgeBase(BaseModel):
    name: str
    description: str = Field(description="what it holds: rows, sources, example sources")
    rows: int = Field(description="chunks (passages) stored")
    sources: int = Field(description="documents the chunks come from")
    embedder: str
    example_sources: list[str] = Field(default_factory=list)
    default: bool = Field(False, description="used when a tool call names no kb")
    ingesting: bool = Field(False, description="being written right now: retry later")


class KnowledgeBases(BaseModel):
    knowledge_bases: list[KnowledgeBase]
    target: str = Field(
        description="the Milvus target, e.g. 'Milvus Lite 3.2.2: dense, BM25, hybrid'"
    )


class SearchHit(BaseModel):
    n: int = Field(description="rank, from 1")
    id: str = Field(description="chunk id: pass it to get_chunk for the full text")
    source: str = Field(description="document path or URL: pass it to read_section")
    heading: str = Field(description="heading path 'A > B > C' of the section")
    score: float = Field(description="higher is better, on the search mode's scale")
    chunk_index: int
    snippet: str = Field(description="the start of the passage (untrusted document text)")
    url: str | None = Field(None, description="link to the passage (over HTTP only)")


class SearchResult(BaseModel):
    kb: str
    query: str
    mode: str
    hits: list[SearchHit]
    omitted: int = Field(0, description="hits left out to stay within the response size budget")
    warnings: list[str] = Field(default_factory=list)
    notice: str = UNTRUSTED_NOTICE


class Chunk(BaseModel):
    kb: str
    id: str
    source: str
    origin: str
    heading: str
    chunk_index: int
    text: str = Field(description="the full passage (untrusted document text)")
    truncated: bool = False
    url: str | None = Field(None, description="link to the passage (over HTTP only)")
    notice: str = UNTRUSTED_NOTICE


class Section(BaseModel):
    kb: str
    source: str
    heading: str = Field(description="the heading asked for ('' = the whole document)")
    headings: list[str] = Field(description="heading paths of the sections returned, in order")
    chunk_ids: list[str]
    text: str = Field(description="the section's text (untrusted document text)")
    truncated: bool = False
    notice: str = UNTRUSTED_NOTICE


class Citation(BaseModel):
    n: int = Field(description="the [n] mark in the answer")
    id: str
    source: str
    heading: str
    url: str | None = Field(None, description="link to the passage (over HTTP only)")


class AskResult(BaseModel):
    kb: str
    question: str
    model: str
    effort: str | None
    answer: str = Field(description="written by the answering model from the passages")
    citations: list[Citation] = Field(description="passages the answer cites with [n]")
    sources: list[SearchHit] = Field(
        description="every passage the model was given, numbered as in the answer"
    )
    reasoning: str | None = Field(
        None, description="the model's reasoning, only when include_reasoning"
    )
    complete: bool = Field(description="false when the answer stream broke off")
    finish_reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float | None] = Field(default_factory=dict)
    notice: str = UNTRUSTED_NOTICE
