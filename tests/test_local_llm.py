"""The in-process llama.cpp backend with the bundled SmolLM2-135M GGUF (real model, no mocks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag.errors import ConfigError, LLMError, MissingDependencyError, ModelNotFoundError
from ossrag.llms.base import LLM, collect
from ossrag.types import StreamEvent

# In-process llama.cpp: a native crash must fail one test, not end the run.
pytestmark = [pytest.mark.llm, pytest.mark.isolated]

Q = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def llm(smollm2_path: Path):  # noqa: F811
    from ossrag.llms.local import LocalLLM

    # One thread: the suite runs beside other CPU-bound work on two cores.
    return LocalLLM("local:smollm2", n_ctx=2048, n_threads=1)


@pytest.fixture(scope="module")
def greedy(llm):
    """The model's own greedy answer to Q (32 tokens), the reference for several tests."""
    return llm.complete(Q, max_tokens=32, temperature=0)


def texts(events: list[StreamEvent]) -> str:
    return "".join(e.delta for e in events if e.type == "text")


def test_bundled_model_resolves_to_the_package_gguf(llm, smollm2_path: Path) -> None:  # noqa: F811
    assert llm.path == smollm2_path.resolve()
    assert isinstance(llm, LLM)
    assert not llm.harmony and not llm.supports_reasoning and not llm.supports_tools


def test_stream_event_order(llm) -> None:
    events = list(llm.stream(Q, max_tokens=16, temperature=0))
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["usage", "done"]
    assert kinds.count("usage") == 1 and kinds.count("done") == 1
    assert set(kinds[:-2]) == {"text"}  # SmolLM2 does not reason
    assert texts(events).strip()
    usage = events[-2].usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 16
    assert usage.reasoning_tokens is None


def test_max_tokens_cuts_with_finish_reason_length(llm, greedy) -> None:
    long = greedy
    short = collect(llm.stream(Q, max_tokens=5, temperature=0))
    assert short.finish_reason == "length"
    assert short.usage.completion_tokens <= 6  # counted by re-tokenising the text
    assert len(short.text) < len(long.text)
    # greedy decoding: the short answer is the start of the long one
    assert long.text.startswith(short.text)


def test_stop_sequence(llm, greedy) -> None:
    full = greedy.text
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[2]  # a word from the middle, found in this model's own output
    cut = full.index(stop)
    done = llm.complete(Q, max_tokens=32, temperature=0, stop=[stop])
    assert done.text == full[:cut]
    assert done.finish_reason == "stop"


def test_deterministic_with_seed(llm, greedy) -> None:
    assert llm.complete(Q, max_tokens=32, temperature=0).text == greedy.text
    # sampling at a high temperature is reproducible too, because the seed is set per call
    hot = [llm.complete(Q, max_tokens=16, temperature=1.2).text for _ in range(2)]
    assert hot[0] == hot[1]


def test_temperature_and_seed_are_honoured(llm, smollm2_path: Path) -> None:  # noqa: F811
    from ossrag.llms.local import LocalLLM

    outs = {
        LocalLLM("local:smollm2", n_ctx=2048, seed=s)
        .complete(Q, max_tokens=16, temperature=1.5)
        .text
        for s in (1, 2, 3)
    }
    assert len(outs) > 1  # three seeds at temperature 1.5: not all the same text


def test_system_message_reaches_the_prompt(llm) -> None:
    base = "Answer in French."
    extra = " Be brief and precise in every answer."
    u1 = llm.complete([{"role": "system", "content": base}, *Q], max_tokens=4, temperature=0).usage
    u2 = llm.complete(
        [{"role": "system", "content": base + extra}, *Q], max_tokens=4, temperature=0
    ).usage
    assert u2.prompt_tokens - u1.prompt_tokens == llm.count_tokens(extra)


def test_system_message_merged_when_template_has_no_system_role(llm) -> None:
    msgs = [{"role": "system", "content": "Only answer yes or no."}, *Q]
    merged = llm._chat_messages(msgs, merge_system=True)
    assert [m["role"] for m in merged] == ["user"]
    assert merged[0]["content"].startswith("Only answer yes or no.\n\n")
    assert merged[0]["content"].endswith(Q[0]["content"])
    # and generation works on that shape
    saved = llm._template_has_system
    try:
        llm._template_has_system = False
        done = llm.complete(msgs, max_tokens=4, temperature=0)
        assert done.text and done.usage.prompt_tokens > 0
    finally:
        llm._template_has_system = saved


def test_effort_is_ignored_for_a_non_reasoning_model(llm) -> None:
    low = llm.complete(Q, max_tokens=8, temperature=0, effort="low")
    high = llm.complete(Q, max_tokens=8, temperature=0, effort="high")
    assert low.text == high.text and low.reasoning == high.reasoning == ""
    with pytest.raises(ConfigError):
        llm.stream(Q, effort="extreme")


def test_json_schema_is_enforced_by_grammar(llm) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
    }
    rf = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
    done = llm.complete(Q, max_tokens=24, temperature=0, response_format=rf)
    assert json.loads(done.text)["colour"] in ("red", "green", "blue")


def test_tools_are_refused_by_a_model_that_cannot_call_them(llm) -> None:
    with pytest.raises(LLMError, match="cannot call tools"):
        llm.stream(Q, tools=[{"type": "function", "function": {"name": "search"}}])


def test_unfinished_stream_does_not_deadlock_the_next(llm, greedy) -> None:
    first = llm.stream(Q, max_tokens=32, temperature=0)
    assert next(first).type == "text"  # holds the model now
    with pytest.raises(LLMError, match="unfinished stream"):
        next(llm.stream(Q, max_tokens=4, temperature=0))
    first.close()  # releases it
    assert llm.complete(Q, max_tokens=32, temperature=0).text == greedy.text


def test_make_llm_builds_the_local_backend(llm) -> None:
    from ossrag.llms import make_llm
    from ossrag.llms.local import LocalLLM

    made = make_llm("local:smollm2", n_ctx=2048)
    assert isinstance(made, LocalLLM) and made._llm is llm._llm


def test_model_is_cached_per_path_and_context(llm) -> None:
    from ossrag.llms.local import LocalLLM

    again = LocalLLM("local:smollm2", n_ctx=2048)
    assert again._llm is llm._llm
    other = LocalLLM("local:smollm2", n_ctx=1024)
    assert other._llm is not llm._llm and other._llm.n_ctx() == 1024


def test_harmony_path_runs_on_a_real_model(llm) -> None:
    """Force the gpt-oss code path: harmony prompt, token loop, exact token accounting."""
    from ossrag.llms.harmony import render_prompt
    from ossrag.llms.local import LocalLLM

    h = LocalLLM("local:smollm2", n_ctx=2048, harmony=True)
    assert h._llm is llm._llm and h.supports_reasoning and h.supports_tools
    events = list(h.stream(Q, effort="low", max_tokens=12, temperature=0))
    assert [e.type for e in events][-2:] == ["usage", "done"]
    usage = events[-2].usage
    assert usage is not None
    assert usage.completion_tokens == 12  # SmolLM2 never emits <|return|>: cut by max_tokens
    assert usage.prompt_tokens == h.count_tokens(render_prompt(Q, effort="low"))
    assert events[-1].finish_reason == "length"  # no final answer arrived


HARMONY_ANSWER = r"""
root ::= "<|channel|>analysis<|message|>" words "<|end|><|start|>assistant<|channel|>final<|message|>" words "<|return|>"
words ::= [a-z]{1,10} (" " [a-z]{1,10}){2,4}
"""
HARMONY_LONG_ANSWER = r"""
root ::= "<|channel|>analysis<|message|>" [a-z]{1,10} "<|end|><|start|>assistant<|channel|>final<|message|>" [a-z]{1,10} (" " [a-z]{1,10}){11,13} "<|return|>"
"""
HARMONY_CALL = r"""
root ::= "<|channel|>analysis<|message|>" words "<|end|><|start|>assistant<|channel|>commentary to=functions.search <|constrain|>json<|message|>{\"query\": \"" words "\"}<|call|>"
words ::= [a-z]{1,10} (" " [a-z]{1,10}){1,3}
"""


@pytest.fixture
def harmony_llm(llm):
    """SmolLM2 on the gpt-oss code path, made to write harmony by a llama.cpp grammar.

    The special-token strings are plain text to SmolLM2, so they arrive split
    over several tokens: the token loop and the parser see realistic chunking.
    """
    from llama_cpp import LlamaGrammar

    from ossrag.llms.local import LocalLLM

    h = LocalLLM("local:smollm2", n_ctx=2048, harmony=True)

    def use(grammar: str) -> LocalLLM:
        h.sampling_overrides = {"grammar": LlamaGrammar.from_string(grammar, verbose=False)}
        return h

    return use


def test_harmony_output_split_into_reasoning_and_answer(harmony_llm) -> None:
    h = harmony_llm(HARMONY_ANSWER)
    events = list(h.stream(Q, effort="high", max_tokens=120, temperature=0))
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["usage", "done"]
    # all reasoning first, then the answer; no markup in either
    assert kinds.index("text") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    done = collect(iter(events))
    assert done.finish_reason == "stop"  # <|return|> ended the turn, well before max_tokens
    assert 3 <= len(done.text.split()) <= 5 and done.text.replace(" ", "").isalpha()
    assert 3 <= len(done.reasoning.split()) <= 5 and done.reasoning.replace(" ", "").isalpha()
    u = done.usage
    assert u.completion_tokens < 120 and 0 < (u.reasoning_tokens or 0) < u.completion_tokens


def test_harmony_tool_call(harmony_llm) -> None:
    h = harmony_llm(HARMONY_CALL)
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    done = h.complete(Q, tools=tools, max_tokens=120, temperature=0)
    assert done.finish_reason == "tool_calls" and done.text == ""
    [call] = done.tool_calls
    assert call.name == "search"
    query = json.loads(call.arguments)["query"]
    assert query and query.replace(" ", "").isalpha()


def test_harmony_stop_and_max_tokens(harmony_llm) -> None:
    h = harmony_llm(HARMONY_LONG_ANSWER)
    full = h.complete(Q, max_tokens=200, temperature=0)
    assert full.finish_reason == "stop"
    stop = " " + full.text.split()[1]
    done = h.complete(Q, max_tokens=200, temperature=0, stop=[stop])
    assert done.text == full.text[: full.text.index(stop)] and done.finish_reason == "stop"
    # a budget that ends inside "<|return|>": reported as "length", no markup leaks
    inside = h.complete(Q, max_tokens=full.usage.completion_tokens - 1, temperature=0)
    assert inside.finish_reason == "length"
    assert (inside.text, inside.reasoning) == (full.text, full.reasoning)
    # a budget that ends inside the final answer's words: the answer has at least
    # 12 tokens and "<|return|>" at most 10 (one per character), so 12 fewer
    # tokens than the full run always cut the answer itself
    budget = full.usage.completion_tokens - len("<|return|>") - 2
    cut = h.complete(Q, max_tokens=budget, temperature=0)
    assert cut.finish_reason == "length" and cut.usage.completion_tokens == budget
    assert cut.text and full.text.startswith(cut.text) and len(cut.text) < len(full.text)
    assert cut.reasoning == full.reasoning


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    from ossrag.llms.local import LocalLLM

    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(ModelNotFoundError, match=str(missing)):
        LocalLLM(f"local:{missing}")


def test_bad_spec() -> None:
    from ossrag.llms.local import LocalLLM, resolve_model_path

    with pytest.raises(ConfigError, match="unknown local model"):
        LocalLLM("local:nonsense")
    with pytest.raises(ConfigError):
        resolve_model_path("openai:gpt-4o")


def test_not_a_gguf_is_a_clear_error(tmp_path: Path) -> None:
    from ossrag.llms.local import LocalLLM

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all")
    with pytest.raises(LLMError, match="could not load"):
        LocalLLM(f"local:{junk}")


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from ossrag.llms.local import _models

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(MissingDependencyError) as info:
        _models.import_llama_cpp()
    assert "pip install 'ossrag[local]'" in str(info.value)
