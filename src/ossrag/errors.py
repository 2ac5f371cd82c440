"""One exception tree for ossrag; every message says what to do next.

Every error raised on purpose by ossrag derives from :class:`OssragError`, so
callers can catch one type::

    try:
        kb.search("...")
    except OssragError as exc:
        print(exc)          # the message, then "hint: ..." when there is one

The CLI prints ``str(exc)`` as one line and exits with ``exc.exit_code``; a
traceback is shown only with ``OSSRAG_DEBUG=1``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EmbedderError",
    "EmbedderMismatchError",
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
]


class OssragError(Exception):
    """Base of every ossrag error. ``hint`` tells the user how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

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
    """HTTP 429 after the retries ran out."""


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
