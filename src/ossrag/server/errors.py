"""Errors as OpenAI-style error objects, with the HTTP status each ossrag error deserves.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "n", "code": null}}

Clients built for the OpenAI API (the ``openai`` package, LangChain, Open
WebUI) read exactly this shape; the status decides which exception they
raise. The answering model's own failures are mapped through: its 429 stays a
429 (with ``Retry-After``), its timeout is a 504, its missing key a 401 whose
message says the key is the *server's* to set.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ConfigError,
    EmbedderMismatchError,
    FilterError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMTimeoutError,
    LoadError,
    MissingDependencyError,
    ModelNotFoundError,
    OssragError,
    SourceError,
    StoreError,
)

__all__ = ["ApiError", "error_body", "install_handlers", "status_for"]


class ApiError(Exception):
    """An error the API answers with directly: status, OpenAI ``type``, optional ``param``/``code``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# (exception class, status, OpenAI error type, code): the first match wins.
_MAP: list[tuple[type[OssragError], int, str, str | None]] = [
    (LLMRateLimitError, 429, "rate_limit_error", "upstream_rate_limited"),
    (LLMTimeoutError, 504, "api_error", "upstream_timeout"),
    (LLMConnectionError, 502, "api_error", "upstream_unreachable"),
    (LLMAuthError, 401, "authentication_error", "upstream_auth"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (LLMError, 502, "api_error", "upstream_error"),
    (FilterError, 400, "invalid_request_error", "invalid_filter"),
    (EmbedderMismatchError, 409, "invalid_request_error", "embedder_mismatch"),
    (MissingDependencyError, 501, "api_error", "missing_dependency"),
    (ConfigError, 400, "invalid_request_error", "invalid_value"),
    (SourceError, 400, "invalid_request_error", "invalid_source"),
    (LoadError, 400, "invalid_request_error", "unreadable_file"),
    (StoreError, 503, "api_error", "store_unavailable"),
]


def status_for(exc: OssragError) -> tuple[int, str, str | None]:
    """``(HTTP status, OpenAI error type, code)`` for an ossrag error."""
    for cls, status, kind, code in _MAP:
        if isinstance(exc, cls):
            return status, kind, code
    return 500, "api_error", None


def _ossrag_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OssragError)
    status, kind, code = status_for(exc)
    message = str(exc)
    if isinstance(exc, LLMAuthError):
        message += " (the answering model's key is set on the ossrag server, not by the client)"
    headers = {}
    if status in (429, 503):
        # The answering model's own wait when it gave one (a 429 mapped through), else 5 s.
        wait = getattr(exc, "retry_after", None)
        headers["Retry-After"] = str(max(1, math.ceil(wait))) if wait is not None else "5"
    return JSONResponse(
        error_body(message, type=kind, code=code), status_code=status, headers=headers
    )


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.message, type=exc.type, param=exc.param, code=exc.code),
        status_code=exc.status,
        headers=exc.headers,
    )


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = list(first.get("loc", ()))
    if loc and loc[0] in ("body", "path", "query", "header"):
        loc = loc[1:]
    where = ".".join(str(p) for p in loc)
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request body"
    return JSONResponse(error_body(message, param=where or None), status_code=400)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
    return JSONResponse(
        error_body(str(exc.detail), type=kind),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_handlers(app: FastAPI) -> None:
    """Answer every error as an OpenAI-style error object."""
    app.add_exception_handler(OssragError, _ossrag_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
