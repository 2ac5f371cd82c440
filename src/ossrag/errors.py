"""One exception tree for ossrag; every message says what to do next.

Every error raised on purpose by ossrag derives from :class:`OssragError`, so
callers can catch one type::

    try:
        kb.search("...")
    except OssragError as exc:
        print(exc)          # the message, then "hint: ..." when there is one

The tree (exit codes in brackets, 1 unless shown)::

    OssragError
    ├── ConfigError [2]              bad flag, setting, file or environment variable
    ├── MissingDependencyError [2]   an optional extra is not installed (hint: the pip command)
    ├── SourceError [2]              a source given to ingest cannot be used at all
    ├── LoadError                    one file could not be read; ingestion skips it
    ├── EmbedderError                the embedder failed to load or to embed
    ├── EmbedderMismatchError [2]    the KB was built with another embedder
    ├── StoreError                   Milvus unreachable, refused, or the KB unusable
    │   └── FilterError [2]          a filter expression Milvus rejected
    └── LLMError                     the answering model failed; never touches the index
        ├── LLMAuthError [2]         missing or rejected API key
        ├── LLMConnectionError       the model server could not be reached
        │   └── LLMTimeoutError      ... or did not answer in time
        ├── LLMRateLimitError        HTTP 429 after the retries ran out
        ├── ModelNotFoundError [2]   the server does not know the model
        ├── LLMResponseError         an error answer (4xx/5xx) or an unreadable one
        └── StreamInterruptedError   a stream broke off midway (``partial`` holds what came)

Third-party failures (openai, httpx, pymilvus, and the stdlib's socket and
timeout errors) are read in one place, :func:`classify`, into a
:class:`Failure` with a ``kind``; each backend turns the kind into the branch
of the tree above that fits its domain, with a message that names what it
was talking to::

    failure = classify(exc)         # Failure(kind="rate_limit", status=429, retry_after=2.0, ...)

The CLI prints ``str(exc)`` as one line and exits with ``exc.exit_code``; a
traceback is shown only with ``OSSRAG_DEBUG=1``.

Secrets never travel in a message: :func:`redact` blanks out the values of the
secret environment variables (``*_API_KEY``, ``*_TOKEN``, ...) and of secrets
registered with :func:`register_secret` (a ``--token`` flag), and every
:class:`OssragError` message, hint and :class:`Failure` message goes through it
(a provider that echoes the key it was sent in its 401 would otherwise put the
key in the CLI's output, the server's error bodies, logs and the run store)::

    redact("Incorrect API key provided: sk-live-123456")   # '... provided: ***' when set
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAILURE_KINDS",
    "RETRYABLE_STATUS",
    "SECRET_ENV",
    "ConfigError",
    "EmbedderError",
    "EmbedderMismatchError",
    "Failure",
    "FilterError",
    "LLMAuthError",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMTimeoutError",
    "LoadError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "OssragError",
    "SourceError",
    "StoreError",
    "StreamInterruptedError",
    "classify",
    "redact",
    "register_secret",
    "retry_after",
    "secret_values",
]

#: Environment variables whose values are secrets: OPENAI_API_KEY, OSSRAG_TOKEN, ...
SECRET_ENV = re.compile(r"(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD)$")
_MIN_SECRET = 8  # shorter values ("ollama", "x") are placeholders, not worth blanking out
_REGISTERED: set[str] = set()
_NOT_SECRET = {"sk-no-key-required"}  # the dummy key sent to local servers


def register_secret(value: str | None) -> None:
    """Treat ``value`` (a ``--token`` given on the command line, ...) as a secret too."""
    if value and len(value) >= _MIN_SECRET:
        _REGISTERED.add(value)


def secret_values(env: Mapping[str, str] | None = None) -> set[str]:
    """The secrets :func:`redact` removes: secret variables' values and registered ones.

    A ``user:password`` token counts whole and by its password.
    """
    env = os.environ if env is None else env
    out = set(_REGISTERED)
    for name, value in env.items():
        if value and SECRET_ENV.search(name.upper()):
            out.add(value)
            if ":" in value:
                out.add(value.split(":", 1)[1])
    return {v for v in out if len(v) >= _MIN_SECRET and v not in _NOT_SECRET}


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every secret (see :func:`secret_values`, and ``extra``) as ``***``."""
    if not text:
        return text
    values = secret_values() | {v for v in extra if v and len(v) >= _MIN_SECRET}
    for value in sorted(values, key=len, reverse=True):  # a secret inside another one
        if value in text:
            text = text.replace(value, "***")
    return text


class OssragError(Exception):
    """Base of every ossrag error. ``hint`` tells the user how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigError(OssragError):
    """Bad option, flag, config file or environment variable."""

    exit_code = 2


class MissingDependencyError(OssragError):
    """An optional extra is not installed; the hint names the pip command."""

    exit_code = 2


class SourceError(OssragError):
    """A source given to ``ingest`` cannot be used at all (missing path, bad URL)."""

    exit_code = 2


class LoadError(OssragError):
    """One file could not be read or parsed; ingestion skips it and goes on."""


class EmbedderError(OssragError):
    """The embedder failed to load or to embed."""


class EmbedderMismatchError(OssragError):
    """The knowledge base was built with another embedder (name or dimension)."""

    exit_code = 2


class StoreError(OssragError):
    """Milvus is unreachable, refused a request, or the collection is unusable."""


class FilterError(StoreError):
    """A ``--filter`` expression was rejected by Milvus."""

    exit_code = 2


class LLMError(OssragError):
    """Base of errors from a language-model backend. Never touches the index."""


class LLMAuthError(LLMError):
    """Missing or rejected API key."""

    exit_code = 2


class LLMConnectionError(LLMError):
    """The model server could not be reached."""


class LLMTimeoutError(LLMConnectionError):
    """The model server did not answer in time."""


class LLMRateLimitError(LLMError):
    """HTTP 429 after the retries ran out; ``retry_after``: seconds the server asked to wait."""

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ModelNotFoundError(LLMError):
    """The server does not know the model, or the local model file is missing."""

    exit_code = 2


class LLMResponseError(LLMError):
    """The server answered with an error (4xx/5xx) or a response ossrag cannot read."""


class StreamInterruptedError(LLMError):
    """A streamed answer broke off midway; ``partial`` holds what arrived."""

    def __init__(self, message: str, *, partial: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial


# -- reading third-party failures ---------------------------------------------------------------

#: What :func:`classify` can say went wrong.
FAILURE_KINDS = (
    "timeout",
    "connection",
    "auth",
    "not_found",
    "rate_limit",
    "bad_request",
    "server",
    "invalid",
    "other",
)
#: HTTP statuses worth retrying (the request may succeed as sent).
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Failure:
    """One third-party exception, read: what kind of failure, in the server's own words."""

    kind: str  # one of FAILURE_KINDS
    message: str  # the server's message on one line (at most 500 characters)
    status: int | None = None  # HTTP status, when there was one
    retry_after: float | None = None  # seconds the server asked to wait (Retry-After)
    code: int | None = None  # a driver's error code (pymilvus)

    @property
    def retryable(self) -> bool:
        """Worth retrying as sent: the server was busy, down or unreachable."""
        if self.kind == "connection":
            return True
        return self.status in RETRYABLE_STATUS if self.status is not None else False


def _lineage(exc: BaseException) -> set[tuple[str, str]]:
    """``(top-level package, class name)`` of the exception's classes, without importing them."""
    return {(c.__module__.split(".")[0], c.__name__) for c in type(exc).__mro__}


def _one_line(text: str) -> str:
    """The message without the indented expression/caret echo some servers append (and
    without secrets: redacted before it is cut, so no part of a key is left)."""
    text = redact(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln[:1].isspace()]
    text = "; ".join(lines) or text.strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _body_message(exc: BaseException) -> str:
    """``error.message`` of an HTTP error body (OpenAI-style), else the response text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("detail") or "")
        return inner if isinstance(inner, str) else ""
    if isinstance(body, str):
        return body
    response = getattr(exc, "response", None)
    try:
        return str(response.text) if response is not None else ""
    except Exception:  # a streamed response that was never read
        return ""


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds; HTTP dates are ignored)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except (TypeError, ValueError):
            continue
    return None


def _status_kind(status: int) -> str:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limit"
    if status in (400, 409, 413, 415, 422):
        return "bad_request"
    return "server"


def _milvus(exc: BaseException, message: str) -> Failure:
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else None
    low = message.lower()
    if code == 2 or any(
        s in low
        for s in (
            "fail connecting",
            "server unavailable",
            "unavailable",
            "connection refused",
            "deadline exceeded",
            "failed to connect",
        )
    ):
        return Failure("connection", message, code=code)
    if ("not found" in low or "not exist" in low) and "field" not in low:
        return Failure("not_found", message, code=code)
    if code in (6, 1100) or any(
        s in low
        for s in ("expression", "query plan", "parse", "unknown field", "not exist", "unexpected")
    ):
        return Failure("invalid", message, code=code)
    return Failure("other", message, code=code)


def classify(exc: BaseException) -> Failure:
    """Read an exception from openai, httpx, pymilvus or the stdlib into a :class:`Failure`."""
    seen = _lineage(exc)
    raw = getattr(exc, "message", None)
    message = _one_line(str(raw if isinstance(raw, str) and raw else exc) or type(exc).__name__)
    if ("openai", "APITimeoutError") in seen or ("httpx", "TimeoutException") in seen:
        return Failure("timeout", message)
    if ("openai", "APIConnectionError") in seen or ("httpx", "TransportError") in seen:
        return Failure("connection", message)
    if ("openai", "APIStatusError") in seen or ("httpx", "HTTPStatusError") in seen:
        response = getattr(exc, "response", None)
        status = int(
            getattr(exc, "status_code", None) or getattr(response, "status_code", None) or 0
        )
        text = _one_line(_body_message(exc) or message)
        return Failure(
            _status_kind(status),
            text,
            status=status,
            retry_after=retry_after(getattr(response, "headers", None)),
        )
    if ("pymilvus", "MilvusException") in seen:
        return _milvus(exc, message)
    if isinstance(exc, TimeoutError):
        return Failure("timeout", message)
    if isinstance(exc, ConnectionError):
        return Failure("connection", message)
    return Failure("other", _one_line(_body_message(exc) or message))
