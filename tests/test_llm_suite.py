"""The shipped LLM stream suite (ossrag.testing.llms) against every backend ossrag ships:
in-process llama.cpp with the bundled SmolLM2, and the OpenAI-compatible backend over
the replay server with each provider's recorded stream, through the real ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag.llms.base import LLM
from ossrag.llms.openai_compat import OpenAICompatLLM
from ossrag.testing.llms import LLMStreamSuite
from replay_server import DATA, ReplayServer, load_recording

# Every provider with a recorded stream; Qwen3 is served by vLLM (no reasoning parser).
STREAMS = sorted(
    (p.parent.name, p.stem)
    for p in DATA.glob("*/stream*.json")
    if load_recording(p.parent.name, p.stem)["expect"].get("complete", True)
)
PRESET = {"qwen3": "vllm"}
LENGTH = [("openrouter", "length_empty"), ("ollama", "length_empty")]


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENROUTER_API_KEY", "GROQ_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(name, "test-key")
    monkeypatch.delenv("OSSRAG_LLM_API_KEY", raising=False)


def _replayed(server: ReplayServer, provider: str, mode: str) -> LLM:
    rec = load_recording(provider, mode)
    server.add(rec)
    return OpenAICompatLLM(
        f"{PRESET.get(provider, provider)}:{rec['model']}",
        base_url=server.url,
        timeout=5.0,
        backoff=0.05,
    )


class TestOpenAICompatible(LLMStreamSuite):
    @pytest.fixture(params=STREAMS, ids=lambda p: "/".join(p))
    def llm(self, request: pytest.FixtureRequest) -> Iterator[LLM]:
        with ReplayServer() as server:
            yield _replayed(server, *request.param)

    @pytest.fixture(params=LENGTH, ids=lambda p: "/".join(p))
    def llm_at_length(self, request: pytest.FixtureRequest) -> Iterator[tuple[LLM, int]]:
        with ReplayServer() as server:
            yield _replayed(server, *request.param), 64


@pytest.mark.llm
@pytest.mark.isolated
class TestLocalSmolLM2(LLMStreamSuite):
    stream_kwargs = {"temperature": 0}  # noqa: RUF012

    @pytest.fixture
    def llm(self, smollm2_path: Path) -> LLM:  # noqa: F811
        from ossrag.llms.local import LocalLLM

        return LocalLLM("local:smollm2", n_ctx=2048, n_threads=1)
