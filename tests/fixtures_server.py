"""A real ``ossrag serve`` app under a real uvicorn on 127.0.0.1, in this process.

    from fixtures_server import running_server

    with running_server(settings, ServerConfig(api_key="k")) as base:   # "http://127.0.0.1:PORT"
        httpx.get(f"{base}/healthz")

The server runs on its own thread with its own event loop and stops (lifespan
shutdown included) when the block ends. Same-process on purpose: tests can
look at the server's state, and Milvus Lite's file lock stays with one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ossrag.config import Settings

__all__ = ["free_port", "running_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    settings: Settings, config: object = None, *, timeout: float = 60.0
) -> Iterator[str]:
    """Start ``create_app(settings, config)`` on a free port; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    from ossrag.server import ServerConfig, create_app

    cfg = config if isinstance(config, ServerConfig) else ServerConfig()
    cfg = dataclasses.replace(cfg, host="127.0.0.1", port=free_port())
    app = create_app(settings, cfg)
    server = uvicorn.Server(
        uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="ossrag-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{cfg.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
