"""Who may call the server, from where, how much, and how often (ASGI middleware).

    app.add_middleware(Guard, config=config)

One pure-ASGI middleware, so that it also covers streamed responses and the
mounted MCP app, in this order:

1. ``Origin``: a browser request from an origin that is not this server's own
   (or a configured CORS origin) is refused with 403 — the MCP spec's rule, and
   what stops a web page from driving a server on 127.0.0.1.
2. The bearer key (``OSSRAG_API_KEY``), compared in constant time; ``/healthz``
   and the page's static files are open.
3. Body size: ``Content-Length`` over the limit is refused with 413 before the
   body is read; a chunked body is counted as it arrives.
4. Concurrency: each client (by key, else address) may have
   ``max_concurrent_per_client`` requests in flight, streams included; more get
   429 with ``Retry-After``. The page's own files are not counted (a browser
   fetches them six at a time).
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import ServerConfig
from .errors import error_body

__all__ = [
    "OPEN_PATHS",
    "UPLOAD_PATHS",
    "Guard",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths anyone may read without the key: liveness and the page's own files.
OPEN_PATHS = ("/healthz", "/", "/favicon.ico")
_OPEN_PREFIXES = ("/static/",)
UPLOAD_PATHS = ("/v1/ingest",)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(_OPEN_PREFIXES)


class _TooLarge(Exception):
    pass


async def _reply(
    send: Send,
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(error_body(message, type=type)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app, self.config = app, config
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("path", "")
        origin = headers.get("origin")
        if origin and origin.rstrip("/") not in self.config.allowed_origins:
            await _reply(send, 403, f"origin {origin} is not allowed", type="permission_error")
            return
        # A CORS preflight never carries credentials (browsers send none); CORSMiddleware
        # answers it without reaching a route, and the real request still needs the key.
        preflight = scope.get("method") == "OPTIONS" and "access-control-request-method" in headers
        if not preflight and not self._authorised(path, headers):
            await _reply(
                send,
                401,
                "missing or wrong API key: send 'Authorization: Bearer <OSSRAG_API_KEY>'",
                type="authentication_error",
                headers={"WWW-Authenticate": "Bearer"},
            )
            return
        limit = self.config.max_upload_bytes if path in UPLOAD_PATHS else self.config.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _reply(send, 413, f"request body of {length} bytes is over the limit of {limit}")
            return
        # The page and its files are small, static, and loaded in parallel: not counted.
        counted = not _is_open(path)
        client = self._client(scope, headers)
        if counted and not self._enter(client):
            await _reply(
                send,
                429,
                "too many requests in flight from this client",
                type="rate_limit_error",
                headers={"Retry-After": "1"},
            )
            return
        try:
            await self.app(scope, _counting(receive, limit), send)
        except _TooLarge:
            await _reply(send, 413, f"request body is over the limit of {limit} bytes")
        finally:
            if counted:
                self._leave(client)

    def _authorised(self, path: str, headers: dict[str, str]) -> bool:
        key = self.config.api_key
        if not key or _is_open(path):
            return True
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), key.encode()
        )

    def _client(self, scope: Scope, headers: dict[str, str]) -> str:
        auth = headers.get("authorization")
        if auth:
            return "key:" + auth[-12:]  # a key's tail tells clients apart without keeping it
        host = (scope.get("client") or ("?", 0))[0]
        return f"addr:{host}"

    def _enter(self, client: str) -> bool:
        with self._lock:
            n = self._in_flight.get(client, 0)
            if n >= self.config.max_concurrent_per_client:
                return False
            self._in_flight[client] = n + 1
            return True

    def _leave(self, client: str) -> None:
        with self._lock:
            n = self._in_flight.get(client, 1) - 1
            if n <= 0:
                self._in_flight.pop(client, None)
            else:
                self._in_flight[client] = n


def _counting(receive: Receive, limit: int) -> Receive:
    """A ``receive`` that raises once more than ``limit`` body bytes arrived."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message

    return wrapped
