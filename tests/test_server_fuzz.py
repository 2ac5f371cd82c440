"""The HTTP API under schemathesis: a real uvicorn on loopback, its own OpenAPI document,
every phase (examples, coverage, fuzzing, stateful), a few examples per operation.

What the run checks (``tests/schemathesis_hooks.py``, ``tests/data/schemathesis.toml``):
no 5xx except the documented 503 of a knowledge base being ingested, every response
(JSON and each server-sent event) valid against the schema the document declares for
its status, schema-invalid requests refused with 4xx, and schema-valid ones refused
only for a rule the schema cannot state (named in the error's ``code``). The same run
against the server as it was before these checks existed found 10 distinct failures
(undocumented 400s and 404s, schema-valid requests refused, FastAPI's 422 declared
but never sent); the longer run is ``bench/server_fuzz.py``.

The answering model is the recorded gpt-oss-20b stream (vLLM), replayed on loopback
for every request; retrieval is real (the default embedder, Milvus Lite). The other
tests here pin what the fuzzer found, each through the real server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures_server import running_server
from replay_server import ReplayServer
from server_kb import KB, build_kb, gpt_oss_stream

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis", reason="pip install schemathesis (the 'dev' extra)")
from ossrag import KnowledgeBase
from ossrag.retrieval.filters import build_filter
from ossrag.server import ServerConfig

pytestmark = pytest.mark.timeout(300)
HTTP = httpx.Client(timeout=60)
TESTS = Path(__file__).parent
CONFIG = TESTS / "data" / "schemathesis.toml"
REPLAYED = "vllm:openai/gpt-oss-20b"


class _Endless(list):  # type: ignore[type-arg]
    """A replay queue that always has the gpt-oss stream next (the fuzzer asks a lot)."""

    def __bool__(self) -> bool:
        return True

    def pop(self, index: Any = -1) -> Any:
        return gpt_oss_stream()["response"]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[_Errors]:
    """ERROR records of the ``ossrag`` loggers while the module runs (a job's crash, ...)."""
    handler = _Errors()
    logger = logging.getLogger("ossrag")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def _server(tmp: Path) -> Iterator[str]:
    with ReplayServer() as replay:
        replay.queue = _Endless()
        # The fuzzer names URLs; nothing here is reachable, so fail them fast.
        settings = build_kb(
            tmp, base_url=replay.url, model=REPLAYED, timeout=10, url_timeout=2, url_total_timeout=4
        )
        with running_server(settings, ServerConfig(max_concurrent_per_client=16)) as url:
            yield url


@pytest.fixture()
def fuzzed(tmp_path_factory: pytest.TempPathFactory, errors: _Errors) -> Iterator[str]:
    """A server of its own: the fuzzer deletes knowledge bases, the other tests need one."""
    with _server(tmp_path_factory.mktemp("fuzz")) as url:
        yield url


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _server(tmp_path_factory.mktemp("pinned")) as url:
        yield url


def schemathesis(base: str, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` on the server's own document, with ossrag's checks."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base}/openapi.json",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *args,
    ]
    # In the test's directory: schemathesis keeps its example database in ./.schemathesis.
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=280, env=env, cwd=report.parent
    )


def test_schemathesis_finds_nothing(fuzzed: str, errors: _Errors, tmp_path: Path) -> None:
    run = schemathesis(
        fuzzed,
        tmp_path / "junit.xml",
        "--max-examples",
        "3",
        "--seed",
        "1",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        "45",
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "11 selected / 11 total" in out, out[-3000:]
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert 'failures="0"' in junit and 'errors="0"' in junit, junit[:2000]
    # What the fuzzer's requests made the server log as errors (a job that crashed, a
    # stream that failed): none.
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_the_document_is_the_server_s(base: str) -> None:
    spec = HTTP.get(f"{base}/openapi.json").json()
    ops = [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]
    assert len(ops) == 11
    for path, method, op in ops:
        codes = set(op["responses"])
        assert "422" not in codes, (path, method)  # validation errors are 400 here
        guard = {"403"} if path == "/healthz" else {"403", "429"}  # /healthz is not counted
        assert guard <= codes, (path, method)
        ok = next(c for c in codes if c.startswith("2"))
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (path, method, schema)  # a declared shape, not "any object"
    assert "HTTPValidationError" not in json.dumps(spec)
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    example = chat["requestBody"]["content"]["application/json"]["examples"]["question"]
    assert example["value"]["model"] == KB  # this server's own knowledge base
    bad = HTTP.post(f"{base}/v1/search", json={"query": "x", "k": "3"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "k"  # no coercion


def test_a_chunk_id_with_line_breaks_is_not_found(base: str) -> None:
    """The fuzzer's id ``a\\nb...`` ended Milvus's string literal: a 503 for a lookup."""
    missing = HTTP.get(f"{base}/v1/kbs/{KB}/chunks/a%0Ab%0Dc%22%5C")
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["code"] == "chunk_not_found"


def test_one_name_uploaded_twice_is_one_file(base: str) -> None:
    """Two parts with the same file name made the job fail with an internal error."""
    posted = HTTP.post(
        f"{base}/v1/ingest",
        data={"kb": "twice"},
        files=[
            ("files", ("same.md", b"# Old\n\nThe first copy.\n")),
            ("files", ("same.md", b"# New\n\nThe second copy wins.\n")),
        ],
    )
    assert posted.status_code == 202 and posted.json()["files_total"] == 1
    job = posted.json()
    for _ in range(600):
        job = HTTP.get(f"{base}/v1/jobs/{job['id']}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done" and not job["errors"], job
    hits = HTTP.post(f"{base}/v1/search", json={"query": "copy", "kb": "twice"}).json()["hits"]
    assert [h["text"] for h in hits] == ["The second copy wins."]


def test_line_breaks_and_accents_in_filters(
    store_target: Any, kb_name: str, tmp_path: Path
) -> None:
    """Milvus literals: a source with a line break (a legal file name) is updated and
    deleted like any other, and a metadata value with an accent is found (``json.dumps``
    wrote it as ``\\u00e9``, an escape Milvus does not know: a FilterError)."""
    from ossrag.config import Settings

    folder = tmp_path / "docs"
    folder.mkdir()
    odd = folder / "line\nbreak.md"
    odd.write_text("# Odd\n\nA file whose name holds a line break.\n", encoding="utf-8")
    (folder / "plain.md").write_text("# Plain\n\nAn ordinary file.\n", encoding="utf-8")
    settings = Settings.load({"uri": store_target.uri, "kb": kb_name}, env={})
    kb = KnowledgeBase(settings=settings, store=store_target)
    assert kb.ingest(str(folder), metadata={"team": "équipe"}).added == 2
    odd.write_text("# Odd\n\nThe same file, edited.\n", encoding="utf-8")
    again = kb.ingest(str(folder), metadata={"team": "équipe"})
    assert (again.updated, again.unchanged) == (1, 1), again.summary()
    hits = kb.search("file", k=5, filter=build_filter(meta={"team": "équipe"}))
    assert {h.source for h in hits} == {"line\nbreak.md", "plain.md"}
    assert "edited" in next(h.text for h in hits if h.source == "line\nbreak.md")
    odd.unlink()
    assert kb.ingest(str(folder)).removed == 1
    assert {h.source for h in kb.search("file", k=5)} == {"plain.md"}
