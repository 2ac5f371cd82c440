"""Read pymilvus and Milvus Lite failures, for :class:`~ossrag.stores.milvus.MilvusStore`.

Private to the store, which turns these readings into ossrag errors with hints::

    from ossrag.stores.milvus._errors import is_connection_error, reason

    try:
        client.search(...)
    except Exception as exc:
        why = reason(exc)                         # one line, no caret echo
        if is_connection_error(exc, why.lower()):
            raise StoreError(f"cannot connect to Milvus: {why}") from exc

Each check accepts a match on the exception's ``code`` (where pymilvus sets
one) or on words in its message.
"""

from __future__ import annotations

import logging
import os

__all__ = [
    "is_connection_error",
    "lite_failure",
    "looks_like_filter_error",
    "quiet_pymilvus",
    "reason",
]


def reason(exc: BaseException) -> str:
    """The server's message on one line, without the indented expression/caret echo."""
    msg = str(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and not ln[:1].isspace()]
    return "; ".join(lines) or msg.strip()


def is_connection_error(exc: BaseException, low: str) -> bool:
    """True when ``exc`` (with ``low``, its lower-cased reason) says the server is unreachable."""
    code = getattr(exc, "code", None)
    return code == 2 or any(
        s in low
        for s in (
            "fail connecting",
            "server unavailable",
            "connection refused",
            "deadline exceeded",
            "failed to connect",
            "unavailable",
        )
    )


def looks_like_filter_error(exc: BaseException, low: str) -> bool:
    """True when ``exc`` (with ``low``, its lower-cased reason) blames the filter expression."""
    code = getattr(exc, "code", None)
    return code in (6, 1100) or any(
        s in low
        for s in ("expression", "query plan", "parse", "unknown field", "not exist", "unexpected")
    )


def lite_failure(path: str, exc: BaseException) -> str:
    """Why Milvus Lite could not open ``path``: pymilvus only says "Open local milvus
    failed" (the cause is logged by milvus_lite), so open it directly to see the error."""
    try:
        from milvus_lite import MilvusLite

        MilvusLite(path).close()
    except Exception as inner:
        return reason(inner)
    return reason(exc)


def quiet_pymilvus() -> None:
    """pymilvus logs every failed RPC with a traceback (and configures its logger on
    import, hence after the import); ossrag raises its own error with a hint instead."""
    if not os.environ.get("OSSRAG_DEBUG"):
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
        # Milvus Lite's in-process gRPC server logs calls it does not implement
        # (pymilvus' query iterator probes AllocTimestamp, then falls back).
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
