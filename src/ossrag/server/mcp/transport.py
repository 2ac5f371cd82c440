"""The two ways to reach the MCP server: stdio (``ossrag mcp``) and Streamable HTTP at
``/mcp`` inside ``ossrag serve``.

    run_stdio(Settings.load())                 # blocks; the protocol on stdin/stdout
    app.include_router(router(state))          # in create_app: POST/GET/DELETE /mcp

Stdio: stdout carries protocol bytes only. The SDK points file descriptor 1 at
stderr while it serves (the protocol goes through a private duplicate), and
everything that could write — Milvus Lite's server process, llama.cpp, the
embedders — starts after that, inside the session's lifespan; log handlers
that were writing to stdout are moved to stderr first. Stdio serves no URL,
so it leaves no ``<db>.server.json`` marker: a CLI locked out of the file is
told the pid and command of ``ossrag mcp`` instead.

HTTP: the session manager runs inside the FastAPI app's lifespan (the
router's lifespan is merged into it), after the store is opened and before it
is closed. The :class:`~ossrag.server.security.Guard` middleware already
checks the bearer key and ``Origin`` on ``/mcp``; the SDK's own DNS-rebinding
check (``Host`` and ``Origin``) is kept on loopback as a second line.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...config import Settings
from ...errors import OssragError
from ..config import ServerConfig, is_loopback
from ..state import ServerState
from .render import Budget
from .server import build_server

__all__ = ["PATH", "router", "run_stdio"]

#: Where ``ossrag serve`` answers MCP.
PATH = "/mcp"

log = logging.getLogger("ossrag")


def _logs_to_stderr() -> None:
    """No log handler writes to stdout; ossrag's warnings reach stderr (the client's log)."""
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ossrag mcp: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False


def run_stdio(settings: Settings, *, budget: Budget | None = None) -> None:
    """Serve MCP over stdin/stdout until the client closes stdin (``ossrag mcp``)."""
    _logs_to_stderr()
    state = ServerState(settings, ServerConfig())  # connects lazily: nothing runs yet

    def warm_up() -> None:
        try:
            state.store.list_kbs()  # starts Milvus Lite now rather than at the first call
        except OssragError as exc:
            log.warning("%s (each tool call will say so until it is fixed)", exc)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        # Entered inside the SDK's stdio_server(): fd 1 already points at stderr.
        warming = threading.Thread(target=warm_up, name="ossrag-mcp-warm-up", daemon=True)
        warming.start()
        try:
            yield {}
        finally:
            warming.join(timeout=30)
            state.close()

    build_server(state, budget=budget, lifespan=lifespan).run("stdio")


def _security(config: ServerConfig) -> TransportSecuritySettings:
    """The SDK's Host/Origin check: on loopback the local names only, plus the public URL."""
    if not is_loopback(config.host):
        # Any Host may be right behind a proxy; the key (required here) and Guard's Origin
        # check protect the endpoint.
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = ["127.0.0.1", "localhost", "[::1]"]
    hosts = names + [f"{n}:*" for n in names]
    if config.public_url:
        hosts.append(urlsplit(config.public_url).netloc)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=sorted(config.allowed_origins),
    )


class _Endpoint:
    """The ASGI endpoint at ``/mcp``: every method goes to the session manager."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


def router(state: ServerState, *, budget: Budget | None = None) -> APIRouter:
    """``/mcp`` (Streamable HTTP) for ``create_app``, sharing the app's :class:`ServerState`."""
    config = state.config
    server = build_server(state, budget=budget, base_url=config.base_url)
    # Builds the session manager; the Starlette app it returns is not used (its lifespan
    # would never run once mounted): the route and the lifespan below replace it.
    server.streamable_http_app(
        streamable_http_path=PATH,
        transport_security=_security(config),
        max_request_body_size=config.max_body_bytes,
        host=config.host,
    )
    manager = server.session_manager
    mcp_router = APIRouter(lifespan=lambda app: manager.run())
    mcp_router.routes.append(
        Route(
            PATH,
            endpoint=_Endpoint(manager),
            methods=["GET", "POST", "DELETE"],
            include_in_schema=False,
        )
    )
    return mcp_router
