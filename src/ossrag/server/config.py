"""What ``ossrag serve`` is allowed to do: address, key, limits, CORS, reasoning fields.

    config = ServerConfig(host="127.0.0.1", port=8000)          # no key needed on loopback
    config = ServerConfig(host="0.0.0.0", api_key="s3cret")      # anywhere else: a key, always
    config.check()                                               # ConfigError when unsafe

The key comes from ``OSSRAG_API_KEY`` (:meth:`ServerConfig.from_env`); a server
that listens beyond loopback without one refuses to start.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["ServerConfig", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """Settings of one server process; see the module docstring."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    #: Also emit ``reasoning_content`` (Open WebUI, LM Studio-era clients, the AI SDK read it).
    reasoning_content: bool = False
    #: Origins allowed by CORS; empty: CORS off (same-origin only).
    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 1_000_000  # JSON request bodies
    max_upload_bytes: int = 100_000_000  # one ingest upload, all files together
    #: Requests one client may have running at once; more get 429 + Retry-After.
    max_concurrent_per_client: int = 4
    #: Public base URL for citation links (default: http://HOST:PORT).
    public_url: str | None = None
    #: Answering models a client may name in ``KB@provider:model`` (shell-style patterns).
    #: None: any on loopback; beyond loopback only the server's own model, since a client
    #: naming a hosted model spends the server's credits.
    allowed_models: list[str] | None = None
    #: Folders the default knowledge base follows (``--watch``; server/watch.py).
    watch: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, **overrides: object) -> ServerConfig:
        """A config with ``api_key`` from ``OSSRAG_API_KEY`` unless given."""
        values = {k: v for k, v in overrides.items() if v is not None}
        values.setdefault("api_key", os.environ.get("OSSRAG_API_KEY") or None)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def allowed_origins(self) -> set[str]:
        """Origins whose browser requests are accepted: this server's own, and CORS's."""
        own = {f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")}
        if not is_loopback(self.host):
            own.add(self.base_url)
        if self.public_url:
            own.add(self.public_url.rstrip("/"))
        return own | set(self.cors_origins)

    def model_allowed(self, model: str, server_model: str) -> bool:
        """May a client ask for ``model``? (The server's own ``server_model`` always.)"""
        if model == server_model:
            return True
        patterns = self.allowed_models
        if patterns is None:
            return is_loopback(self.host)
        return any(fnmatch.fnmatchcase(model, p) for p in patterns)

    def check(self) -> None:
        """Refuse what would be unsafe to run (:class:`ConfigError` with the fix)."""
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(
                f"refusing to listen on {self.host} without an API key",
                hint="set OSSRAG_API_KEY to a secret that clients send as a bearer token, "
                "or listen on 127.0.0.1 only (the default)",
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"invalid port {self.port}", hint="e.g. --port 8000")
        if "*" in self.cors_origins and self.api_key is None:
            raise ConfigError(
                "CORS for every origin needs an API key",
                hint="set OSSRAG_API_KEY, or list the origins you trust",
            )
