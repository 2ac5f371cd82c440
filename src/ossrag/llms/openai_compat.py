"""One backend for every OpenAI-compatible server, through the real ``openai`` client.

    llm = OpenAICompatLLM("openrouter:openai/gpt-oss-120b")   # needs OPENROUTER_API_KEY
    llm = OpenAICompatLLM("ollama:gpt-oss:20b", timeout=120)
    llm = OpenAICompatLLM("gpt-oss-20b", base_url="http://gpu-box:8000/v1")
    for ev in llm.stream([{"role": "user", "content": "Hi"}], effort="high"):
        ...   # reasoning / text / tool_call events, then usage, then done
    done = llm.complete(messages, effort="low", max_tokens=2048)   # a Completion

What the provider preset (:mod:`.providers`) decides: the effort parameter,
sampling defaults, how earlier reasoning is sent back. What this module adds:

* reasoning read from every field of every delta, and ``<think>``/harmony
  split out of ``content`` (:mod:`.reasoning`), so it never reaches the answer;
* streamed ``tool_calls`` deltas gathered by index into ``tool_call`` events
  (both in :mod:`._openai_turn`, one response at a time);
* retries on 429/5xx/connection errors before anything was streamed, with
  exponential backoff that honours ``Retry-After`` (the client's own retries
  are off, and its 600 s timeout is replaced by ``timeout``, default 60 s,
  which bounds the wait for the first byte and every pause in a stream);
* a bound on the whole turn, retries and waits included: ``max_time``
  seconds (default 900; 0: none), and, when ``max_tokens`` is given, at most
  ``2 * max_tokens + 64`` streamed chunks, so a server that never stops (an
  endless reasoning stream, keep-alive comments forever, a budget it ignores)
  is cut off instead of holding the caller;
* a response that cannot be read (malformed JSON, an impossible shape) is an
  :class:`~ossrag.errors.LLMResponseError` before anything was streamed and a
  broken stream after;
* one retry without a parameter the server rejected (``stream_options``,
  the effort field, an o-series ``max_tokens``), recorded in :attr:`warnings`;
* errors mapped onto :mod:`ossrag.errors` with what was tried and how to fix it.

A stream that breaks after something was streamed (reset, stalled beyond
``timeout``, cut off by ``max_time``, unreadable) is not an exception and is
never retried, so a half-streamed answer is never replayed: the events that
arrived are followed by ``done`` with ``complete=False`` and
``finish_reason="error"`` (the reason is in :attr:`last_error`); the RAG
layer marks such an answer incomplete.

Every message's text is passed through :func:`ossrag.safety.neutralize_messages`
before it is sent, whatever built it (prompts, the agent's tool results, the
reranker, the judge, a client's history): a server's tokenizer would read
special-token strings in it as chat structure.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
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
    redact,
    register_secret,
)
from ..safety import neutralize_messages
from ..types import StreamEvent
from ._bounds import Bound as _Bound
from ._bounds import OutOfBounds as _OutOfBounds
from ._openai_turn import Turn, as_dict
from .base import Completion, Message, collect
from .providers import KEY_OVERRIDE_ENV, Provider, resolve

__all__ = ["OpenAICompatLLM"]

log = logging.getLogger("ossrag.llms")

try:  # openai < 2 lets httpx errors escape from stream iteration; newer versions wrap them
    import httpx

    _HTTPX_TRANSPORT: tuple[type[BaseException], ...] = (httpx.TransportError,)
except ImportError:  # pragma: no cover
    _HTTPX_TRANSPORT = ()

# What the request loop catches; errors.classify() reads what they mean.
_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, *_HTTPX_TRANSPORT)
# A response ossrag cannot read: malformed JSON in an event (json.JSONDecodeError), a body
# of the wrong shape (pydantic's ValidationError is a ValueError too).
_UNREADABLE: tuple[type[BaseException], ...] = (ValueError, TypeError)
_STANDARD = {
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
    "stream_options",
}
_EFFORT_KEYS = ("reasoning", "reasoning_effort", "chat_template_kwargs")
_EFFORT_REJECTED = re.compile(
    r"reasoning_effort|chat_template_kwargs|reasoning\.effort|[\"'`]reasoning[\"'`]", re.I
)
_HISTORY_REJECTED = re.compile(r"reasoning_content|reasoning_details|[\"'`]thinking[\"'`]", re.I)
_MODEL_NOT_FOUND = re.compile(
    r"model.{0,80}(not found|does not exist|not exist|no such|not available|unknown)"
    r"|not a valid model|unknown model|model_not_found|no model",
    re.I | re.S,
)

_CAUGHT: tuple[type[BaseException], ...] = (*_ERRORS, *_UNREADABLE, _OutOfBounds)
# Templates that open <think> in the prompt, so the output only closes it.
_PRE_OPENED = re.compile(r"qwen3.*thinking|qwq|r1-distill", re.I)


class OpenAICompatLLM:
    """The :class:`~ossrag.llms.base.LLM` protocol over any OpenAI-compatible server.

    ``streaming=False`` sends non-streamed requests (still yielding the same
    events); ``think_pre_opened`` says the template opens ``<think>`` itself
    (None: guessed from the model id). A missing API key raises
    :class:`~ossrag.errors.LLMAuthError` here, before any request.
    """

    def __init__(
        self,
        model_string: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        streaming: bool = True,
        think_pre_opened: bool | None = None,
        backoff: float = 0.5,
        max_retry_wait: float = 60.0,
        max_time: float | None = 900.0,
    ) -> None:
        self.model = model_string
        self.provider: Provider
        self.provider, self.model_id = resolve(model_string, base_url)
        self.base_url = self.provider.resolve_base_url(base_url)
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.streaming = streaming
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        #: Seconds one turn may take in all (retries and waits included); None or 0: no bound.
        self.max_time = float(max_time) if max_time else None
        self.pre_opened = (
            bool(_PRE_OPENED.search(self.model_id))
            if think_pre_opened is None
            else think_pre_opened
        )
        self.supports_reasoning = self.provider.supports_reasoning
        self.supports_tools = self.provider.supports_tools
        self.supports_json_schema = self.provider.supports_json_schema
        #: Everything ossrag changed or could not honour, once each (shown to the user).
        self.warnings: list[str] = []
        #: The effort requested and the fields it was sent as, for the last request.
        self.last_request: dict[str, Any] = {}
        #: Why the last stream ended incomplete, if it did.
        self.last_error: str | None = None
        key = self.provider.api_key(api_key)  # raises before any request when missing
        register_secret(key)  # an explicit key too: never in a message (errors.redact)
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=key,
            timeout=self.timeout,
            max_retries=0,  # retries are ours: Retry-After, and never after tokens were streamed
            default_headers=dict(self.provider.default_headers) or None,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatLLM({self.model!r}, base_url={self.base_url!r})"

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning("%s", message)

    # -- the protocol

    def stream(
        self,
        messages: list[Message],
        *,
        effort: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        top_p: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream one assistant turn. Bad options raise here; server errors on iteration."""
        body, notes = self.provider.build_body(
            self.model_id,
            effort=effort,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            tools=tools,
            response_format=response_format,
        )
        for note in notes:
            self._warn(note)
        if self.streaming:
            body["stream_options"] = {"include_usage": True}
        self.last_request = {
            "effort": effort,
            "sent_as": {k: body[k] for k in _EFFORT_KEYS if k in body},
            "notes": notes,
        }
        prepared = self.provider.prepare_messages(neutralize_messages(messages))
        return self._run(prepared, body, max_tokens)

    def complete(self, messages: list[Message], **kwargs: Any) -> Completion:
        """Run :meth:`stream` to the end and gather it."""
        return collect(self.stream(messages, **kwargs))

    # -- internals

    def _create(self, messages: list[Message], body: dict[str, Any]) -> Any:
        kwargs = {k: v for k, v in body.items() if k in _STANDARD}
        extra = {k: v for k, v in body.items() if k not in _STANDARD}
        return self._client.chat.completions.create(
            model=self.model_id,
            messages=messages,  # type: ignore[arg-type]
            stream=self.streaming,
            extra_body=extra or None,
            **kwargs,
        )

    def _run(
        self, messages: list[Message], body: dict[str, Any], max_tokens: int | None
    ) -> Iterator[StreamEvent]:
        attempt = 0
        adapted: set[str] = set()
        self.last_error = None
        bound = _Bound(self.max_time, max_tokens)
        while True:
            turn = Turn(self.pre_opened)
            yielded = False
            response: Any = None
            watchdog: Any = None  # a threading.Timer while the response is open
            try:
                response = self._create(messages, body)
                watchdog = bound.watch(response)
                if self.streaming:
                    for chunk in response:
                        bound.check(chunk)
                        for ev in turn.on_chunk(as_dict(chunk)):
                            yielded = True
                            yield ev
                else:
                    for ev in turn.on_response(as_dict(response)):
                        yielded = True
                        yield ev
            except _CAUGHT as exc:
                if bound.expired is not None and not isinstance(exc, _OutOfBounds):
                    exc = _OutOfBounds(bound.expired)  # the watchdog closed the response
                final = isinstance(exc, (_OutOfBounds, *_UNREADABLE))  # never retried as sent
                if not yielded and not final:
                    change = self._adapt(exc, messages, body, adapted)
                    if change:
                        self._warn(change)
                        continue
                    delay = self._retry_delay(exc, attempt, bound)
                    if delay is not None:
                        log.info(
                            "retrying %s in %.2fs after: %s",
                            self.base_url,
                            delay,
                            classify(exc).message,
                        )
                        time.sleep(delay)
                        attempt += 1
                        continue
                if not turn.received or (not yielded and final):
                    mapped = self._map_error(exc, attempts=attempt)
                    # The client's own exception may quote the key (a provider echoing it):
                    # then it is left out of the chain a traceback would print.
                    raise mapped from (None if redact(str(exc)) != str(exc) else exc)
                # Broke off midway: what arrived is kept and marked incomplete, never replayed.
                reason = f"the stream from {self.base_url} broke off: {self._why(exc)}"
                log.warning("%s", reason)
                yield from turn.finish(error=reason)
                self.last_error = turn.error
                return
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                if response is not None and hasattr(response, "close"):
                    response.close()
            events = turn.finish()
            self.last_error = turn.error
            if turn.splitter.stray_close:
                self._warn(
                    f"{self.model_id} closed a </think> it never opened, so its reasoning was "
                    "streamed as answer text; pass think_pre_opened=True for this model"
                )
            yield from events
            return

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, _OutOfBounds):
            return exc.reason
        if isinstance(exc, _UNREADABLE):
            return f"unreadable response ({type(exc).__name__}: {classify(exc).message})"
        return classify(exc).message

    def _adapt(
        self, exc: BaseException, messages: list[Message], body: dict[str, Any], adapted: set[str]
    ) -> str | None:
        """Change the request after a 400 that names something optional we sent; None: give up."""
        if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
            return None
        msg = classify(exc).message
        info = exc.body if isinstance(exc.body, dict) else {}
        param = str(info.get("param") or "")
        if "stream_options" in body and "stream_options" in msg and "stream_options" not in adapted:
            adapted.add("stream_options")
            del body["stream_options"]
            return f"{self.provider.label} rejected stream_options; token usage may be missing"
        if param == "max_tokens" and "max_tokens" in body and "max_tokens" not in adapted:
            adapted.add("max_tokens")
            body["max_completion_tokens"] = body.pop("max_tokens")
            return f"{self.model_id} wants max_completion_tokens instead of max_tokens"
        if param in ("temperature", "top_p", "stop") and param in body and param not in adapted:
            adapted.add(param)
            del body[param]
            return f"{self.model_id} does not accept {param}; sent without it"
        sent = [k for k in _EFFORT_KEYS if k in body]
        if (
            sent
            and "effort" not in adapted
            and (param in _EFFORT_KEYS or _EFFORT_REJECTED.search(msg))
        ):
            adapted.add("effort")
            for k in sent:
                del body[k]
            self.last_request["sent_as"] = {}  # what the answer was actually produced with
            return (
                f"{self.provider.label} rejected the reasoning effort ({msg}); "
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
                return f"{self.provider.label} rejects earlier reasoning in the history; sent without it"
        return None

    def _retry_delay(self, exc: BaseException, attempt: int, bound: _Bound) -> float | None:
        """Seconds to wait before retrying ``exc``, or None when it must not be retried."""
        failure = classify(exc)
        if attempt >= self.max_retries or failure.kind == "timeout":
            return None  # a timeout retried would multiply the wait the user asked to cap
        if not failure.retryable:
            return None  # a refusal, or an error event inside the stream: the server meant it
        if failure.retry_after is not None:
            delay = failure.retry_after if failure.retry_after <= self.max_retry_wait else None
        else:
            delay = min(self.backoff * (2**attempt), 8.0) * random.uniform(0.8, 1.2)
        # A wait that would end past max_time is not worth starting: say so now.
        return delay if delay is not None and bound.allows(delay) else None

    def _map_error(self, exc: BaseException, *, attempts: int) -> LLMError:
        where = f"{self.provider.label} at {self.base_url}"
        if isinstance(exc, _OutOfBounds):
            return LLMTimeoutError(
                f"{where} streamed nothing usable for model {self.model_id}: {exc.reason}",
                hint="raise --max-time (OSSRAG_MAX_TIME) or --max-tokens, or check the server",
            )
        if isinstance(exc, _UNREADABLE):
            return LLMResponseError(
                f"{where} sent a response ossrag cannot read for model {self.model_id} "
                f"({type(exc).__name__}: {classify(exc).message})",
                hint="not an OpenAI-compatible response: check the base URL (it should end in "
                "/v1) and the server's logs",
            )
        failure = classify(exc)
        msg, code = failure.message, failure.status
        if failure.kind == "timeout":
            return LLMTimeoutError(
                f"{where} did not answer within {self.timeout:g} s (model {self.model_id})",
                hint="raise the timeout (--timeout, OSSRAG_TIMEOUT) or lower --effort; a large "
                "model on a CPU can take minutes before its first token",
            )
        if failure.kind == "connection":
            return LLMConnectionError(
                f"could not connect to {where} ({msg})", hint=self._start_hint()
            )
        if code is None:
            return LLMResponseError(f"{where} reported an error for {self.model_id}: {msg}")
        if failure.kind == "auth":
            env = self.provider.key_env or KEY_OVERRIDE_ENV
            return LLMAuthError(
                f"{where} rejected the API key (HTTP {code}): {msg}",
                hint=f"check {env}"
                + (f" (or {KEY_OVERRIDE_ENV})" if env != KEY_OVERRIDE_ENV else ""),
            )
        if failure.kind == "not_found" or _MODEL_NOT_FOUND.search(msg):
            hint = self.provider.model_hint.format(model=self.model_id, base_url=self.base_url)
            if code == 404 and "model" not in msg.lower():
                hint = f"check that the base URL ends in /v1; {hint}"
            return ModelNotFoundError(
                f"model {self.model_id!r} not found at {self.base_url} (HTTP {code}): {msg}",
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
            f"{where} answered HTTP {code} for model {self.model_id}: {msg}",
            hint="a server-side problem; try again later"
            if code >= 500
            else "the server refused the request as sent; see its message",
        )

    def _start_hint(self) -> str:
        if self.provider.local:
            return f"{self.provider.start_hint}, or pass --base-url if it listens elsewhere"
        return self.provider.start_hint
