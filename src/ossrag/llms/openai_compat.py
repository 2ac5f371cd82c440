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
    LLMError,
    classify,
    redact,
    register_secret,
)
from ..safety import neutralize_messages
from ..types import StreamEvent
from ._bounds import Bound as _Bound
from ._bounds import OutOfBounds as _OutOfBounds
from ._openai_failures import CAUGHT, EFFORT_KEYS, UNREADABLE, adapt, map_error, why
from ._openai_turn import Turn, as_dict
from .base import Completion, Message, collect
from .providers import Provider, resolve

__all__ = ["OpenAICompatLLM"]

log = logging.getLogger("ossrag.llms")

# Body fields the client takes as keywords; everything else goes in extra_body.
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
            "sent_as": {k: body[k] for k in EFFORT_KEYS if k in body},
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
            except CAUGHT as exc:
                if bound.expired is not None and not isinstance(exc, _OutOfBounds):
                    exc = _OutOfBounds(bound.expired)  # the watchdog closed the response
                final = isinstance(exc, (_OutOfBounds, *UNREADABLE))  # never retried as sent
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
                reason = f"the stream from {self.base_url} broke off: {why(exc)}"
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

    def _adapt(
        self, exc: BaseException, messages: list[Message], body: dict[str, Any], adapted: set[str]
    ) -> str | None:
        """The request changed after a 400 naming something optional (see :func:`adapt`)."""
        return adapt(
            exc,
            messages,
            body,
            adapted,
            provider=self.provider,
            model_id=self.model_id,
            last_request=self.last_request,
        )

    def _map_error(self, exc: BaseException, *, attempts: int) -> LLMError:
        return map_error(
            exc,
            provider=self.provider,
            base_url=self.base_url,
            model_id=self.model_id,
            timeout=self.timeout,
            attempts=attempts,
        )

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
