"""``ossrag compare`` end to end: real Milvus Lite, real models, real HTTP, real SQLite.

* Two local configurations answer the same questions: the bundled SmolLM2
  in-process (``local:smollm2``) and the same model behind
  ``python -m llama_cpp.server`` (``llamacpp:``), then the ``tutorial`` template.
* A run killed midway (SIGKILL, in a subprocess) is resumed without
  answering anything twice.
* Recorded provider responses (gpt-oss via OpenRouter with ``usage.cost``,
  vLLM with reasoning tokens, o4-mini with reasoning tokens but no reasoning
  text, DeepSeek R1 with ``reasoning_content``) and a judge's verdict are
  replayed by loopback servers and read through the real ``openai`` client.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures_llm import llama_server, smollm2_path  # noqa: F401  (fixtures)
from ossrag import KnowledgeBase
from ossrag.errors import ConfigError
from ossrag.evaluation.compare import parse_efforts, run_compare
from ossrag.evaluation.metrics import is_relevant
from ossrag.evaluation.pricing import DEFAULT_PRICES, PriceTable, load_prices
from ossrag.evaluation.runs import RunStore
from ossrag.evaluation.scoring import JUDGE_PROMPT
from ossrag.llms import make_llm
from ossrag.types import Usage
from replay_server import ReplayServer, load_recording

DOCS = Path(__file__).resolve().parents[1] / "docs"
DATA = Path(__file__).parent / "data" / "compare"
KB_FILES = ("models.md", "milvus.md", "configuration.md")

QUESTIONS: list[dict[str, Any]] = [
    {
        "question": "Which environment variable holds the OpenRouter API key?",
        "reference": "OPENROUTER_API_KEY",
        "relevant": ["models.md", "configuration.md"],
    },
    {
        "question": "What does ossrag do when the Milvus server has no BM25 full-text search?",
        "reference": "It falls back to dense search and prints a one-line warning.",
        "relevant": ["milvus.md"],
    },
    {"question": "How much does an ossrag enterprise licence cost per seat?", "answerable": False},
]


def build_kb(path: Path) -> None:
    """A tiny knowledge base from three of the project's own docs pages."""
    kb = KnowledgeBase(uri=str(path), name="t")
    try:
        report = kb.ingest(*(str(DOCS / f) for f in KB_FILES))
        assert getattr(report, "errors", None) in (None, [], 0)
    finally:
        kb.close()


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare_kb") / "kb.db"
    build_kb(path)
    return path


@pytest.fixture(scope="module")
def kb(kb_path: Path):
    kb = KnowledgeBase(uri=str(kb_path), name="t")
    yield kb
    kb.close()


def db_rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Read the runs database directly, as an auditor would (not through RunStore)."""
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# -- real local models -------------------------------------------------------------------------
def local_llm() -> Any:
    """The bundled SmolLM2 in-process, on one thread: llama.cpp's spinning worker threads
    collapse when the two cores are shared with other tests, one thread does not."""
    return make_llm("local:smollm2", n_threads=1, n_ctx=2048)


SEARCH = {"k": 1}  # one passage keeps the prompts (and the CPU time) small


@pytest.mark.isolated
@pytest.mark.llm
def test_two_local_configurations_same_passages_tokens_add_up(kb, tmp_path, llama_server):  # noqa: F811
    db = tmp_path / "runs.db"
    # The server fixture runs one request at a time on one thread: no concurrency for it.
    server_llm = make_llm("llamacpp:smollm2", base_url=llama_server, timeout=180)
    summary = run_compare(
        kb,
        QUESTIONS,
        models=[local_llm(), server_llm],
        efforts=None,
        db_path=db,
        max_tokens=32,
        concurrency=1,
        search_kwargs=SEARCH,
        progress=False,
    )
    assert summary.planned == 6 and summary.answered == 6 and summary.skipped == 0
    rows = db_rows(db, "SELECT * FROM answers WHERE run_id = ?", summary.run_id)
    assert len(rows) == 6
    assert {r["model"] for r in rows} == {"local:smollm2", "llamacpp:smollm2"}
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows]

    # Retrieval ran once per question; both models got exactly the same prompt.
    retrievals = db_rows(db, "SELECT * FROM retrievals WHERE run_id = ?", summary.run_id)
    assert len(retrievals) == 3
    for qi in range(3):
        prompts = {r["messages"] for r in rows if r["qindex"] == qi}
        assert len(prompts) == 1
        user = json.loads(prompts.pop())[-1]["content"]
        hits = json.loads(next(r["hits"] for r in retrievals if r["qindex"] == qi))
        assert len(hits) == 1 and all(
            h["source"] in user for h in hits
        )  # cited template names sources

    for r in rows:
        if r["model"] == "local:smollm2" or r["prompt_tokens"] is not None:
            assert r["prompt_tokens"] > 50  # system prompt + passages + question
            assert 0 < r["completion_tokens"] <= 32 or "retried" in (r["warnings"] or "")
        else:  # llama-cpp-python's server sends no usage when streaming: unknown, not 0
            assert r["completion_tokens"] is None and "no token usage" in r["warnings"]
        assert (
            r["total_s"] > 0
            and r["first_token_s"] is not None
            and r["first_token_s"] <= r["total_s"]
        )
        assert r["cost"] == 0 and r["cost_source"] == "local"  # both run on this machine
        scores = json.loads(r["scores"])
        if r["qindex"] == 2:
            assert scores["correctness_method"] == "refusal"
            assert scores["refusal_correct"] is scores["refused"]
        else:
            assert 0.0 <= scores["f1"] <= 1.0
            assert scores["correctness_method"] in ("f1", "refusal")

    # Tokens add up: the summary's totals are the sums of the stored rows.
    for col in ("prompt_tokens", "completion_tokens"):
        stored = sum(r[col] or 0 for r in rows)
        assert stored > 0
        assert summary.totals[col] == stored
        assert sum(s[f"{col}_total"] or 0 for s in summary.rows) == stored
    assert summary.totals["cost"] == 0
    assert [(s["model"], s["answers"]) for s in summary.rows] == [
        ("local:smollm2", 3),
        ("llamacpp:smollm2", 3),
    ]

    run = db_rows(db, "SELECT * FROM runs WHERE id = ?", summary.run_id)[0]
    versions = json.loads(run["versions"])
    assert versions["ossrag"] and versions["python"] and versions["pymilvus"]
    assert json.loads(run["models"]) == ["local:smollm2", "llamacpp:smollm2"]
    assert json.loads(run["settings"])["base_urls"]["llamacpp:smollm2"] == llama_server


@pytest.mark.isolated
@pytest.mark.llm
def test_tutorial_template_has_no_citations(kb, tmp_path, smollm2_path):  # noqa: F811
    db = tmp_path / "runs.db"
    summary = run_compare(
        kb,
        QUESTIONS[:2],
        models=[local_llm()],
        template="tutorial",
        db_path=db,
        max_tokens=24,
        search_kwargs=SEARCH,
        progress=False,
    )
    rows = RunStore(db).answers(summary.run_id)
    assert len(rows) == 2
    for r in rows:
        assert "<context>" in r["messages"][-1]["content"]  # the tutorial's user prompt
        assert r["citations"] == []
        assert r["scores"]["faithfulness_method"] in (None, "judge")  # no citation proxy here


# -- resume after a kill -----------------------------------------------------------------------
_CHILD = """
import json, sys
from ossrag import KnowledgeBase
from ossrag.evaluation.compare import run_compare
from ossrag.llms import make_llm
kb = KnowledgeBase(uri=sys.argv[1], name="t")
run_compare(kb, json.loads(sys.argv[2]), models=[make_llm("local:smollm2", n_threads=1, n_ctx=2048)],
            efforts=["low", "medium", "high"], db_path=sys.argv[3], run_id="resume-me",
            max_tokens=24, search_kwargs={"k": 1}, progress=True)
"""


RESUME_QS = [QUESTIONS[0], QUESTIONS[2]]  # x 3 efforts = 6 answers


def _count(db: Path) -> int:
    try:
        return db_rows(db, "SELECT COUNT(*) AS n FROM answers")[0]["n"]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.isolated
@pytest.mark.llm
def test_killed_run_resumes_without_answering_twice(tmp_path, smollm2_path):  # noqa: F811
    kb_file = tmp_path / "kb.db"
    build_kb(kb_file)  # closed again: Milvus Lite allows one process per file
    db = tmp_path / "runs.db"
    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        # Own session, so the kill reaches the child and anything it started, and nothing else.
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(kb_file), json.dumps(RESUME_QS), str(db)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while _count(db) < 1:
                assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
                assert time.monotonic() < deadline, "no answer within 180 s"
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    before = {
        (r["qindex"], r["model"], r["effort"]): (r["created"], r["answer"], r["total_s"])
        for r in db_rows(db, "SELECT * FROM answers")
    }
    assert 1 <= len(before) < 6, "the child finished before it was killed; nothing to resume"

    kb = KnowledgeBase(uri=str(kb_file), name="t")
    try:
        summary = run_compare(
            kb,
            RESUME_QS,
            models=[local_llm()],
            efforts=["low", "medium", "high"],
            db_path=db,
            run_id="resume-me",
            max_tokens=24,
            search_kwargs=SEARCH,
            progress=False,
        )
    finally:
        kb.close()
    assert summary.skipped == len(before)
    assert summary.answered == 6 - len(before)
    after = db_rows(db, "SELECT * FROM answers WHERE run_id = 'resume-me'")
    keys = [(r["qindex"], r["model"], r["effort"]) for r in after]
    assert len(keys) == len(set(keys)) == 6
    for r in after:  # what was answered before the kill is untouched
        key = (r["qindex"], r["model"], r["effort"])
        if key in before:
            assert (r["created"], r["answer"], r["total_s"]) == before[key]
    assert len(db_rows(db, "SELECT * FROM runs")) == 1
    assert len(db_rows(db, "SELECT * FROM retrievals")) == 2

    # --resume finds the same run from its settings; everything is done, nothing runs.
    kb = KnowledgeBase(uri=str(kb_file), name="t")
    try:
        again = run_compare(
            kb,
            RESUME_QS,
            models=[local_llm()],
            efforts=["low", "medium", "high"],
            db_path=db,
            resume=True,
            max_tokens=24,
            search_kwargs=SEARCH,
            progress=False,
        )
        assert (again.run_id, again.answered, again.skipped) == ("resume-me", 0, 6)
        with pytest.raises(ConfigError, match="other settings"):
            run_compare(
                kb,
                RESUME_QS,
                models=[local_llm()],
                efforts=["low"],
                db_path=db,
                run_id="resume-me",
                max_tokens=24,
                search_kwargs=SEARCH,
                progress=False,
            )
    finally:
        kb.close()


# -- recorded providers ------------------------------------------------------------------------
PROVIDERS = {
    # model string -> recording (tests/data/providers/<provider>/stream.json)
    "openrouter:openai/gpt-oss-120b": "openrouter",
    "vllm:openai/gpt-oss-20b": "vllm",
    "openai:o4-mini": "openai",
    "deepseek:deepseek-reasoner": "deepseek",
}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(env, "sk-test-not-a-real-key")
    monkeypatch.delenv("OSSRAG_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OSSRAG_BASE_URL", raising=False)


def replay_run(
    kb: Any,
    db: Path,
    questions: list[dict[str, Any]],
    *,
    efforts: list[str | None],
    judge: bool = True,
    failing: bool = True,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run compare against loopback servers replaying recorded responses; returns the servers too."""
    n = len(questions) * len(efforts)
    servers = {m: ReplayServer().start() for m in PROVIDERS}
    judge_server = ReplayServer().start()
    broken = ReplayServer().start()
    try:
        for m, provider in PROVIDERS.items():
            rec = load_recording(provider, "stream")
            servers[m].add(*[rec] * n)
        judge_server.add(*[json.loads((DATA / "judge_stream.json").read_text())] * (4 * n))
        broken.add(*[load_recording("vllm", "error_404")] * n)
        llms = [make_llm(m, base_url=servers[m].url) for m in PROVIDERS]
        if failing:
            llms.append(make_llm("vllm:not-served", base_url=broken.url))
        summary = run_compare(
            kb,
            questions,
            models=llms,
            efforts=efforts,
            db_path=db,
            run_id=run_id,
            judge=make_llm("vllm:judge", base_url=judge_server.url) if judge else None,
            concurrency=2,
            progress=False,
        )
    finally:
        for s in (*servers.values(), judge_server, broken):
            s.stop()
    return {"summary": summary, "servers": servers, "judge": judge_server, "broken": broken}


def test_recorded_providers_usage_cost_reasoning_and_judge(kb, tmp_path, keys):
    db = tmp_path / "runs.db"
    questions = QUESTIONS[:2]
    out = replay_run(kb, db, questions, efforts=["high"])
    summary = out["summary"]
    assert summary.planned == 10 and summary.answered == 10 and summary.errors == 2
    rows = {(r["model"], r["qindex"]): r for r in RunStore(db).answers(summary.run_id)}
    assert len(rows) == 10

    for model, provider in PROVIDERS.items():
        expect = load_recording(provider, "stream")["expect"]
        for qi in range(2):
            r = rows[(model, qi)]
            assert r["error"] is None
            assert r["effort"] == "high"
            assert r["answer"] == expect["text"]
            assert r["reasoning"] == expect["reasoning"]
            assert r["prompt_tokens"] == expect["prompt_tokens"]
            assert r["completion_tokens"] == expect["completion_tokens"]
            assert r["reasoning_tokens"] == expect["reasoning_tokens"]
            # The recorded answers cite [1] etc.: each citation is mapped to the stored hit.
            hits = RunStore(db).retrievals(summary.run_id)[qi]["hits"]
            for c in r["citations"]:
                assert c["id"] == hits[c["n"] - 1]["id"]
            relevant = questions[qi]["relevant"]
            want = sum(bool(is_relevant(c, relevant)) for c in r["citations"]) / len(r["citations"])
            assert r["scores"]["citation_precision"] == pytest.approx(want)

    def table_cost(price_key: str, e: dict[str, Any]) -> float:
        inp, outp = DEFAULT_PRICES[price_key]
        return (e["prompt_tokens"] * inp + e["completion_tokens"] * outp) / 1e6

    orr = rows[("openrouter:openai/gpt-oss-120b", 0)]
    assert orr["cost"] == pytest.approx(load_recording("openrouter", "stream")["expect"]["cost"])
    assert orr["cost_source"] == "provider"  # OpenRouter's usage.cost wins over the table
    o4 = rows[("openai:o4-mini", 0)]
    assert o4["reasoning"] == "" and o4["reasoning_tokens"] == 512  # counted, never shown
    assert o4["cost_source"] == "table"
    assert o4["cost"] == pytest.approx(
        table_cost("o4-mini", load_recording("openai", "stream")["expect"])
    )
    ds = rows[("deepseek:deepseek-reasoner", 0)]
    assert ds["cost_source"] == "table"
    assert ds["cost"] == pytest.approx(
        table_cost("deepseek-reasoner", load_recording("deepseek", "stream")["expect"])
    )
    assert rows[("vllm:openai/gpt-oss-20b", 0)]["cost"] == 0  # self-hosted

    # Each server received the effort its own way.
    assert out["servers"]["openrouter:openai/gpt-oss-120b"].requests[0].body["reasoning"] == {
        "effort": "high"
    }
    assert out["servers"]["openai:o4-mini"].requests[0].body["reasoning_effort"] == "high"
    assert out["servers"]["vllm:openai/gpt-oss-20b"].requests[0].body["reasoning_effort"] == "high"
    assert "reasoning_effort" not in out["servers"]["deepseek:deepseek-reasoner"].requests[0].body

    # The judge saw the judge prompt with the question and the answer; its verdict was stored.
    judge_expect = json.loads((DATA / "judge_stream.json").read_text())["expect"]
    assert len(out["judge"].requests) == 8
    prompt = out["judge"].requests[0].body["messages"][-1]["content"]
    assert prompt.startswith(JUDGE_PROMPT.split("\n", 1)[0])
    assert any(q["question"] in prompt for q in questions)
    for (model, _qi), r in rows.items():
        if model == "vllm:not-served":
            continue
        s = r["scores"]
        assert s["correctness_method"] == "judge" and s["correct"] is judge_expect["correct"]
        assert s["faithfulness"] == pytest.approx(judge_expect["faithfulness"])
        assert s["judge"]["prompt_tokens"] == judge_expect["prompt_tokens"]

    # A failed call is an error row; the run went on, and errors count as wrong.
    for qi in range(2):
        bad = rows[("vllm:not-served", qi)]
        assert bad["error"] and ("does not exist" in bad["error"] or "not-served" in bad["error"])
        assert bad["answer"] is None and bad["scores"] is None
    by_model = {s["model"]: s for s in summary.rows}
    assert (
        by_model["vllm:not-served"]["errors"] == 2 and by_model["vllm:not-served"]["accuracy"] == 0
    )
    assert by_model["openrouter:openai/gpt-oss-120b"]["accuracy"] == 1
    assert by_model["openai:o4-mini"]["reasoning_tokens_mean"] == 512
    total_cost = sum(r["cost"] for r in rows.values() if r["cost"] is not None)
    assert summary.totals["cost"] == pytest.approx(total_cost)
    assert summary.totals["reasoning_tokens"] == sum(
        r["reasoning_tokens"] or 0 for r in rows.values()
    )

    # Re-running the run retries the error rows only (the server now answers).
    store_before = {k: r["created"] for k, r in rows.items() if r["error"] is None}
    with ReplayServer() as fixed, ReplayServer() as judge_server:
        fixed.add(*[load_recording("vllm", "stream")] * 2)
        judge_server.add(*[json.loads((DATA / "judge_stream.json").read_text())] * 2)
        llms = [make_llm(m, base_url="http://127.0.0.1:9/v1") for m in PROVIDERS]  # never called
        llms.append(make_llm("vllm:not-served", base_url=fixed.url))
        again = run_compare(
            kb,
            questions,
            models=llms,
            efforts=["high"],
            db_path=db,
            run_id=summary.run_id,
            judge=make_llm("vllm:judge", base_url=judge_server.url),
            progress=False,
        )
        assert len(fixed.requests) == 2 and len(judge_server.requests) == 2
    assert (again.answered, again.skipped, again.errors) == (2, 8, 0)
    final = {(r["model"], r["qindex"]): r for r in RunStore(db).answers(summary.run_id)}
    assert len(final) == 10 and all(r["error"] is None for r in final.values())
    assert {k: r["created"] for k, r in final.items() if k in store_before} == store_before


# -- pieces ------------------------------------------------------------------------------------
def test_price_table_file_overrides_and_fallbacks(tmp_path):
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000)
    table = PriceTable()
    assert table.cost("openai:o4-mini", usage) == (pytest.approx(1.10 + 0.5 * 4.40), "table")
    assert table.cost("openai:o4-mini-2025-04-16", usage)[1] == "table"  # dated snapshot
    assert table.cost("openrouter:openai/gpt-oss-120b:free", usage)[1] == "table"
    assert table.cost("ollama:gpt-oss:20b", usage) == (0.0, "local")
    assert table.cost("groq:qwen/qwen3-4b", usage)[1] == "table"  # qwen3 family
    assert table.cost("openai:o3-pro", usage) == (None, "unknown")  # no sibling's price
    assert table.cost("openai:o4-mini", Usage(1, 1, cost=0.25)) == (0.25, "provider")

    toml = tmp_path / "prices.toml"
    toml.write_text(
        '"o4-mini" = { input = 2.0, output = 4.0 }\n"vllm:openai/gpt-oss-20b" = [0.5, 1.0]\n'
    )
    custom = PriceTable.load(toml)
    assert custom.cost("openai:o4-mini", usage)[0] == pytest.approx(2.0 + 2.0)
    assert custom.cost("vllm:openai/gpt-oss-20b", usage) == (pytest.approx(0.5 + 0.5), "table")
    js = tmp_path / "prices.json"
    js.write_text(json.dumps({"my-model": {"input": 1, "output": 1}}))
    assert load_prices(js) == {"my-model": (1.0, 1.0)}
    js.write_text(json.dumps({"my-model": "cheap"}))
    with pytest.raises(ConfigError, match="bad price"):
        load_prices(js)


def test_parse_efforts_and_bad_settings(kb, tmp_path):
    assert parse_efforts("low, high,default") == ["low", "high", None]
    assert parse_efforts(None) == [None]
    with pytest.raises(ConfigError, match="unknown effort"):
        parse_efforts("max")
    with pytest.raises(ConfigError, match="template"):
        run_compare(
            kb, QUESTIONS, models=["local:smollm2"], template="nope", db_path=tmp_path / "r.db"
        )
    with pytest.raises(ConfigError, match="unknown model provider"):
        run_compare(kb, QUESTIONS, models=["nosuch:model"], db_path=tmp_path / "r.db")
    assert not (tmp_path / "r.db").exists()  # nothing was started


def test_sample_questions_ship_with_the_package():
    from importlib import resources

    from ossrag.evaluation.datasets import load_questions

    path = resources.files("ossrag") / "data" / "sample_questions.jsonl"
    questions = load_questions(str(path))
    assert 8 <= len(questions) <= 12
    unanswerable = [q for q in questions if not q.answerable]
    assert 1 <= len(unanswerable) <= 2
    docs = {p.name for p in DOCS.glob("*.md")}
    for q in questions:
        if q.answerable:
            assert q.reference, q.question
            # Every question points at a page of the docs it is about.
            assert any(r in docs for r in q.relevant), q.relevant
