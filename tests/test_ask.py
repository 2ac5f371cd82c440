"""Answering end to end: retrieval from real Milvus Lite, then a real LLM call.

Hosted providers are replayed by a loopback server (tests/replay_server.py)
through the real ``openai`` client; the bundled SmolLM2 runs for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _corpus import MILVUS_DOCS, needs_milvus_docs
from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag import KnowledgeBase, LLMConnectionError
from ossrag.answering.prompts import build_messages, extract_citations
from ossrag.types import Hit
from replay_server import ReplayServer

FAQ = MILVUS_DOCS / "en" / "faq"

DOC = """# Storage

## Where data lives

Inserted data is stored in object storage such as MinIO or S3; metadata lives in etcd.

## Backups

Backups run nightly with the milvus-backup tool.
"""


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "data": {
            "id": "gen-1",
            "object": "chat.completion.chunk",
            "created": 1754602341,
            "model": "openai/gpt-oss-120b",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    }


def openrouter_stream(
    reasoning: list[str],
    content: list[str],
    *,
    finish: str = "stop",
    completion_tokens: int = 40,
    reasoning_tokens: int = 25,
    drop: bool = False,
) -> dict[str, Any]:
    """An OpenRouter-shaped stream: reasoning deltas, content deltas, usage with cost."""
    events: list[dict[str, Any]] = [{"comment": "OPENROUTER PROCESSING"}]
    events += [
        chunk(
            {
                "role": "assistant",
                "content": "",
                "reasoning": r,
                "reasoning_details": [{"type": "reasoning.text", "text": r, "index": 0}],
            }
        )
        for r in reasoning
    ]
    events += [chunk({"content": c}) for c in content]
    if drop:
        return {"status": 200, "sse": [*events, {"drop": True}]}
    events.append(chunk({}, finish))
    events.append(
        {
            "data": {
                "id": "gen-1",
                "object": "chat.completion.chunk",
                "created": 1754602341,
                "model": "openai/gpt-oss-120b",
                "choices": [],
                "usage": {
                    "prompt_tokens": 300,
                    "completion_tokens": completion_tokens,
                    "total_tokens": 300 + completion_tokens,
                    "cost": 0.00012,
                    "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
                },
            }
        }
    )
    events.append({"data": "[DONE]"})
    return {"status": 200, "sse": events}


@pytest.fixture()
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "storage.md").write_text(DOC)
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="t") as kb:
        kb.ingest(str(tmp_path / "docs"))
        yield kb


def test_reasoning_split_citations_and_usage(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(
            openrouter_stream(
                ["The user asks where data ", "is stored. Passage 1 says object storage."],
                ["Data is stored in object storage", " such as MinIO or S3 [1]. See also [7]."],
            )
        )
        answer = kb.ask(
            "Where is data stored?",
            model="openrouter:openai/gpt-oss-120b",
            effort="high",
            base_url=server.url,
            search={"k": 2, "mode": "dense"},
        )
        body = server.requests[0].body
    assert body["reasoning"] == {"effort": "high"}
    assert body["temperature"] == 1.0 and body["top_p"] == 1.0  # gpt-oss defaults
    assert body["stream"] is True
    user = body["messages"][-1]["content"]
    assert "[1] (storage.md — Storage > Where data lives)" in user
    assert answer.text == "Data is stored in object storage such as MinIO or S3 [1]. See also [7]."
    assert answer.reasoning == "The user asks where data is stored. Passage 1 says object storage."
    assert "user asks" not in answer.text
    valid = [c for c in answer.citations if c.valid]
    assert [(c.n, c.source, c.heading) for c in valid] == [
        (1, "storage.md", "Storage > Where data lives")
    ]
    assert [c.n for c in answer.citations if not c.valid] == [7]
    assert answer.usage.reasoning_tokens == 25 and answer.usage.cost == pytest.approx(0.00012)
    t = answer.timings
    assert t["retrieve_s"] is not None and 0 < t["retrieve_s"] <= t["first_token_s"] <= t["total_s"]
    data = answer.to_dict()
    assert set(data) == {
        "question",
        "answer",
        "reasoning",
        "citations",
        "hits",
        "model",
        "effort",
        "usage",
        "timings",
    }
    assert data["usage"] == {"prompt_tokens": 300, "completion_tokens": 40, "reasoning_tokens": 25}


def test_reasoning_that_eats_the_budget_is_retried_once(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(
            openrouter_stream(["Thinking hard"] * 3, [], finish="length", completion_tokens=64)
        )
        server.add(openrouter_stream(["Short thought."], ["Object storage [1]."]))
        answer = kb.ask(
            "Where is data stored?",
            model="openrouter:openai/gpt-oss-120b",
            max_tokens=64,
            base_url=server.url,
        )
        budgets = [r.body["max_tokens"] for r in server.requests]
    assert budgets[0] == 64 and budgets[1] > 64
    assert answer.text == "Object storage [1]."
    assert any("whole token budget" in w for w in answer.warnings)


def test_broken_stream_marks_answer_incomplete(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(openrouter_stream([], ["Data is stored in", " object"], drop=True))
        answer = kb.ask(
            "Where is data stored?", model="openrouter:openai/gpt-oss-120b", base_url=server.url
        )
    assert not answer.complete
    assert answer.text.startswith("Data is stored in")
    assert any("incomplete" in w for w in answer.warnings)


def test_failed_llm_call_leaves_index_untouched(kb: KnowledgeBase) -> None:
    before = kb.store.source_index(kb.name)
    with pytest.raises(LLMConnectionError, match=r"127\.0\.0\.1:9"):
        kb.ask(
            "Where is data stored?",
            model="vllm:openai/gpt-oss-20b",
            base_url="http://127.0.0.1:9/v1",
        )
    assert kb.store.source_index(kb.name) == before


def test_history_drops_reasoning() -> None:
    hits = [Hit(id="a", score=1.0, text="x", source="s.md", heading="H")]
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1 [1]", "reasoning": "secret thoughts"},
    ]
    msgs = build_messages("q2", hits, history=history)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert all("reasoning" not in m for m in msgs)
    assert msgs[2]["content"] == "a1 [1]"
    tutorial = build_messages("q2", hits, template="tutorial")
    assert "<context>\nx\n</context>" in tutorial[1]["content"]


def test_extract_citations_forms() -> None:
    hits = [Hit(id=str(i), score=1.0, text="t", source=f"{i}.md") for i in range(1, 4)]
    cites = extract_citations("A [2]. B [1, 3]. C [2][9]. Not a cite: [x].", hits)
    assert [(c.n, c.valid) for c in cites] == [(2, True), (1, True), (3, True), (9, False)]


def _cli(
    *args: str, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_show_reasoning_goes_to_stderr(kb: KnowledgeBase, tmp_path: Path) -> None:
    db = kb.settings.uri
    kb.close()  # Milvus Lite: one process per database file
    with ReplayServer() as server:
        server.add(openrouter_stream(["SECRET-THOUGHT about passages."], ["Object storage [1]."]))
        server.add(openrouter_stream(["SECRET-THOUGHT again."], ["Object storage [1]."]))
        env = {"OPENROUTER_API_KEY": "k"}
        args = (
            "--db",
            db,
            "--kb",
            "t",
            "ask",
            "Where is data stored?",
            "-m",
            "openrouter:openai/gpt-oss-120b",
            "--base-url",
            server.url,
        )
        shown = _cli(*args, "--show-reasoning", cwd=tmp_path, env=env)
        hidden = _cli(*args, cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "SECRET-THOUGHT" in shown.stderr and "SECRET-THOUGHT" not in shown.stdout
    assert shown.stdout.startswith("Object storage [1].")
    assert "[1] storage.md" in shown.stdout
    assert "SECRET-THOUGHT" not in hidden.stdout + hidden.stderr


def test_cli_chat_sends_history_without_reasoning(kb: KnowledgeBase, tmp_path: Path) -> None:
    db = kb.settings.uri
    kb.close()
    with ReplayServer() as server:
        server.add(openrouter_stream(["first thoughts"], ["Object storage [1]."]))
        server.add(openrouter_stream(["second thoughts"], ["Nightly [1]."]))
        proc = _cli(
            "--db",
            db,
            "--kb",
            "t",
            "chat",
            "-m",
            "openrouter:openai/gpt-oss-120b",
            "--base-url",
            server.url,
            cwd=tmp_path,
            env={"OPENROUTER_API_KEY": "k"},
            stdin="Where is data stored?\nAnd backups?\n",
        )
        second = server.requests[1].body["messages"]
    assert proc.returncode == 0, proc.stderr
    assert "Object storage [1]." in proc.stdout and "Nightly [1]." in proc.stdout
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert (
        second[1]["content"] == "Where is data stored?"
        and second[2]["content"] == "Object storage [1]."
    )
    assert not any("reasoning" in m for m in second)


def test_cli_missing_key_names_the_variable(tmp_path: Path) -> None:
    proc = _cli("ask", "hi", "-m", "openrouter:openai/gpt-oss-120b", cwd=tmp_path, env={})
    assert proc.returncode != 0 and "OPENROUTER_API_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.llm
@pytest.mark.usefixtures("smollm2_path")
@needs_milvus_docs
def test_ask_json_on_faq_with_local_model(tmp_path: Path) -> None:
    db = str(tmp_path / "faq.db")
    assert _cli("--db", db, "ingest", str(FAQ), cwd=tmp_path, env={}).returncode == 0
    proc = _cli(
        "--db",
        db,
        "ask",
        "How is data stored in milvus?",
        "--json",
        "--max-tokens",
        "48",
        cwd=tmp_path,
        env={},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {
        "question",
        "answer",
        "reasoning",
        "citations",
        "hits",
        "model",
        "effort",
        "usage",
        "timings",
    }
    assert data["model"] == "local:smollm2" and data["effort"] == "medium"
    assert data["answer"].strip()
    assert len(data["hits"]) == 3 and "Where does Milvus store data?" in data["hits"][0]["heading"]
    assert 0 < data["usage"]["completion_tokens"] <= 48 and data["usage"]["prompt_tokens"] > 100
    t = data["timings"]
    assert 0 < t["retrieve_s"] <= t["first_token_s"] <= t["total_s"]
    assert 0 < t["search_s"] <= t["retrieve_s"] and "rerank_s" not in t  # reranking is off
    for c in data["citations"]:
        assert set(c) == {"n", "id", "source", "heading"}
