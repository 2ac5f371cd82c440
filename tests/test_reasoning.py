"""Reasoning extraction: every field, inline ``<think>`` and harmony at any chunking, usage, budget retry."""

from __future__ import annotations

import itertools

import pytest

from ossrag.llms.openai_compat import OpenAICompatLLM
from ossrag.llms.reasoning import (
    InlineReasoningSplitter,
    details_text,
    reasoning_from,
    split_inline,
    usage_from,
)
from ossrag.llms.stream import complete_with_budget_retry
from replay_server import ReplayServer, load_recording

REASONING = "The user asks for 2+2. Easy."
ANSWER = "2 + 2 = 4 [1]."


# ------------------------------------------------------------ fields


@pytest.mark.parametrize(
    "obj",
    [
        {"reasoning": REASONING},
        {"reasoning_content": REASONING, "content": None},
        {"thinking": REASONING},
        {
            "reasoning_details": [
                {"type": "reasoning.text", "text": REASONING, "format": "unknown", "index": 0}
            ]
        },
        {
            "reasoning_details": [
                {"type": "reasoning.summary", "summary": REASONING, "format": "openai-responses-v1"}
            ]
        },
        # OpenRouter repeats the text in both fields; it must come out once.
        {
            "reasoning": REASONING,
            "reasoning_details": [{"type": "reasoning.text", "text": REASONING}],
        },
        # Proxies that copy reasoning into both names.
        {"reasoning": REASONING, "reasoning_content": REASONING},
        # Null plain field, text only in the details.
        {"reasoning": None, "reasoning_details": [{"type": "reasoning.text", "text": REASONING}]},
    ],
)
def test_reasoning_from_every_field(obj: dict) -> None:
    assert reasoning_from(obj) == REASONING


def test_encrypted_details_carry_no_text() -> None:
    details = [
        {"type": "reasoning.encrypted", "data": "gAAAAABo...", "format": "openai-responses-v1"},
        {"type": "reasoning.text", "text": "visible"},
    ]
    assert details_text(details) == "visible"
    assert reasoning_from({"content": "hi", "reasoning_details": details[:1]}) == ""
    assert reasoning_from(None) == "" and reasoning_from({"reasoning": ""}) == ""


def test_usage_from() -> None:
    u = usage_from(
        {
            "prompt_tokens": 10,
            "completion_tokens": 90,
            "cost": 0.00012,
            "completion_tokens_details": {"reasoning_tokens": 70},
        }
    )
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cost) == (
        10,
        90,
        70,
        0.00012,
    )
    u = usage_from(
        {"input_tokens": 5, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 3}}
    )
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cost) == (5, 9, 3, None)
    u = usage_from({"prompt_tokens": 5, "completion_tokens": 9, "completion_tokens_details": None})
    assert u.reasoning_tokens is None  # not reported is not zero
    assert usage_from(None) is None


# ------------------------------------------------------------ inline <think>


def run(splitter: InlineReasoningSplitter, chunks: list[str], **flush_kw: bool) -> tuple[str, str]:
    parts = [p for c in chunks for p in splitter.feed(c)] + splitter.flush(**flush_kw)
    for kind, text in parts:
        assert kind in ("reasoning", "text") and text
    return (
        "".join(t for k, t in parts if k == "reasoning"),
        "".join(t for k, t in parts if k == "text"),
    )


def splits(text: str, max_cuts: int = 2):
    """Every way to cut ``text`` into up to ``max_cuts + 1`` chunks (every byte position)."""
    n = len(text)
    for k in range(max_cuts + 1):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            yield [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_think_block_split_at_every_position() -> None:
    content = "<think>\nR: 2+2</think>\n\nA: 4"
    seen = 0
    for chunks in splits(content, 2):
        assert run(InlineReasoningSplitter(), chunks) == ("R: 2+2", "A: 4"), chunks
        seen += 1
    n = len(content) - 1  # cut positions
    assert seen == 1 + n + n * (n - 1) // 2  # no cut, one cut, two cuts


def test_pre_opened_think_split_at_every_position() -> None:
    content = "R: 2+2\n</think>\n\nA: 4"
    for chunks in splits(content, 2):
        assert run(InlineReasoningSplitter(pre_opened=True), chunks) == ("R: 2+2", "A: 4"), chunks


def test_think_block_inside_the_answer_split_at_every_position() -> None:
    for chunks in splits("Intro. <think>R</think>Rest.", 2):
        assert run(InlineReasoningSplitter(), chunks) == ("R", "Intro. Rest."), chunks


def test_think_never_closed_is_reasoning_and_truncated() -> None:
    s = InlineReasoningSplitter()
    assert run(s, ["<think>", "R: still going", " </thi"], incomplete=True) == (
        "R: still going </thi",
        "",
    )
    assert s.truncated


def test_plain_text_with_angle_brackets_passes_through() -> None:
    for chunks in splits("a <b> c <thinking> d </th", 2):
        assert run(InlineReasoningSplitter(), chunks) == ("", "a <b> c <thinking> d </th")


def test_stray_close_without_lookahead_is_flagged() -> None:
    s = InlineReasoningSplitter()
    _, text = run(s, ["R", " </think> A"])
    assert "</think>" not in text and s.stray_close


def test_split_inline_whole_messages() -> None:
    assert (split_inline("R.</think>\n\nA.").reasoning, split_inline("R.</think>\n\nA.").text) == (
        "R.",
        "A.",
    )
    got = split_inline("<think>R.</think>A.<think>more</think> B.")
    assert (got.reasoning, got.text) == ("R.more", "A. B.")
    assert split_inline(None).text == "" and split_inline("plain").text == "plain"


# ------------------------------------------------------------ raw harmony in content

HARMONY = (
    "<|channel|>analysis<|message|>" + REASONING + "<|end|>"
    "<|start|>assistant<|channel|>final<|message|>" + ANSWER
)


def test_harmony_content_split_at_every_cut() -> None:
    for chunks in splits(HARMONY, 1):
        s = InlineReasoningSplitter()
        assert run(s, chunks) == (REASONING, ANSWER), chunks
        assert s.harmony and not s.truncated
    # three-way cuts inside and around the special tokens
    for i, j in itertools.combinations(range(0, len(HARMONY), 3), 2):
        chunks = [HARMONY[:i], HARMONY[i:j], HARMONY[j:]]
        assert run(InlineReasoningSplitter(), chunks) == (REASONING, ANSWER), chunks


def test_harmony_tool_call_and_truncation() -> None:
    call = (
        "<|channel|>analysis<|message|>Search first.<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.search_docs <|constrain|>json<|message|>{"query": "port"}<|call|>'
    )
    s = InlineReasoningSplitter()
    assert run(s, [call[:40], call[40:]]) == ("Search first.", "")
    assert [(c.name, c.arguments) for c in s.tool_calls] == [("search_docs", '{"query": "port"}')]
    cut = InlineReasoningSplitter()
    assert run(cut, ["<|channel|>analysis<|message|>thinking and thinking"], incomplete=True) == (
        "thinking and thinking",
        "",
    )
    assert cut.truncated
    whole = split_inline(HARMONY)
    assert (whole.reasoning, whole.text, whole.harmony) == (REASONING, ANSWER, True)


# ------------------------------------------------------------ budget retry over HTTP


def test_budget_retry_when_reasoning_eats_max_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "k")
    monkeypatch.delenv("OSSRAG_LLM_API_KEY", raising=False)
    with ReplayServer() as server:
        server.add(
            load_recording("openrouter", "length_empty"), load_recording("openrouter", "stream")
        )
        llm = OpenAICompatLLM("openrouter:openai/gpt-oss-120b", base_url=server.url, timeout=5)
        done, warning = complete_with_budget_retry(
            llm, [{"role": "user", "content": "q"}], 64, effort="high"
        )
        assert done.text == load_recording("openrouter", "stream")["expect"]["text"]
        assert warning and "64 tokens on reasoning" in warning and "max_tokens=2112" in warning
        assert [r.body["max_tokens"] for r in server.requests] == [64, 2112]
        assert all(r.body["reasoning"] == {"effort": "high"} for r in server.requests)

        # Still empty after the retry: said plainly, with what to do.
        server.add(
            load_recording("ollama", "length_empty"), load_recording("ollama", "length_empty")
        )
        llm = OpenAICompatLLM("ollama:gpt-oss:20b", base_url=server.url, timeout=5)
        done, warning = complete_with_budget_retry(llm, [{"role": "user", "content": "q"}], 1000)
        assert done.finish_reason == "length" and done.text == ""
        assert warning and "ran out too" in warning and "--effort" in warning
        assert [r.body["max_tokens"] for r in server.requests[2:]] == [1000, 4000]

        # A normal answer: one request, no warning.
        server.add(load_recording("ollama", "stream"))
        done, warning = complete_with_budget_retry(llm, [{"role": "user", "content": "q"}], 1000)
        assert warning is None and done.text and len(server.requests) == 5
