"""``ossrag serve --watch DIR``: the default knowledge base follows a folder, under a real server.

A real uvicorn on 127.0.0.1, Milvus Lite, the default embedder and the real file
system: the initial sync makes the knowledge base busy then ready, and a file
created, edited and deleted in the folder shows up in (and leaves) ``/v1/search``
and the chunks of the KB. Every wait is bounded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures_server import running_server
from ossrag.config import Settings

HTTP = httpx.Client(timeout=60)


def _ready(base: str) -> dict[str, Any]:
    return HTTP.get(f"{base}/readyz").json()  # type: ignore[no-any-return]


def _wait_round(base: str, n: int, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch = _ready(base)["watch"]
        assert watch["error"] is None, watch["error"]
        if watch["rounds"] > n:
            return watch  # type: ignore[no-any-return]
        time.sleep(0.3)
    pytest.fail(f"no watch round {n} within {timeout} s: {_ready(base)}")


def _sources(base: str, query: str) -> list[str]:
    reply = HTTP.post(f"{base}/v1/search", json={"query": query, "kb": "notes", "k": 5})
    assert reply.status_code == 200, reply.text
    return [h["source"] for h in reply.json()["hits"]]


def test_the_default_kb_follows_the_watched_folder(tmp_path: Path) -> None:
    from ossrag.server import ServerConfig

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "backup.md").write_text(
        "# Backups\n\nThe backup runs every night at two.\n", encoding="utf-8"
    )
    settings = Settings.load({"uri": str(tmp_path / "kb.db"), "kb": "notes"})
    with running_server(settings, ServerConfig(watch=[str(folder)])) as base:
        watch = _wait_round(base, 0)
        assert watch["folders"] == [str(folder)] and watch["kb"] == "notes"
        assert "added 1" in watch["last"]["summary"]
        assert _ready(base)["ingesting"] == []  # the initial sync is over: it answers
        assert _sources(base, "when does the backup run") == ["backup.md"]

        (folder / "keys.md").write_text(
            "# Keys\n\nSigning keys are rotated every spring.\n", encoding="utf-8"
        )
        watch = _wait_round(base, 1)
        assert watch["last"]["changed"] and "added 1" in watch["last"]["summary"]
        assert "keys.md" in _sources(base, "how often are signing keys rotated")

        (folder / "keys.md").write_text(
            "# Keys\n\nSigning keys are rotated every autumn.\n", encoding="utf-8"
        )
        watch = _wait_round(base, 2)
        assert "updated 1" in watch["last"]["summary"]
        reply = HTTP.post(
            f"{base}/v1/search", json={"query": "signing keys rotated", "kb": "notes", "k": 5}
        ).json()
        (hit,) = [h for h in reply["hits"] if h["source"] == "keys.md"]  # one version only
        assert "autumn" in hit["text"] and "spring" not in hit["text"]

        (folder / "keys.md").unlink()
        watch = _wait_round(base, 3)
        assert "removed 1" in watch["last"]["summary"]
        assert "keys.md" not in _sources(base, "how often are signing keys rotated")
