"""What a failed OpenAI-compatible request means: change it and try again, or the error to raise.

Private to :class:`~ossrag.llms.openai_compat.OpenAICompatLLM`::

    try:
        ...                                   # one request
    except CAUGHT as exc:
        change = adapt(exc, messages, body, adapted, provider=p, model_id=m, last_request=r)
        if change:                            # sent again without what the server rejected
            ...
        raise map_error(exc, provider=p, base_url=url, model_id=m, timeout=60, attempts=0)

:func:`adapt` drops one optional field a server answered 400 to (``stream_options``,
an o-series ``max_tokens``, ``temperature``/``top_p``/``stop``, the effort fields,
reasoning sent back in the history), each at most once; :func:`map_error` reads
:func:`ossrag.errors.classify` and says what was tried and how to fix it;
:func:`why` is the one-line reason for a stream that broke off midway.
"""

from __future__ import annotations

import re
from typing import Any

import openai

from ..errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    ModelNotFoundError,
    classify,
)
from ._bounds import OutOfBounds as _OutOfBounds
from .base import Message
from .providers import KEY_OVERRIDE_ENV, Provider

__all__ = ["CAUGHT", "EFFORT_KEYS", "UNREADABLE", "adapt", "map_error", "why"]

try:  # openai < 2 lets httpx errors escape from stream iteration; newer versions wrap them
    import httpx

    _HTTPX_TRANSPORT: tuple[type[BaseException], ...] = (httpx.TransportError,)
except ImportError:  # pragma: no cover
    _HTTPX_TRANSPORT = ()

# What the request loop catches; errors.classify() reads what they mean.
_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, *_HTTPX_TRANSPORT)

# A response ossrag cannot read: malformed JSON in an event (json.JSONDecodeError), a body
# of the wrong shape (pydantic's ValidationError is a ValueError too).
UNREADABLE: tuple[type[BaseException], ...] = (ValueError, TypeError)

# The body fields a reasoning effort may be sent as (the provider preset picks which).
EFFORT_KEYS = ("reasoning", "reasoning_effort", "chat_template_kwargs")

_EFFORT_REJECTED = re.compile(
    r"reasoning_effort|chat_template_kwargs|reasoning\.effort|[\"'`]reasoning[\"'`]", re.I
)

_HISTORY_REJECTED = re.compile(r"reasoning_content|reasoning_details|[\"'`]thinking[\"'`]", re.I)

_MODEL_NOT_FOUND = re.compile(
    r"model.{0,80}(not found|does not exist|not exist|no such|not available|unknown)"
    r"|not a valid model|unknown model|model_not_found|no model",
    re.I | re.S,
)

CAUGHT: tuple[type[BaseException], ...] = (*_ERRORS, *UNREADABLE, _OutOfBounds)


def why(exc: BaseException) -> str:
    """Why a stream broke off, in one line (for ``last_error``)."""
    if isinstance(exc, _OutOfBounds):
        return exc.reason
    if isinstance(exc, UNREADABLE):
        return f"unreadable response ({type(exc).__name__}: {classify(exc).message})"
    return classify(exc).message


def adapt(
    exc: BaseException,
    messages: list[Message],
    body: dict[str, Any],
    adapted: set[str],
    *,
    provider: Provider,
    model_id: str,
    last_request: dict[str, Any],
) -> str | None:
    """Change the request after a 400 that names something optional we sent; None: give up.

    ``adapted`` holds what was already changed (each once); the returned line is the warning.
    """
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return None
    msg = classify(exc).message
    info = exc.body if isinstance(exc.body, dict) else {}
    param = str(info.get("param") or "")
    if "stream_options" in body and "stream_options" in msg and "stream_options" not in adapted:
        adapted.add("stream_options")
        del body["stream_options"]
        return f"{provider.label} rejected stream_options; token usage may be missing"
    if param == "max_tokens" and "max_tokens" in body and "max_tokens" not in adapted:
        adapted.add("max_tokens")
        body["max_completion_tokens"] = body.pop("max_tokens")
        return f"{model_id} wants max_completion_tokens instead of max_tokens"
    if param in ("temperature", "top_p", "stop") and param in body and param not in adapted:
        adapted.add(param)
        del body[param]
        return f"{model_id} does not accept {param}; sent without it"
    sent = [k for k in EFFORT_KEYS if k in body]
    if sent and "effort" not in adapted and (param in EFFORT_KEYS or _EFFORT_REJECTED.search(msg)):
        adapted.add("effort")
        for k in sent:
            del body[k]
        last_request["sent_as"] = {}  # what the answer was actually produced with
        return (
            f"{provider.label} rejected the reasoning effort ({msg}); "
            "answering at the server's default effort"
        )
    if "history" not in adapted and _HISTORY_REJECTED.search(msg):
        stripped = False
        for m in messages:
            for k in ("reasoning", "reasoning_content", "reasoning_details", "thinking"):
                if m.get("role") == "assistant" and k in m:
                    del m[k]
                    stripped = True
        if stripped:
            adapted.add("history")
            return f"{provider.label} rejects earlier reasoning in the history; sent without it"
    return None


def map_error(
    exc: BaseException,
    *,
    provider: Provider,
    base_url: str,
    model_id: str,
    timeout: float,
    attempts: int,
) -> LLMError:
    """``exc`` as an :mod:`ossrag.errors` error that says what was tried and how to fix it."""
    where = f"{provider.label} at {base_url}"
    if isinstance(exc, _OutOfBounds):
        return LLMTimeoutError(
            f"{where} streamed nothing usable for model {model_id}: {exc.reason}",
            hint="raise --max-time (OSSRAG_MAX_TIME) or --max-tokens, or check the server",
        )
    if isinstance(exc, UNREADABLE):
        return LLMResponseError(
            f"{where} sent a response ossrag cannot read for model {model_id} "
            f"({type(exc).__name__}: {classify(exc).message})",
            hint="not an OpenAI-compatible response: check the base URL (it should end in "
            "/v1) and the server's logs",
        )
    failure = classify(exc)
    msg, code = failure.message, failure.status
    if failure.kind == "timeout":
        return LLMTimeoutError(
            f"{where} did not answer within {timeout:g} s (model {model_id})",
            hint="raise the timeout (--timeout, OSSRAG_TIMEOUT) or lower --effort; a large "
            "model on a CPU can take minutes before its first token",
        )
    if failure.kind == "connection":
        return LLMConnectionError(
            f"could not connect to {where} ({msg})", hint=_start_hint(provider)
        )
    if code is None:
        return LLMResponseError(f"{where} reported an error for {model_id}: {msg}")
    if failure.kind == "auth":
        env = provider.key_env or KEY_OVERRIDE_ENV
        return LLMAuthError(
            f"{where} rejected the API key (HTTP {code}): {msg}",
            hint=f"check {env}" + (f" (or {KEY_OVERRIDE_ENV})" if env != KEY_OVERRIDE_ENV else ""),
        )
    if failure.kind == "not_found" or _MODEL_NOT_FOUND.search(msg):
        hint = provider.model_hint.format(model=model_id, base_url=base_url)
        if code == 404 and "model" not in msg.lower():
            hint = f"check that the base URL ends in /v1; {hint}"
        return ModelNotFoundError(
            f"model {model_id!r} not found at {base_url} (HTTP {code}): {msg}",
            hint=hint,
        )
    if failure.kind == "rate_limit":
        wait = failure.retry_after
        after = f"; the server asks to wait {wait:g} s" if wait is not None else ""
        return LLMRateLimitError(
            f"{where} is rate-limiting requests (HTTP 429) after {attempts + 1} attempt(s){after}: {msg}",
            hint="wait and try again, or use another provider or a local server",
            retry_after=wait,
        )
    return LLMResponseError(
        f"{where} answered HTTP {code} for model {model_id}: {msg}",
        hint="a server-side problem; try again later"
        if code >= 500
        else "the server refused the request as sent; see its message",
    )


def _start_hint(provider: Provider) -> str:
    if provider.local:
        return f"{provider.start_hint}, or pass --base-url if it listens elsewhere"
    return provider.start_hint
