"""``ossrag serve``: the knowledge bases behind OpenAI-compatible APIs, MCP and a web page.

    from ossrag.config import Settings
    from ossrag.server import ServerConfig, create_app

    app = create_app(Settings.load(), ServerConfig(port=8000))

The server is a front end like ``cli/``: it imports the library and nothing
imports it.
"""

from __future__ import annotations

from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
