"""Opening a Milvus client, and sharing Milvus Lite's per-directory file lock inside one process.

Private to :class:`~ossrag.stores.milvus.MilvusStore`::

    path = open_lite(uri) if is_local(uri) else None     # checked, one more user
    try:
        client, version = connect(path or uri, token, timeout, lite=path is not None)
    except Exception as exc:
        if path:
            release_lite(path)               # before open_error looks at the lock
        raise open_error(uri, path, exc) from exc
    ...
    release_lite(path)                       # the last user releases the directory

Milvus Lite runs in-process, one server per database directory, and holds an
exclusive ``flock`` on ``<db>/LOCK``.  Several stores in one process may use the
same directory; they are counted so that only the last ``release_lite`` stops the
server and frees the lock.  Another process holding it is told apart from a
broken database (:func:`lite_in_use`, :func:`~ossrag.stores.milvus.lite_lock.lock_holder`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ...errors import ConfigError, StoreError
from ._errors import lite_failure, quiet_pymilvus, reason
from .lite_lock import lock_holder

__all__ = [
    "CONNECT_HINT",
    "connect",
    "is_local",
    "lite_in_use",
    "open_error",
    "open_lite",
    "release_lite",
]

CONNECT_HINT = "is the server running? For a local file use --db ./ossrag.db"

# Stores using each Milvus Lite directory in this process (resolved path -> count).
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def is_local(uri: str) -> bool:
    """True for a Milvus Lite path (``./x.db``, ``file://...``, ``C:\\...``), False for a server URL."""
    scheme = urlparse(uri).scheme.lower()
    return uri.endswith(".db") or scheme in ("", "file") or len(scheme) == 1  # C:\ paths


def open_lite(uri: str) -> str:
    """Check a Milvus Lite path, create its parent, count one more user; the resolved path.

    Raises :class:`ConfigError` for a path not ending in ``.db`` and
    :class:`StoreError` for a plain file (an older milvus-lite format) or an
    unwritable parent.
    """
    path = Path(uri[7:] if uri.startswith("file://") else uri).expanduser()
    if path.suffix != ".db":
        raise ConfigError(
            f"a local Milvus Lite database path must end with .db: {uri}",
            hint="e.g. --db ./ossrag.db, or --uri http://HOST:19530 for a server",
        )
    if path.is_file():
        raise StoreError(
            f"{path} is a file, not a Milvus Lite 3 database directory "
            "(an older milvus-lite format?)",
            hint="use another path, e.g. --db ./ossrag3.db, and ingest again",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the directory of {path}: {exc}",
            hint="choose a writable --db path, e.g. --db ./ossrag.db",
        ) from exc
    resolved = str(path.resolve())
    with _LITE_LOCK:
        _LITE_USERS[resolved] = _LITE_USERS.get(resolved, 0) + 1
    return resolved


def release_lite(path: str) -> None:
    """One user fewer of ``path``; the last one stops its in-process Milvus Lite server."""
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 1) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    with contextlib.suppress(Exception):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def lite_in_use(path: str) -> bool:
    """True when another process holds Milvus Lite's lock on ``path``."""
    try:
        import fcntl
    except ImportError:  # Windows: Milvus Lite locks differently there
        return False
    lock = os.path.join(path, "LOCK")
    if not os.path.exists(lock):
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def connect(uri: str, token: str | None, timeout: float, *, lite: bool) -> tuple[Any, str]:
    """A ``MilvusClient`` for ``uri`` (a resolved Lite path when ``lite``) and the server version.

    Raises what pymilvus raises; :func:`open_error` turns that into a :class:`StoreError`.
    """
    from pymilvus import MilvusClient

    quiet_pymilvus()
    # Milvus Lite is an in-process server on loopback: pymilvus' 10 s keepalive
    # pings only make it answer GOAWAY "too_many_pings" (logged to stderr).
    extra = (
        {
            "grpc_options": {
                "grpc.keepalive_time_ms": 3_600_000,
                "grpc.keepalive_permit_without_calls": 0,
            }
        }
        if lite
        else {}
    )
    client = MilvusClient(uri=uri, token=token or "", timeout=timeout, **extra)
    version = client.get_server_version(timeout=timeout)
    return client, str(version)


def open_error(uri: str, lite_path: str | None, exc: Exception) -> StoreError:
    """Why connecting to ``uri`` failed, with a hint: the Lite file is held elsewhere, broken, or the server is away."""
    if lite_path is None:
        return StoreError(f"cannot connect to Milvus at {uri}: {reason(exc)}", hint=CONNECT_HINT)
    if lite_in_use(lite_path):
        holder = lock_holder(lite_path)
        if holder.server_url:
            hint = (
                f"reach its knowledge bases through that server ({holder.server_url}"
                "/v1/search, /v1/chat/completions, its MCP endpoint /mcp or the "
                "page at /), or stop it first"
            )
        else:
            hint = (
                "Milvus Lite allows one process per database: stop the other "
                "process first, or use a Milvus server with --uri"
            )
        return StoreError(
            f"database file {lite_path} is in use by another ossrag/Milvus "
            f"Lite process ({holder.describe()})",
            hint=hint,
        )
    return StoreError(
        f"cannot open the Milvus Lite database {lite_path}: {lite_failure(lite_path, exc)}",
        hint="check that the path is a writable directory created by Milvus Lite "
        "3, or use a new --db path",
    )
