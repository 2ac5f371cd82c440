"""The comparison report: opened in headless Chromium (real browser), and its Markdown table.

The run behind the report is real: a tiny Milvus Lite knowledge base, recorded
provider responses replayed from loopback servers through the real ``openai``
client, a judge, one failing model, two efforts. The browser must load
nothing but the file itself; a screenshot is kept as ``artifacts/report.png``.
Without Chromium (Debian ``chromium``) or Playwright for Python the browser
test is skipped, unless ``OSSRAG_REQUIRE_BROWSER`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ossrag.cli.compare import run as cmd_compare
from ossrag.cli.compare import run_report as cmd_report
from ossrag.config import Settings
from ossrag.errors import ConfigError
from ossrag.evaluation.report import (
    summary_markdown,
    svg_bars,
    svg_scatter,
    write_report,
)
from ossrag.evaluation.scoring import JUDGE_PROMPT
from replay_server import ReplayServer, load_recording
from test_compare import PROVIDERS, QUESTIONS, kb, kb_path, keys, replay_run  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("OSSRAG_CHROMIUM", "/usr/bin/chromium")
EFFORTS = ["low", "high"]


@pytest.fixture(scope="module")
def run_db(kb, tmp_path_factory):  # noqa: F811
    mp = pytest.MonkeyPatch()
    for env in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY"):
        mp.setenv(env, "sk-test-not-a-real-key")
    mp.delenv("OSSRAG_BASE_URL", raising=False)
    try:
        db = tmp_path_factory.mktemp("report") / "runs.db"
        out = replay_run(kb, db, QUESTIONS, efforts=EFFORTS)
    finally:
        mp.undo()
    return db, out["summary"]


def _browser_or_skip():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright for Python is not installed (pip install playwright)"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if reason:
        if os.environ.get("OSSRAG_REQUIRE_BROWSER"):
            pytest.fail(f"{reason} (OSSRAG_REQUIRE_BROWSER is set)")
        pytest.skip(reason)
    return sync_playwright


def test_markdown_summary_table(run_db):
    db, summary = run_db
    md = summary_markdown(db, summary.run_id)
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["model", "effort", "answers"]
    for col in (
        "accuracy",
        "faithfulness",
        "refusal acc.",
        "median s",
        "p95 s",
        "reasoning tok",
        "cost $",
        "errors",
    ):
        assert col in header
    assert re.fullmatch(r"\|(-{3}:?\|)+", lines[1].replace("---:", "---:").replace(" ", ""))
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    models = [*PROVIDERS, "vllm:not-served"]
    assert [(r[0], r[1]) for r in body] == [(m, e) for m in models for e in EFFORTS]
    assert all(len(r) == len(header) for r in body)
    row = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in body}
    assert row[("vllm:not-served", "low")]["errors"] == "3"
    assert row[("openai:o4-mini", "high")]["reasoning tok"] == "512"
    assert row[("vllm:openai/gpt-oss-20b", "low")]["cost $"] == "0"
    # The latest run is the default.
    assert summary_markdown(db) == md
    with pytest.raises(ConfigError, match="no run"):
        summary_markdown(db, "no-such-run")


def test_report_in_headless_chromium(run_db, tmp_path):
    sync_playwright = _browser_or_skip()
    db, summary = run_db
    out = write_report(db, summary.run_id, out=tmp_path / "report.html")
    page_html = out.read_text(encoding="utf-8")
    # Self-contained: no external script, stylesheet, font or image reference.
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page_html)
    assert "@import" not in page_html and "url(" not in page_html
    assert JUDGE_PROMPT.split("\n", 1)[0] in page_html

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")

            rows = page.locator("table.summary tbody tr")
            assert rows.count() == (len(PROVIDERS) + 1) * len(EFFORTS)
            assert "gpt-oss-120b" in page.locator("table.summary").inner_text()

            plots = page.locator("svg.plot")
            assert plots.count() == 3
            for i in range(3):
                svg = plots.nth(i)
                box = svg.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 200  # rendered, not empty
                assert svg.locator("circle, rect, polygon").count() >= 4
                text = svg.inner_html()
                assert "effort" in text  # legend
            assert "median latency" in plots.nth(0).inner_html()
            assert "cost" in plots.nth(1).inner_html()
            assert "reasoning tokens" in plots.nth(2).inner_html()

            # Reasoning is collapsed until its summary is clicked.
            reasoning = page.locator("details.reasoning")
            assert reasoning.count() >= 3 * 3 * len(EFFORTS)  # three models return reasoning text
            first = reasoning.first
            assert first.evaluate("d => d.open") is False
            assert not first.locator("pre").is_visible()
            first.locator("summary").click()
            assert first.evaluate("d => d.open") is True
            assert first.locator("pre").is_visible()

            assert page.locator("section.question").count() == len(QUESTIONS)
            assert page.locator(".card .error").count() == len(QUESTIONS) * len(EFFORTS)
            assert (
                page.locator("pre.judge-prompt")
                .inner_text()
                .startswith(JUDGE_PROMPT.split("\n", 1)[0])
            )

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "report.png"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests and all(u.startswith("file://") for u in requests), requests
    assert shot.exists() and shot.stat().st_size > 20_000


def test_svg_plots_handle_missing_data():
    empty = svg_scatter(
        [], title="Accuracy vs cost", x_label="cost", y_label="accuracy", note="no accuracy"
    )
    assert empty.startswith("<svg") and "no accuracy" in empty
    bars = svg_bars(
        [("m", [("low", None), ("high", None)])], title="t", y_label="y", note="none reported"
    )
    assert "none reported" in bars
    one = svg_scatter(
        [{"x": 0.0, "y": 0.5, "color": "m", "shape": "low", "label": "m <low>"}],
        title="t",
        x_label="x",
        y_label="y",
    )
    assert "m &lt;low&gt;" in one and "<circle" in one


def test_cli_glue_compare_then_report(kb_path, tmp_path, capsys, monkeypatch):  # noqa: F811
    """cmd_compare / cmd_report with the Namespaces the CLI builds, against a replayed vLLM."""
    monkeypatch.chdir(tmp_path)  # no ossrag.toml from the repo; the report lands here
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS[:2]) + "\n", encoding="utf-8")
    db = tmp_path / "runs.db"
    with ReplayServer() as server:
        server.add(*[load_recording("vllm", "stream")] * 2)
        settings = Settings.load({"uri": str(kb_path), "kb": "t", "base_url": server.url}, env={})
        args = argparse.Namespace(
            questions=str(questions),
            models="vllm:openai/gpt-oss-20b",
            efforts="low",
            judge=None,
            db=str(db),
            run_id="cli-run",
            resume=False,
            concurrency=2,
            template="cited",
            max_tokens=None,
            prices=None,
            json=True,
        )
        assert cmd_compare(args, settings) == 0
        assert server.requests[0].body["reasoning_effort"] == "low"
    out = json.loads(capsys.readouterr().out)
    assert (out["run_id"], out["answered"], out["errors"]) == ("cli-run", 2, 0)
    assert out["summary"][0]["model"] == "vllm:openai/gpt-oss-20b"

    rargs = argparse.Namespace(run=None, output=str(tmp_path / "out" / "r.html"), db=str(db))
    assert cmd_report(rargs, settings) == 0
    md = capsys.readouterr().out
    assert "| vllm:openai/gpt-oss-20b | low | 2 |" in md
    page = (tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert "cli-run" in page and "<svg" in page
