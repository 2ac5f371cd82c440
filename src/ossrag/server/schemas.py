"""What the server's endpoints return, as pydantic models: the OpenAPI document's truth.

    @router.get("/v1/kbs", response_model=None, responses=documented(KbList, 503))
    def list_kbs(...) -> dict[str, Any]: ...          # returns a dict of exactly that shape

The models document; they do not re-validate each response at run time (the
search and chat paths stay as cheap as before). What keeps them honest is
``tests/test_server_fuzz.py``: schemathesis validates every response it gets
against them. Objects that grow (the ``ossrag`` field, an ingest report, a
knowledge base's info) allow extra fields; the fields listed are always there.

:func:`documented` adds the error responses a route can give (an OpenAI-style
:class:`ErrorResponse` for each status); :func:`truthful_openapi` then adds
what the :class:`~ossrag.server.security.Guard` answers for every route (401
with a key set, 403 for a foreign Origin, 413, 429) and drops FastAPI's 422,
which this server never sends (validation errors are 400).
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
    "ErrorDetail",
    "ErrorResponse",
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
    "documented",
    "sse_event",
    "truthful_openapi",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- errors ----------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, permission_error, "
                                  "rate_limit_error or api_error")
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error: the OpenAI shape, so OpenAI clients raise their usual exceptions."""

    error: ErrorDetail


_WHY = {
    400: "A malformed request, or one ossrag cannot honour (the message says which field)",
    401: "A missing or wrong bearer key, or the answering model's key is missing on the server",
    403: "A foreign Origin, or an answering model clients may not choose",
    404: "No such knowledge base, chunk or job",
    409: "The knowledge base is being ingested",
    413: "The request body is over the limit",
    429: "Too many requests in flight from this client, or the answering model rate-limits "
         "(Retry-After is set)",
    501: "An optional dependency of this feature is not installed on the server",
    502: "The answering model failed or its stream broke off",
    503: "The knowledge base is being ingested, or Milvus is unavailable (Retry-After is set)",
    504: "The answering model timed out",
}


def sse_event(data: type[BaseModel], *, done: bool = False, named: bool = False) -> dict[str, Any]:
    """The schema of one server-sent event whose ``data`` is JSON of ``data`` (or an error).

    OpenAPI 3.1 without ``itemSchema``: the schema of a ``text/event-stream``
    describes each event (``data``, ``event``, ``id``); ``contentSchema`` says
    what the JSON inside ``data`` is. ``done``: ``data: [DONE]`` ends the stream.
    """
    payload = {"type": "string", "contentMediaType": "application/json",
               "contentSchema": {"anyOf": [_ref(data), _ref(ErrorResponse)]}}
    field = {"if": {"const": "[DONE]"}, "else": payload} if done else payload
    props: dict[str, Any] = {"data": field}
    if named:
        props["event"] = {"type": "string", "description": "the event's type, as in its data"}
    return {"type": "object", "required": ["data"], "properties": props}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def documented(model: type[BaseModel] | None, *statuses: int, status: int = 200,
               stream: dict[str, Any] | None = None,
               links: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: ``model`` at ``status`` and an error body per status.

    ``stream``: the :func:`sse_event` schema of each event when the request asks
    for ``stream: true``; ``links``: OpenAPI links to operations that take a value
    of this response.
    """
    out: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        ok: dict[str, Any] = {"model": model, "description": model.__doc__ or "OK"}
        if stream is not None:
            ok["content"] = {"text/event-stream": {"schema": stream}}
        if links:
            ok["links"] = links
        out[status] = ok
    for code in statuses:
        out[code] = {"model": ErrorResponse, "description": _WHY[code]}
    return out


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
    watch: dict[str, Any] | None = Field(default=None, description="what --watch follows: "
                                         "folders, rounds so far, the last round, an error")


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
    id: str = Field(description="a knowledge base; KB@provider:model also picks the answering model")
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


# -- the document ----------------------------------------------------------------------------

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _examples(kb: str) -> dict[str, dict[str, Any]]:
    """Request examples naming this server's own knowledge base (``--kb``)."""
    question = "What is in this knowledge base?"
    return {
        "/v1/chat/completions": {"value": {
            "model": kb, "messages": [{"role": "user", "content": question}]}},
        "/v1/responses": {"value": {"model": kb, "input": question,
                                    "reasoning": {"effort": "low"}}},
        "/v1/search": {"value": {"query": question, "kb": kb, "k": 3}},
    }


#: Models only named inside event schemas, which FastAPI does not see.
_STREAMED = (ChatCompletionChunk, ResponseEvent, ErrorResponse)


def truthful_openapi(spec: dict[str, Any], *, api_key: bool, kb: str) -> dict[str, Any]:
    """``spec`` with what the Guard answers on every route, and without FastAPI's 422."""
    for path, example in _examples(kb).items():
        body = spec["paths"].get(path, {}).get("post", {}).get("requestBody", {})
        media = body.get("content", {}).get("application/json")
        if media is not None:
            media["examples"] = {"question": example}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for model in _STREAMED:
        if model.__name__ not in schemas:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas[model.__name__] = schema
    if api_key:
        spec["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer", "description": "OSSRAG_API_KEY"}}
    guard = {403: "A foreign Origin", 429: _WHY[429]}
    if api_key:
        guard[401] = "A missing or wrong bearer key"
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            extra = dict(guard)
            if method in ("post", "put", "patch"):
                extra[413] = _WHY[413]
                extra.setdefault(400, _WHY[400])
            if path == "/healthz":  # open: no key, not counted
                extra = {403: guard[403]}
            elif api_key:
                op["security"] = [{"bearer": []}]
            for code, why in extra.items():
                responses.setdefault(str(code), {
                    "description": why, "content": {"application/json": {"schema": _ERROR_REF}}})
            if any(p.get("in") == "path" for p in op.get("parameters", [])):
                responses.setdefault("400", {"description": _WHY[400], "content": {
                    "application/json": {"schema": _ERROR_REF}}})
    return spec
