"""The OpenAPI document of ``ossrag serve``: error bodies, per-route responses, the Guard's.

    @router.get("/v1/kbs", response_model=None, responses=documented(KbList, 503))
    def list_kbs(...) -> dict[str, Any]: ...

:func:`documented` adds the error responses a route can give (an OpenAI-style
:class:`ErrorResponse` for each status) and, for streaming routes, the schema of
each server-sent event (:func:`sse_event`); :func:`truthful_openapi` then adds
what the :class:`~ossrag.server.security.Guard` answers for every route (401
with a key set, 403 for a foreign Origin, 413, 429) and drops FastAPI's 422,
which this server never sends (validation errors are 400). The response models
are in :mod:`ossrag.server.schemas`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .schemas import ChatCompletionChunk, ResponseEvent

__all__ = [
    "ErrorDetail",
    "ErrorResponse",
    "documented",
    "sse_event",
    "truthful_openapi",
]


# -- errors ----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(
        description="invalid_request_error, authentication_error, permission_error, "
        "rate_limit_error or api_error"
    )
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
    payload = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"anyOf": [_ref(data), _ref(ErrorResponse)]},
    }
    field = {"if": {"const": "[DONE]"}, "else": payload} if done else payload
    props: dict[str, Any] = {"data": field}
    if named:
        props["event"] = {"type": "string", "description": "the event's type, as in its data"}
    return {"type": "object", "required": ["data"], "properties": props}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def documented(
    model: type[BaseModel] | None,
    *statuses: int,
    status: int = 200,
    stream: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
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


# -- the document ----------------------------------------------------------------------------

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _examples(kb: str) -> dict[str, dict[str, Any]]:
    """Request examples naming this server's own knowledge base (``--kb``)."""
    question = "What is in this knowledge base?"
    return {
        "/v1/chat/completions": {
            "value": {"model": kb, "messages": [{"role": "user", "content": question}]}
        },
        "/v1/responses": {
            "value": {"model": kb, "input": question, "reasoning": {"effort": "low"}}
        },
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
        spec["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "OSSRAG_API_KEY"}
        }
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
                responses.setdefault(
                    str(code),
                    {"description": why, "content": {"application/json": {"schema": _ERROR_REF}}},
                )
            if any(p.get("in") == "path" for p in op.get("parameters", [])):
                responses.setdefault(
                    "400",
                    {
                        "description": _WHY[400],
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
    return spec
