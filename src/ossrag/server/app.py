"""The FastAPI application behind ``ossrag serve``: one thin front end on the library.

    from ossrag.server import ServerConfig, create_app
    app = create_app(Settings.load(), ServerConfig())      # uvicorn.run(app, host=..., port=...)

Routes live in one module each (``health``, ``chat``, ``responses``, ``kbs``,
``search``, ``ingestion``, ``mcp``, ``page``); this module wires them to one :class:`ServerState`, the
error handlers (OpenAI-style error objects) and the :class:`Guard` middleware
(Origin, key, body size, per-client concurrency). The OpenAPI document is at
``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from .._version import __version__
from ..config import Settings
from . import chat, health, ingestion, kbs, mcp, page, responses, search
from .config import ServerConfig
from .errors import install_handlers
from .openapi import truthful_openapi
from .security import Guard
from .state import ServerState
from .watch import FolderWatch

__all__ = ["create_app"]


def create_app(
    settings: Settings, config: ServerConfig, state: ServerState | None = None
) -> FastAPI:
    """The app for ``settings`` (the Milvus target, models) and ``config`` (how it serves)."""
    config.check()
    state = state or ServerState(settings, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.open()
        if config.watch:
            state.watch = FolderWatch(state, config.watch)
            state.watch.start()
        try:
            yield
        finally:
            if state.watch is not None:
                state.watch.stop()
            state.close()

    app = FastAPI(
        title="ossrag",
        version=__version__,
        lifespan=lifespan,
        description="Your documents behind OpenAI-compatible Chat Completions and "
        "Responses APIs, with sources on every answer.",
    )
    app.state.ossrag = state
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(chat.router)
    app.include_router(responses.router)
    # The knowledge-base routes, in the order the OpenAPI document lists them.
    app.include_router(kbs.router)
    app.include_router(search.router)
    app.include_router(ingestion.router)
    app.include_router(mcp.router(state))  # /mcp; its session manager runs in this lifespan
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Guard, config=config)  # outermost: runs before CORS and the routes

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = truthful_openapi(
                spec, api_key=bool(config.api_key), kb=settings.kb
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
