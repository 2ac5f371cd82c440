"""A small real knowledge base for the server tests, and a replayed gpt-oss answer.

    settings = build_kb(tmp_path, base_url=replay.url)   # Milvus Lite file, 3 docs, the default embedder
    with running_server(settings) as base: ...
    replay.add(gpt_oss_stream())                         # vLLM's gpt-oss-20b: reasoning, then [2]

The knowledge base is ingested before the server starts and its store is
closed, so the server can own the Milvus Lite file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ossrag import KnowledgeBase
from ossrag.config import Settings
from replay_server import load_recording

__all__ = ["DOCS", "GPT_OSS", "KB", "broken_stream", "build_kb", "gpt_oss_stream", "sse_events"]

KB = "docs"
GPT_OSS = f"{KB}@vllm:openai/gpt-oss-20b"  # answered by the replay server (Settings.base_url)

DOCS = {
    "lite.md": "# Milvus Lite\n\nMilvus Lite is the lightweight Milvus that ships inside the "
    "pymilvus package. It keeps its data in a local file such as milvus_demo.db.\n\n"
    "## Limits\n\nOnly one process may open a Milvus Lite file at a time.\n",
    "storage.md": "# Storage\n\nA Milvus cluster stores its data in object storage such as MinIO "
    "or Amazon S3, and its metadata in etcd.\n",
    "backup.md": "# Backup\n\nUse milvus-backup to copy collections to another bucket. Backups "
    "run while the cluster keeps serving queries.\n",
}


def build_kb(
    tmp: Path,
    *,
    base_url: str | None = None,
    timeout: float = 30.0,
    docs: dict[str, str] | None = None,
    **extra: Any,
) -> Settings:
    """Write ``docs`` under ``tmp/docs``, ingest them into KB ``docs`` of ``tmp/kb.db``.

    ``extra`` are more settings, e.g. ``allow_url_networks="127.0.0.1"`` for a
    server that ingests pages from a loopback test server.
    """
    folder = tmp / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (docs or DOCS).items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = Settings.load(
        {
            "uri": str(tmp / "kb.db"),
            "kb": KB,
            "base_url": base_url,
            "timeout": timeout,
            "model": "local:smollm2",
            **extra,
        },
        env={},
    )
    with KnowledgeBase(settings=settings) as kb:
        report = kb.ingest(str(folder))
        assert report.added == len(docs or DOCS), report.summary()
    return settings


def gpt_oss_stream() -> dict[str, Any]:
    """vLLM's gpt-oss-20b streaming reasoning then an answer citing [2] (tests/data/providers)."""
    return copy.deepcopy(load_recording("vllm", "stream"))


def broken_stream(keep: int = 8) -> dict[str, Any]:
    """The same stream, dropped by the server after ``keep`` events (no finish_reason)."""
    rec = gpt_oss_stream()
    events = rec["response"]["sse"]
    text_at = next(
        i
        for i, e in enumerate(events)
        if isinstance(e.get("data"), dict)
        and e["data"]["choices"]
        and e["data"]["choices"][0]["delta"].get("content")
    )
    rec["response"]["sse"] = [*events[: max(keep, text_at + 2)], {"drop": True}]
    return rec


def sse_events(body: str) -> list[Any]:
    """The ``data:`` payloads of an SSE body (``[DONE]`` as the string)."""
    out: list[Any] = []
    for line in body.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out
