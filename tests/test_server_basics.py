"""The server's ground rules, through real HTTP to a real uvicorn: health, the bearer key,
the refusal to listen beyond loopback without one, Origin, body size, per-client
concurrency, OpenAI-style errors, and the Milvus Lite file it owns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from fixtures_server import running_server
from ossrag.config import Settings
from ossrag.errors import ConfigError

server = pytest.importorskip("ossrag.server")
ServerConfig = server.ServerConfig


def _settings(tmp_path: Path) -> Settings:
    return Settings.load({"uri": str(tmp_path / "kb.db"), "kb": "docs"}, env={})


def test_health_ready_and_openapi(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path)) as base:
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["status"] == "ready" and ready["target"].startswith("Milvus Lite")
        spec = httpx.get(f"{base}/openapi.json").json()
        assert spec["info"]["title"] == "ossrag" and "/healthz" in spec["paths"]


def test_a_key_is_required_when_set_and_compared_exactly(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path), ServerConfig(api_key="s3cret")) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200  # liveness stays open
        missing = httpx.get(f"{base}/readyz")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["type"] == "authentication_error"
        wrong = httpx.get(f"{base}/readyz", headers={"Authorization": "Bearer s3cre"})
        assert wrong.status_code == 401
        ok = httpx.get(f"{base}/readyz", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_refuses_to_listen_beyond_loopback_without_a_key() -> None:
    with pytest.raises(ConfigError, match="without an API key") as err:
        ServerConfig(host="0.0.0.0").check()
    assert err.value.hint and "OSSRAG_API_KEY" in err.value.hint
    ServerConfig(host="0.0.0.0", api_key="k").check()  # with a key it may
    ServerConfig(host="::1").check()
    # The command says so too, and exits non-zero before binding anything.
    proc = subprocess.run(
        [sys.executable, "-m", "ossrag", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert proc.returncode == 2 and "OSSRAG_API_KEY" in proc.stderr, proc.stderr


def test_foreign_origins_are_refused(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path)) as base:
        own = base.replace("127.0.0.1", "localhost")
        assert httpx.get(f"{base}/readyz", headers={"Origin": own}).status_code == 200
        evil = httpx.get(f"{base}/readyz", headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403 and "origin" in evil.json()["error"]["message"]


def test_body_size_limit(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path), ServerConfig(max_body_bytes=1000)) as base:
        big = httpx.post(
            f"{base}/v1/anything", content=b"x" * 5000, headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413 and "over the limit" in big.json()["error"]["message"]

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"x" * 500

        chunked = httpx.post(f"{base}/openapi.json", content=chunks())
        assert chunked.status_code in (405, 413)  # refused either way, never read to the end


def test_per_client_concurrency_gets_429_with_retry_after() -> None:
    """The Guard in front of a deliberately slow endpoint, under a real uvicorn: a client's
    second request while its first is still streaming is refused, then served again."""
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from fixtures_server import free_port
    from ossrag.server.security import Guard

    release = threading.Event()

    async def slow(request):  # type: ignore[no-untyped-def]
        async def body():  # type: ignore[no-untyped-def]
            yield b"first "
            while not release.is_set():
                await asyncio.sleep(0.02)
            yield b"last"

        return StreamingResponse(body())

    port = free_port()
    app = Guard(
        Starlette(routes=[Route("/slow", slow)]),
        ServerConfig(port=port, max_concurrent_per_client=1),
    )
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        threading.Event().wait(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.stream("GET", f"{base}/slow") as first:
            chunks = first.iter_bytes()  # kept: a dropped iterator closes the connection
            assert next(chunks).startswith(b"first")  # in flight, holding the slot
            second = httpx.get(f"{base}/slow")
            assert second.status_code == 429 and second.headers["retry-after"] == "1"
            assert second.json()["error"]["type"] == "rate_limit_error"
            release.set()
            assert b"".join(chunks).endswith(b"last")
        assert httpx.get(f"{base}/slow").text == "first last"  # the slot is free again
    finally:
        release.set()
        srv.should_exit = True


def test_unknown_routes_and_methods_are_openai_style_errors(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path)) as base:
        missing = httpx.get(f"{base}/v1/nothing-here")
        assert missing.status_code == 404 and set(missing.json()["error"]) == {
            "message",
            "type",
            "param",
            "code",
        }


def test_the_lite_file_points_other_processes_at_the_server(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with running_server(settings) as base:
        code = textwrap.dedent(f"""
            from ossrag.errors import StoreError
            from ossrag.stores.milvus import MilvusStore
            try:
                MilvusStore({settings.uri!r}, timeout=10).list_kbs()
            except StoreError as exc:
                print("ERROR:", exc)
        """)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        ).stdout
        assert "is in use by another ossrag/Milvus Lite process (ossrag serve (pid" in out, out
        assert f"at {base})" in out and f"{base}/v1/search" in out
    assert not Path(settings.uri + ".server.json").exists()  # the marker goes with the server


def test_beyond_loopback_clients_may_only_name_allowed_models() -> None:
    """A client naming a hosted model spends the server's credits: off unless allowed."""
    local = ServerConfig()
    assert local.model_allowed("openrouter:openai/gpt-oss-120b", "local:smollm2")  # loopback: any
    public = ServerConfig(host="0.0.0.0", api_key="k")
    assert public.model_allowed("local:smollm2", "local:smollm2")  # the server's own, always
    assert not public.model_allowed("openrouter:openai/gpt-oss-120b", "local:smollm2")
    chosen = ServerConfig(host="0.0.0.0", api_key="k", allowed_models=["ollama:*"])
    assert chosen.model_allowed("ollama:gpt-oss:20b", "local:smollm2")
    assert not chosen.model_allowed("openrouter:openai/o4-mini", "local:smollm2")


def test_a_refused_model_is_a_403_before_anything_runs(tmp_path: Path) -> None:
    config = ServerConfig(allowed_models=["ollama:*"])  # loopback, but an explicit list
    with running_server(_settings(tmp_path), config) as base:
        resp = httpx.post(
            f"{base}/v1/chat/completions",
            json={
                "model": "docs@openrouter:openai/gpt-oss-120b",
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "model_not_allowed"


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "X.db", "--kb", "docs", "mcp", "--help"],
        ["--db=X.db", "mcp", "--help"],
        ["mcp", "--db", "X.db", "--help"],
    ],
)
def test_target_flags_before_a_server_command_reach_the_server(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # `ossrag --db kb.db serve` is how every other command is written; it used to
    # reach the CLI's parser, which has no `serve`, and fail on `--port`.
    from ossrag.main import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: ossrag mcp" in capsys.readouterr().out
