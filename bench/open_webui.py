"""Check: Open WebUI, the real one, chatting with a knowledge base through ``ossrag serve``.

    python3 -m venv /tmp/owui && /tmp/owui/bin/pip install torch==2.13.0 open-webui
    .venv/bin/python bench/open_webui.py --open-webui /tmp/owui/bin/open-webui

Not part of the test suite: Open WebUI is a multi-GB install with its own web
stack. This script starts, all on 127.0.0.1:

* a replay server answering with a recorded gpt-oss-20b stream from vLLM
  (reasoning, then an answer citing ``[2]``; tests/data/providers/vllm),
* ``ossrag serve`` on a knowledge base of two pages of ossrag's docs, with that
  replay server as its answering model,
* ``open-webui serve`` (no login, offline, Ollama off) with ossrag as its one
  OpenAI connection,

then asks a question in Open WebUI's own page in headless Chromium (Debian's
binary through Playwright) and checks that the knowledge base is listed as a
model, that the answer arrives, that the reasoning is folded into Open WebUI's
"Thought" block (and not in the answer) and that the sources show as a chip;
then has Open WebUI connect to ``/mcp`` as an MCP tool server (its own
Streamable HTTP client, through its admin API's connection check) and list the tools.
The screenshot goes to ``--screenshot`` (docs/img/open-webui.png is one).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{url}: the process exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    sys.exit(f"{url} did not answer within {seconds:.0f} s; see {log}")


def _ask_in_browser(url: str, question: str, screenshot: Path) -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, timeout=180_000)
        page.wait_for_selector("#chat-input", timeout=180_000)
        time.sleep(3)
        welcome = page.query_selector("text=Okay, Let's Go!")  # the release notes dialog
        if welcome:
            welcome.click()
        page.click("#chat-input")
        page.keyboard.type(question)
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not page.query_selector(
            "button[aria-label='Regenerate']"
        ):
            time.sleep(2)
        time.sleep(2)
        page.screenshot(path=str(screenshot))
        text = page.inner_text("#chat-container")
        browser.close()
        return text


def _mcp_tools(owui: str, mcp_url: str) -> set[str]:
    """The tools Open WebUI sees at ``mcp_url``, through its own tool-server check."""
    signin = httpx.post(
        f"{owui}/api/v1/auths/signin",
        timeout=60,
        json={"email": "admin@localhost", "password": "admin"},
    )  # no-login mode
    reply = httpx.post(
        f"{owui}/api/v1/configs/tool_servers/verify",
        timeout=120,
        headers={"Authorization": f"Bearer {signin.json()['token']}"},
        json={
            "url": mcp_url,
            "path": "",
            "type": "mcp",
            "auth_type": "none",
            "key": "",
            "config": {},
        },
    )
    print(f"Open WebUI's MCP check: HTTP {reply.status_code}")
    return {spec["name"] for spec in reply.json().get("specs", [])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--open-webui", required=True, help="the open-webui executable")
    ap.add_argument("--screenshot", type=Path, default=Path("open-webui.png"))
    args = ap.parse_args()
    from replay_server import ReplayServer, load_recording
    from server_kb import gpt_oss_stream

    reasoning = load_recording("vllm", "stream")["expect"]["reasoning"]

    tmp = Path(tempfile.mkdtemp(prefix="ossrag-owui-"))
    py = sys.executable
    db = tmp / "kb.db"
    subprocess.run(
        [
            py,
            "-m",
            "ossrag",
            "--db",
            str(db),
            "--kb",
            "docs",
            "ingest",
            str(ROOT / "docs" / "serving.md"),
            str(ROOT / "docs" / "milvus.md"),
        ],
        check=True,
    )
    procs: list[subprocess.Popen[bytes]] = []
    with ReplayServer() as replay:
        for _ in range(20):  # the answer, plus Open WebUI's title, tags and follow-ups
            replay.add(gpt_oss_stream())
        try:
            ossrag_port, owui_port = _port(), _port()
            log1, log2 = tmp / "ossrag.log", tmp / "open-webui.log"
            procs.append(
                subprocess.Popen(
                    [
                        py,
                        "-m",
                        "ossrag",
                        "--db",
                        str(db),
                        "serve",
                        "--port",
                        str(ossrag_port),
                        "-m",
                        "vllm:openai/gpt-oss-20b",
                        "--base-url",
                        replay.url,
                    ],
                    stdout=log1.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
            _wait(f"http://127.0.0.1:{ossrag_port}/readyz", 120, procs[-1], log1)
            env = {
                **os.environ,
                "DATA_DIR": str(tmp / "owui"),
                "WEBUI_AUTH": "False",
                "ENABLE_OLLAMA_API": "False",
                "OFFLINE_MODE": "true",
                "HF_HUB_OFFLINE": "1",
                "OPENAI_API_BASE_URL": f"http://127.0.0.1:{ossrag_port}/v1",
                "OPENAI_API_KEY": "unused",
                "WEBUI_SECRET_KEY": "bench",
                "ENABLE_VERSION_UPDATE_CHECK": "false",
            }
            procs.append(
                subprocess.Popen(
                    [args.open_webui, "serve", "--host", "127.0.0.1", "--port", str(owui_port)],
                    env=env,
                    stdout=log2.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
            _wait(f"http://127.0.0.1:{owui_port}/health", 600, procs[-1], log2)
            text = _ask_in_browser(
                f"http://127.0.0.1:{owui_port}/", "Where is data stored?", args.screenshot
            )
            tools = _mcp_tools(
                f"http://127.0.0.1:{owui_port}", f"http://127.0.0.1:{ossrag_port}/mcp"
            )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    print(text)
    checks = {
        "the knowledge base answered as a model": "Milvus Lite" in text,
        "reasoning folded into Open WebUI's Thought block": "Thought for" in text,
        "reasoning kept out of the answer": reasoning[:40] not in text,
        "sources shown as a chip": "Source" in text,
        "MCP tools listed by Open WebUI's tool-server check": {
            "search",
            "get_chunk",
            "read_section",
            "list_knowledge_bases",
            "ask",
        }
        <= tools,
    }
    for what, ok in checks.items():
        print(f"{'ok ' if ok else 'FAIL'} {what}")
    print(f"screenshot: {args.screenshot}; logs: {tmp}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
