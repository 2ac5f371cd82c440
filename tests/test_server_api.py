"""The knowledge-base endpoints through a real uvicorn and real HTTP: models, search (the
CLI's own JSON), ingestion jobs (upload and URL), 503 while a KB is being written,
deletion, chunks, and the Guard (key, Origin, sizes) in front of all of them."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures_server import running_server
from server_kb import KB, build_kb

pytest.importorskip("fastapi")
from ossrag.embedders import default_e5
from ossrag.server import ServerConfig

pytestmark = pytest.mark.timeout(120)
# Generous: the first request of a module loads the embedder on a loaded machine.
HTTP = httpx.Client(timeout=60)

JOB_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The tests' pages are served on loopback, which URL ingestion refuses unless allowed.
    return build_kb(tmp_path_factory.mktemp("api"), allow_url_networks="127.0.0.1")


@pytest.fixture(scope="module")
def cli_search(settings: Any) -> dict[str, Any]:
    """``ossrag search QUERY --json`` on the same file, run before the server takes it."""
    import io
    from contextlib import redirect_stdout

    from ossrag.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(
            [
                "--db",
                settings.uri,
                "--kb",
                KB,
                "search",
                "where is data stored?",
                "-k",
                "2",
                "--json",
            ]
        )
    assert code == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def base(settings: Any, cli_search: dict[str, Any]) -> Iterator[str]:
    with running_server(settings) as url:
        yield url


def wait_job(base: str, job_id: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        job = HTTP.get(f"{base}/v1/jobs/{job_id}", headers=headers).json()
        seen.append(job["status"])
        if job["status"] in ("done", "failed"):
            job["seen"] = seen
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT} s: {seen[-3:]}")


@contextlib.contextmanager
def gated_page(text: str) -> Iterator[tuple[str, threading.Event]]:
    """A loopback page that is only served once the event is set (a slow download)."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(JOB_TIMEOUT)
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/release-notes.md", release
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_models_and_kbs(base: str) -> None:
    models = HTTP.get(f"{base}/v1/models").json()
    (entry,) = models["data"]
    assert models["object"] == "list" and entry["id"] == KB and entry["object"] == "model"
    assert entry["owned_by"] == "ossrag" and isinstance(entry["created"], int)
    assert entry["ossrag"]["sources"] == 3 and entry["ossrag"]["embedder"] == default_e5()
    assert entry["ossrag"]["rows"] >= 3 and entry["ossrag"]["ingesting"] is False
    (kb,) = HTTP.get(f"{base}/v1/kbs").json()["data"]
    assert kb["name"] == KB and kb["rows"] == entry["ossrag"]["rows"] and kb["dim"] == 384
    paths = HTTP.get(f"{base}/openapi.json").json()["paths"]
    assert {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/models",
        "/v1/search",
        "/v1/ingest",
        "/v1/jobs/{job_id}",
        "/v1/kbs",
        "/v1/kbs/{name}",
        "/v1/kbs/{kb}/chunks/{chunk_id}",
    } <= set(paths)


def test_search_returns_exactly_the_cli_json(base: str, cli_search: dict[str, Any]) -> None:
    got = HTTP.post(
        f"{base}/v1/search", json={"query": "where is data stored?", "kb": KB, "k": 2}
    ).json()
    assert got == cli_search
    assert got["mode"] == "hybrid" and len(got["hits"]) == 2
    filtered = HTTP.post(
        f"{base}/v1/search", json={"query": "data", "source": "backup*", "mode": "dense"}
    ).json()
    assert {h["source"] for h in filtered["hits"]} == {"backup.md"}
    assert filtered["mode"] == "dense" and filtered["kb"] == KB  # the server's --kb
    typo = HTTP.post(f"{base}/v1/search", json={"query": "x", "top_k": 3})
    assert typo.status_code == 400 and typo.json()["error"]["param"] == "top_k"
    missing = HTTP.post(f"{base}/v1/search", json={"query": "x", "kb": "nokb"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_not_found"
    bad = HTTP.post(f"{base}/v1/search", json={"query": "x", "filter": "chunk_index <<< 3"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_filter"


def test_chunks_by_id(base: str) -> None:
    hit = HTTP.post(f"{base}/v1/search", json={"query": "backup", "k": 1}).json()["hits"][0]
    chunk = HTTP.get(f"{base}/v1/kbs/{KB}/chunks/{hit['id']}").json()
    assert chunk["text"] == hit["text"] and chunk["source"] == hit["source"]
    assert chunk["heading"] == hit["heading"] and chunk["origin"].endswith("docs")
    missing = HTTP.get(f"{base}/v1/kbs/{KB}/chunks/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "chunk_not_found"


def test_upload_job_reaches_done_with_errors_per_file(base: str) -> None:
    files = [
        ("files", ("guide/install.md", b"# Install\n\npip install ossrag, then ossrag demo.\n")),
        (
            "files",
            (
                "guide/faq.html",
                b"<html><body><h1>FAQ</h1><p>Zebras are not indexed by default.</p></body></html>",
            ),
        ),
        ("files", ("tool.exe", b"MZ\x00\x01binary")),
        ("files", ("notes.zip", _zip({"notes/wombat.md": "# Wombats\n\nWombats dig burrows.\n"}))),
    ]
    posted = HTTP.post(f"{base}/v1/ingest", data={"kb": KB}, files=files)
    assert posted.status_code == 202 and posted.json()["status"] in ("queued", "running")
    assert posted.headers["location"] == f"/v1/jobs/{posted.json()['id']}"
    job = wait_job(base, posted.json()["id"])
    assert job["status"] == "done", job
    assert (job["files_total"], job["files_done"]) == (4, 4)
    assert job["chunks_total"] == job["chunks_done"] >= 2
    (error,) = job["errors"]
    assert error["source"] == "tool.exe" and "unsupported" in error["reason"]
    assert job["report"]["added"] == 3 and job["report"]["chunks_written"] == job["chunks_done"]
    found = HTTP.post(f"{base}/v1/search", json={"query": "zebras indexed", "k": 1}).json()
    assert found["hits"][0]["source"] == "guide/faq.html"  # the upload's folder is kept
    zipped = HTTP.post(f"{base}/v1/search", json={"query": "wombat burrows", "k": 1}).json()
    assert zipped["hits"][0]["source"] == "notes/wombat.md"  # an archive's entries
    again = wait_job(
        base, HTTP.post(f"{base}/v1/ingest", data={"kb": KB}, files=files[:1]).json()["id"]
    )
    assert again["report"]["unchanged"] == 1 and again["report"]["added"] == 0  # same source


def test_a_kb_being_ingested_answers_503(base: str) -> None:
    with gated_page("# Release notes\n\nVersion 9 adds quokka support.\n") as (url, release):
        posted = HTTP.post(f"{base}/v1/ingest", json={"kb": KB, "urls": [url]})
        assert posted.status_code == 202
        chat = HTTP.post(
            f"{base}/v1/chat/completions",
            json={
                "model": KB,
                "messages": [{"role": "user", "content": "What does version 9 add?"}],
            },
        )
        assert chat.status_code == 503 and chat.headers["retry-after"]
        assert chat.json()["error"]["code"] == "kb_ingesting"
        resp = HTTP.post(f"{base}/v1/responses", json={"model": KB, "input": "q"})
        assert resp.status_code == 503
        assert HTTP.post(f"{base}/v1/search", json={"query": "quokka"}).status_code == 503
        assert HTTP.delete(f"{base}/v1/kbs/{KB}").status_code == 409
        models = HTTP.get(f"{base}/v1/models").json()["data"]
        assert models[0]["ossrag"]["ingesting"] is True
        assert HTTP.get(f"{base}/readyz").json()["ingesting"] == [KB]
        release.set()
        job = wait_job(base, posted.json()["id"])
    assert job["status"] == "done" and job["report"]["added"] == 1, job
    hits = HTTP.post(f"{base}/v1/search", json={"query": "quokka support", "k": 1}).json()
    assert hits["hits"][0]["source"] == url


def test_bad_ingest_requests(base: str) -> None:
    bad_name = HTTP.post(f"{base}/v1/ingest", json={"kb": "no spaces!", "urls": []})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["param"] == "kb"
    nothing = HTTP.post(f"{base}/v1/ingest", data={"kb": KB})
    assert nothing.status_code == 400 and "nothing to ingest" in nothing.json()["error"]["message"]
    local = HTTP.post(f"{base}/v1/ingest", json={"kb": KB, "urls": ["/etc/passwd"]})
    assert local.status_code == 400 and local.json()["error"]["param"] == "urls"
    assert HTTP.get(f"{base}/v1/jobs/job-0-none").status_code == 404
    dead = wait_job(
        base,
        HTTP.post(
            f"{base}/v1/ingest", json={"kb": KB, "urls": ["http://127.0.0.1:9/gone.md"]}
        ).json()["id"],
    )
    assert dead["status"] == "done" and dead["errors"][0]["source"] == "http://127.0.0.1:9/gone.md"


def test_delete_a_kb(base: str) -> None:
    posted = HTTP.post(
        f"{base}/v1/ingest",
        data={"kb": "scratch"},
        files=[("files", ("a.md", b"# A\n\nScratch text.\n"))],
    )
    assert wait_job(base, posted.json()["id"])["status"] == "done"
    assert "scratch" in [m["id"] for m in HTTP.get(f"{base}/v1/models").json()["data"]]
    deleted = HTTP.delete(f"{base}/v1/kbs/scratch")
    assert deleted.status_code == 200 and deleted.json() == {
        "id": "scratch",
        "object": "kb",
        "deleted": True,
    }
    assert "scratch" not in [m["id"] for m in HTTP.get(f"{base}/v1/models").json()["data"]]
    assert HTTP.delete(f"{base}/v1/kbs/scratch").status_code == 404
    gone = HTTP.post(
        f"{base}/v1/chat/completions",
        json={"model": "scratch", "messages": [{"role": "user", "content": "q"}]},
    )
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"


def test_the_guard_covers_these_endpoints(tmp_path: Path) -> None:
    """Key, CORS, Origin and both size limits in front of the /v1 endpoints."""
    settings = build_kb(tmp_path)
    config = ServerConfig(
        api_key="s3cret",
        max_body_bytes=2000,
        max_upload_bytes=5000,
        cors_origins=["http://app.example"],
    )
    with running_server(settings, config) as base:
        key = {"Authorization": "Bearer s3cret"}
        for method, path in (
            ("GET", "/v1/models"),
            ("GET", "/v1/kbs"),
            ("POST", "/v1/search"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/responses"),
            ("POST", "/v1/ingest"),
            ("DELETE", f"/v1/kbs/{KB}"),
            ("GET", "/v1/jobs/x"),
        ):
            refused = HTTP.request(method, f"{base}{path}", json={})
            assert refused.status_code == 401, (method, path)
        assert HTTP.get(f"{base}/v1/models", headers=key).json()["data"][0]["id"] == KB
        searched = HTTP.post(f"{base}/v1/search", headers=key, json={"query": "backup"})
        assert searched.status_code == 200 and searched.json()["hits"]
        # CORS for a listed origin: the preflight (which never has the key) is answered,
        # the request itself still needs the key and gets the CORS header.
        app = {"Origin": "http://app.example"}
        preflight = HTTP.options(
            f"{base}/v1/chat/completions",
            headers={
                **app,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert HTTP.post(f"{base}/v1/search", headers=app, json={"query": "x"}).status_code == 401
        cors = HTTP.post(f"{base}/v1/search", headers={**key, **app}, json={"query": "backup"})
        assert cors.status_code == 200
        assert cors.headers["access-control-allow-origin"] == "http://app.example"
        evil = HTTP.post(
            f"{base}/v1/chat/completions",
            headers={**key, "Origin": "http://x.example"},
            json={"model": KB, "messages": [{"role": "user", "content": "q"}]},
        )
        assert evil.status_code == 403
        big = HTTP.post(
            f"{base}/v1/chat/completions",
            headers=key,
            json={"model": KB, "messages": [{"role": "user", "content": "x" * 3000}]},
        )
        assert big.status_code == 413
        upload = HTTP.post(
            f"{base}/v1/ingest",
            headers=key,
            data={"kb": KB},
            files=[("files", ("big.md", b"# Big\n\n" + b"word " * 2000))],
        )
        assert upload.status_code == 413
        small = HTTP.post(
            f"{base}/v1/ingest",
            headers=key,
            data={"kb": KB},
            files=[("files", ("small.md", b"# Small\n\n" + b"word " * 600))],
        )
        assert small.status_code == 202  # over the JSON limit, under the upload one
        assert wait_job(base, small.json()["id"], headers=key)["status"] == "done"
        # This server's settings allow no private networks: a loopback URL is refused
        # (server-side request forgery), as one file's error, and nothing is fetched.
        ssrf = wait_job(
            base,
            HTTP.post(
                f"{base}/v1/ingest",
                headers=key,
                json={"kb": KB, "urls": ["http://127.0.0.1:9/admin.md"]},
            ).json()["id"],
            headers=key,
        )
        (refused,) = ssrf["errors"]
        assert "allow-private-urls" in refused["reason"], refused
