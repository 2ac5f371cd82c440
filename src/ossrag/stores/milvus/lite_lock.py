"""Who holds a Milvus Lite database file, and how to reach its knowledge bases instead.

Milvus Lite allows one process per database directory (it holds an exclusive
``flock`` on ``<db>/LOCK``). ``ossrag serve`` announces itself next to the file
it holds (``<db>.server.json``: its pid and URL), so another ossrag process that
finds the file locked can say where to go::

    marker_path("./ossrag.db")         # Path('/abs/ossrag.db.server.json')
    holder = lock_holder("/abs/ossrag.db")
    holder.describe()                  # 'ossrag serve (pid 4242) at http://127.0.0.1:8000'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Holder", "lock_holder", "marker_path"]


def marker_path(uri: str) -> Path | None:
    """Where a server using the Milvus Lite file ``uri`` announces itself (None for servers)."""
    if "://" in uri and not uri.startswith("file://"):
        return None
    path = Path(uri.removeprefix("file://")).expanduser().resolve()
    return path.with_name(path.name + ".server.json")


@dataclass
class Holder:
    """The process holding the lock, as far as it can be told."""

    pid: int | None = None
    command: str = ""
    server_url: str | None = None  # set when it is an ossrag server

    def describe(self) -> str:
        if self.server_url:
            return f"ossrag serve (pid {self.pid}) at {self.server_url}"
        if self.pid is not None:
            return f"pid {self.pid}" + (f": {self.command}" if self.command else "")
        return "an unknown process"


def _pid_holding(lock_file: Path) -> int | None:
    """The pid holding a flock on ``lock_file``, from /proc/locks (Linux only)."""
    try:
        inode = lock_file.stat().st_ino
        rows = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for row in rows:
        parts = row.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            return int(parts[4]) if parts[4].isdigit() else None
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(raw.decode(errors="replace").split("\0")).strip()[:160]


def lock_holder(path: str) -> Holder:
    """Who holds the Milvus Lite database directory ``path``."""
    pid = _pid_holding(Path(path) / "LOCK")
    marker = marker_path(path)
    if marker is not None and marker.is_file():
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        mpid = info.get("pid")
        alive = isinstance(mpid, int) and (pid is None or pid == mpid) and _alive(mpid)
        if alive:
            return Holder(pid=mpid, command=_command(mpid), server_url=info.get("url"))
    return Holder(pid=pid, command=_command(pid) if pid else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
