"""Faults an OpenAI-compatible server can have, as responses for :class:`ReplayServer`.

    from fault_server import FAULTS, LIMITS, kb_fingerprint
    fault = FAULTS["stall_mid_stream"]
    with ReplayServer() as server:
        server.add(*fault.responses)
        llm = OpenAICompatLLM("vllm:openai/gpt-oss-20b", base_url=server.url, **LIMITS)
        ...                          # fault.outcome: "ok", "partial" or "error"

Each :class:`Fault` is the list of responses the server gives to the requests
one call makes (a fault, then the answer a retry would get), what ossrag must
make of it and how many requests it may send: ``ok`` (survived: the retry's
answer, complete), ``partial`` (what streamed is kept, marked incomplete, never
replayed: one request) or ``error`` (an :class:`~ossrag.errors.LLMError` whose
message matches ``words``). The timings fit :data:`LIMITS` (``timeout`` 1 s,
``max_time`` 3 s), so a fault costs seconds, never minutes.

:func:`kb_fingerprint` is the row count and a hash of every row of a
knowledge base: equal before and after a fault means the index was not touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANSWER",
    "FAULTS",
    "LIMITS",
    "REASONING",
    "Fault",
    "answer_stream",
    "chunk",
    "kb_fingerprint",
    "tool_call_stream",
]

#: The client limits the faults are timed for: seconds to the first byte/between bytes, per turn.
LIMITS: dict[str, Any] = {"timeout": 1.0, "max_time": 3.0, "backoff": 0.05}
ANSWER = ["Milvus Lite keeps", " its data in", " a local file", " [1]."]
REASONING = ["The passage", " says where", " data is stored."]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One vLLM-shaped ``chat.completion.chunk`` event."""
    return {
        "data": {
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "openai/gpt-oss-20b",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    }


def _usage() -> dict[str, Any]:
    return {
        "data": {
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "openai/gpt-oss-20b",
            "choices": [],
            "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140},
        }
    }


def _head() -> list[dict[str, Any]]:
    return [
        chunk({"role": "assistant", "content": ""}),
        *[chunk({"reasoning": r}) for r in REASONING],
    ]


def answer_stream(*, cut: int | None = None, then: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reasoning, then :data:`ANSWER` in deltas; ``cut``: only that many text deltas, then ``then``."""
    text = [chunk({"content": t}) for t in ANSWER[:cut]]
    if cut is not None:
        return {"status": 200, "sse": [*_head(), *text, *([then] if then else [])]}
    return {
        "status": 200,
        "sse": [*_head(), *text, chunk({}, "stop"), _usage(), {"data": "[DONE]"}],
    }


def tool_call_stream(
    name: Any, arguments: Any, *, call_id: str = "call_f1", function: Any = None
) -> dict[str, Any]:
    """A turn that calls one tool (``function`` replaces the whole function object: malformed)."""
    fn = function if function is not None else {"name": name, "arguments": arguments}
    call = {"index": 0, "id": call_id, "type": "function", "function": fn}
    return {
        "status": 200,
        "sse": [
            *_head(),
            chunk({"tool_calls": [call]}),
            chunk({}, "tool_calls"),
            _usage(),
            {"data": "[DONE]"},
        ],
    }


def _status(code: int, message: str, **headers: Any) -> dict[str, Any]:
    return {
        "status": code,
        "headers": {k.replace("_", "-"): v for k, v in headers.items()},
        "body": {"error": {"message": message, "type": "fault", "code": code}},
    }


@dataclass(frozen=True)
class Fault:
    """One fault: the responses served, the expected outcome, the requests allowed."""

    name: str
    what: str
    responses: tuple[dict[str, Any], ...]
    outcome: str  # ok | partial | error
    requests: int  # requests ossrag must make (retries included)
    words: str = ""  # a regex the error or the incomplete-answer reason must match
    error: str = ""  # the LLMError subclass name for outcome "error"
    max_s: float = 6.0  # the call must end within this (LIMITS make every fault short)


_RATE = _status(429, "Rate limit reached for requests", retry_after="0.2")
_BUSY = _status(500, "CUDA out of memory")
_REASONING_CHUNK = chunk({"reasoning": " and so on"})

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "slow_first_byte",
            "the first byte after 0.5 s (under the 1 s timeout)",
            ({**answer_stream(), "delay": 0.5},),
            "ok",
            1,
        ),
        Fault(
            "first_byte_too_late",
            "no byte for 2.5 s: over the 1 s timeout, not retried",
            ({**answer_stream(), "delay": 2.5},),
            "error",
            1,
            r"did not answer within 1 s",
            "LLMTimeoutError",
            max_s=2.5,
        ),
        Fault(
            "stall_mid_stream",
            "two text deltas, then silence for 4 s",
            (answer_stream(cut=2, then={"sleep": 4.0}),),
            "partial",
            1,
            r"broke off.*timed out",
            max_s=3.5,
        ),
        Fault(
            "rate_limited_then_ok",
            "429 with Retry-After 0.2 twice, then the answer",
            (_RATE, _RATE, answer_stream()),
            "ok",
            3,
        ),
        Fault(
            "rate_limited_for_good",
            "429 with Retry-After 0.2 on every attempt",
            (_RATE, _RATE, _RATE),
            "error",
            3,
            r"HTTP 429.*3 attempt.*0\.2 s",
            "LLMRateLimitError",
        ),
        Fault(
            "retry_after_an_hour",
            "429 asking to wait an hour: not waited for",
            (_status(429, "quota", retry_after="3600"),),
            "error",
            1,
            r"HTTP 429.*3600 s",
            "LLMRateLimitError",
            max_s=2.0,
        ),
        Fault(
            "server_error_then_ok", "HTTP 500, then the answer", (_BUSY, answer_stream()), "ok", 2
        ),
        Fault(
            "server_error_for_good",
            "HTTP 500 on every attempt",
            (_BUSY, _BUSY, _BUSY),
            "error",
            3,
            r"HTTP 500.*CUDA out of memory",
            "LLMResponseError",
        ),
        Fault(
            "malformed_json_first",
            "the first event is not JSON",
            ({"status": 200, "sse": [{"raw": 'data: {"choices": [{"delta": \n\n'}]},),
            "error",
            1,
            r"cannot read.*JSONDecodeError",
            "LLMResponseError",
        ),
        Fault(
            "malformed_json_midway",
            "two text deltas, then an event that is not JSON",
            (answer_stream(cut=2, then={"raw": "data: {oops\n\n"}),),
            "partial",
            1,
            r"broke off.*unreadable response",
        ),
        Fault(
            "wrong_shapes",
            "choices, deltas and tool calls of the wrong JSON types",
            (
                {
                    "status": 200,
                    "sse": [
                        {"data": {"choices": {"index": 0}}},
                        {"data": {"choices": ["x", 3]}},
                        chunk({"tool_calls": "search"}),
                        chunk({"tool_calls": [{"index": [0], "function": "f"}]}),
                        *answer_stream()["sse"],
                    ],
                },
            ),
            "ok",
            1,
        ),
        Fault(
            "reset_before_response",
            "the connection reset before any byte, then the answer",
            ({"reset": True}, answer_stream()),
            "ok",
            2,
        ),
        Fault(
            "reset_mid_stream",
            "two text deltas, then a TCP reset",
            (answer_stream(cut=2, then={"reset": True}),),
            "partial",
            1,
            r"broke off",
        ),
        Fault(
            "reset_for_good",
            "the connection reset before any byte, on every attempt",
            ({"reset": True},) * 3,
            "error",
            3,
            r"could not connect",
            "LLMConnectionError",
        ),
        Fault(
            "endless_reasoning",
            "reasoning deltas every 10 ms forever, whatever max_tokens says",
            ({"status": 200, "sse": [*_head(), {"repeat": _REASONING_CHUNK, "every": 0.01}]},),
            "partial",
            1,
            r"max_time|ignores the token budget",
            max_s=4.5,
        ),
        Fault(
            "endless_keepalive",
            "SSE comments every 50 ms forever, never an event",
            ({"status": 200, "sse": [{"repeat": {"comment": "PROCESSING"}, "every": 0.05}]},),
            "error",
            1,
            r"no end after 3 s",
            "LLMTimeoutError",
            max_s=4.5,
        ),
    )
}


def kb_fingerprint(kb: Any) -> tuple[int, str]:
    """(row count, sha256 of every row's id, source, heading and text): the index's state."""
    store, name = kb.store, kb.name
    store.flush(name)
    ids = sorted(i for _, ids in store.source_index(name).values() for i in ids)
    h = hashlib.sha256()
    for hit in sorted(store.get_chunks(name, ids), key=lambda x: x.id):
        h.update(json.dumps([hit.id, hit.source, hit.heading, hit.text]).encode())
    return store.count(name), h.hexdigest()
