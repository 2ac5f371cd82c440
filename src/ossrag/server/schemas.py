"""What the server's endpoints return, as pydantic models: the OpenAPI document's truth.

    @router.get("/v1/kbs", response_model=None, responses=documented(KbList, 503))
    def list_kbs(...) -> dict[str, Any]: ...          # returns a dict of exactly that shape

The models document; they do not re-validate each response at run time (the
search and chat paths stay as cheap as before). What keeps them honest is
``tests/test_server_fuzz.py``: schemathesis validates every response it gets
against them. Objects that grow (the ``ossrag`` field, an ingest report, a
knowledge base's info) allow extra fields; the fields listed are always there.

The error bodies, :func:`~ossrag.server.openapi.documented` and the document
itself are in :mod:`ossrag.server.openapi`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AssistantMessage",
    "ChatAnnotation",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatUsage",
    "Chunk",
    "ChunkChoice",
    "ChunkDelta",
    "CompletionTokensDetails",
    "DeletedKb",
    "FileError",
    "Health",
    "IngestJob",
    "IngestReport",
    "Kb",
    "KbEntry",
    "KbList",
    "MessageItem",
    "Model",
    "ModelList",
    "OssragCitation",
    "OssragField",
    "OssragHit",
    "OssragUsage",
    "OutputAnnotation",
    "OutputText",
    "Ready",
    "ReasoningItem",
    "ReasoningText",
    "ResponseEvent",
    "ResponseObject",
    "ResponseUsage",
    "SearchHit",
    "SearchResponse",
    "Unavailable",
    "UrlCitation",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- health ----------------------------------------------------------------------------------


class Health(BaseModel):
    """The process is up."""

    status: Literal["ok"]
    version: str


class Ready(BaseModel):
    """Milvus answers: the knowledge bases and which of them are being ingested."""

    status: Literal["ready"]
    target: str
    knowledge_bases: int
    ingesting: list[str]
    watch: dict[str, Any] | None = Field(
        default=None,
        description="what --watch follows: folders, rounds so far, the last round, an error",
    )


class Unavailable(BaseModel):
    """Milvus does not answer (Retry-After is set)."""

    status: Literal["unavailable"]
    reason: str


# -- knowledge bases -------------------------------------------------------------------------


class KbEntry(_Open):
    rows: int | None
    sources: int | None
    embedder: str | None
    ingesting: bool
    description: str | None = None
    error: str | None = Field(default=None, description="set when its info cannot be read")


class Model(BaseModel):
    id: str = Field(
        description="a knowledge base; KB@provider:model also picks the answering model"
    )
    object: Literal["model"]
    created: int
    owned_by: str
    ossrag: KbEntry


class ModelList(BaseModel):
    """One model id per knowledge base."""

    object: Literal["list"]
    data: list[Model]


class Kb(_Open):
    name: str
    object: Literal["kb"]
    ingesting: bool
    rows: int | None = None
    sources: int | None = None
    embedder: str | None = None
    dim: int | None = None
    bm25: bool | None = None
    index: str | None = None
    error: str | None = Field(default=None, description="set when its info cannot be read")


class KbList(BaseModel):
    """The knowledge bases with their size, embedder and index."""

    object: Literal["list"]
    data: list[Kb]


class DeletedKb(BaseModel):
    """The knowledge base is gone."""

    id: str
    object: Literal["kb"]
    deleted: Literal[True]


class Chunk(BaseModel):
    """One passage, as stored."""

    id: str
    object: Literal["chunk"]
    kb: str
    source: str
    origin: str
    heading: str
    chunk_index: int
    text: str
    metadata: dict[str, Any]


class SearchHit(BaseModel):
    id: str
    score: float
    text: str
    source: str
    heading: str
    chunk_index: int


class SearchResponse(BaseModel):
    """Exactly ``ossrag search QUERY --json``."""

    query: str
    kb: str
    mode: Literal["dense", "bm25", "hybrid"]
    hits: list[SearchHit]


class FileError(BaseModel):
    source: str
    reason: str


class IngestReport(_Open):
    kb: str
    added: int
    updated: int
    unchanged: int
    removed: int
    skipped: list[dict[str, Any]]
    chunks_written: int
    chunks_deleted: int
    seconds: float


class IngestJob(BaseModel):
    """An ingestion job: progress, errors per file, and the report once done."""

    id: str
    object: Literal["ingest.job"]
    kb: str
    status: Literal["queued", "running", "done", "failed"]
    files_total: int
    files_done: int
    chunks_total: int
    chunks_done: int
    errors: list[FileError]
    created: int
    report: IngestReport | None = Field(default=None, description="when done")
    error: str | None = Field(default=None, description="when failed")


# -- answers ---------------------------------------------------------------------------------


class OssragCitation(BaseModel):
    n: int
    id: str
    source: str
    heading: str
    url: str


class OssragHit(BaseModel):
    n: int
    id: str
    source: str
    heading: str
    score: float
    snippet: str
    url: str


class OssragUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None


class OssragField(_Open):
    """Citations, every retrieved passage, timings, usage and warnings."""

    kb: str
    model: str
    effort: str | None
    citations: list[OssragCitation]
    hits: list[OssragHit]
    timings: dict[str, float | None]
    usage: OssragUsage
    warnings: list[str]
    complete: bool


class UrlCitation(BaseModel):
    url: str
    title: str
    start_index: int
    end_index: int


class ChatAnnotation(BaseModel):
    type: Literal["url_citation"]
    url_citation: UrlCitation


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    refusal: None
    annotations: list[ChatAnnotation]
    reasoning: str | None = Field(default=None, description="the model's reasoning, if any")
    reasoning_content: str | None = Field(default=None, description="with --reasoning-content")


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: Literal["stop", "length"]


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int | None


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails


class ChatCompletion(BaseModel):
    """The answer (or, with ``stream: true``, server-sent ``chat.completion.chunk`` events)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    ossrag: OssragField


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None
    annotations: list[ChatAnnotation] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: None
    finish_reason: Literal["stop", "length"] | None


class ChatCompletionChunk(BaseModel):
    """One event of a streamed answer; the last carries the ``ossrag`` field."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None
    ossrag: OssragField | None = None


class OutputAnnotation(UrlCitation):
    type: Literal["url_citation"]


class OutputText(BaseModel):
    type: Literal["output_text"]
    text: str
    annotations: list[OutputAnnotation]
    logprobs: list[Any]


class MessageItem(BaseModel):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    status: Literal["completed", "in_progress", "incomplete"]
    content: list[OutputText]


class ReasoningText(BaseModel):
    type: Literal["reasoning_text"]
    text: str


class ReasoningItem(BaseModel):
    id: str
    type: Literal["reasoning"]
    summary: list[Any]
    content: list[ReasoningText]
    status: Literal["completed", "in_progress", "incomplete"]


class ResponseUsage(_Open):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class ResponseObject(_Open):
    """The response (or, with ``stream: true``, server-sent Responses API events)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[ReasoningItem | MessageItem]
    usage: ResponseUsage | None
    error: dict[str, Any] | None
    incomplete_details: dict[str, Any] | None
    ossrag: OssragField | None = None


class ResponseEvent(_Open):
    """One event of a streamed response (``response.created`` ... ``response.completed``)."""

    type: str
    sequence_number: int
    response: ResponseObject | None = None
