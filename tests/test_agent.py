"""Agent mode end to end: real Milvus Lite KB, replayed providers through the real ``openai``
client on a loopback server, and the bundled SmolLM2 for the local paths.

Recordings (tests/data/agent/*.json) are reconstructions of each server's documented
tool-call and reasoning shapes (see their ``notes``); every expectation about passages is
computed from the real KB, never written into the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag import KnowledgeBase
from ossrag.answering.agent import AGENT_SYSTEM, FINAL_NUDGE, PROMPT_SYSTEM, Agent, AgentAnswer
from ossrag.answering.prompts import format_passage
from ossrag.errors import LLMError
from ossrag.llms.openai_compat import OpenAICompatLLM
from ossrag.types import Hit
from replay_server import ReplayServer

DATA = Path(__file__).parent / "data" / "agent"
Q = "Where is inserted data stored?"
Q1 = "where is inserted data stored"  # the query in the recorded search calls

DOCS = {
    "storage.md": "# Storage\n\n## Where data lives\n\nInserted data is stored in object storage such "
    "as MinIO or S3; metadata lives in etcd.\n\n## Backups\n\nBackups run nightly with the "
    "milvus-backup tool.\n\n## Retention\n\nDeleted entities are removed from storage by "
    "compaction after the retention period.\n",
    "indexes.md": "# Indexes\n\n## Index types\n\nMilvus Lite supports the FLAT, IVF_FLAT and "
    "AUTOINDEX index types.\n\n## Metrics\n\nUse the inner product (IP) metric on L2-normalised vectors.\n",
    "install.md": "# Install\n\n## With pip\n\nInstall Milvus Lite with pip install pymilvus; it "
    "needs Python 3.8 or newer.\n",
}


def rec(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def recorded_reasoning(name: str) -> str:
    """The reasoning text a recording carries (what must be sent back)."""
    resp = rec(name)["response"]
    if "body" in resp:
        return str(resp["body"]["choices"][0]["message"]["reasoning"])
    out = []
    for ev in resp["sse"]:
        data = ev.get("data")
        if isinstance(data, dict):
            for ch in data.get("choices") or []:
                d = ch.get("delta") or {}
                out.append(d.get("reasoning") or d.get("reasoning_content") or "")
    return "".join(out)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("agent")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text)
    with KnowledgeBase(uri=str(root / "kb.db"), name="agent") as kb:
        kb.ingest(str(root / "docs"))
        yield kb


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENROUTER_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(var, "sk-test")


def numbered(kb: KnowledgeBase, searches: list[tuple[str, int]]) -> list[Hit]:
    """The passages an agent shows for these searches: in order, each once."""
    out: list[Hit] = []
    for query, k in searches:
        out += [h for h in kb.search(query, k=k) if h.id not in {x.id for x in out}]
    return out


def assistant_turns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


def test_vllm_tool_loop_sends_reasoning_back_and_cites_what_the_search_found(
    kb: KnowledgeBase,
) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_search_call"), rec("vllm_final"))
        answer = kb.agent_ask(Q, model="vllm:openai/gpt-oss-20b", base_url=server.url, effort="low")
        first, second = (r.body for r in server.requests)
    assert len(server.requests) == 2
    # first request: the tools, the effort, and the question
    assert [t["function"]["name"] for t in first["tools"]] == ["search", "read"]
    assert first["reasoning_effort"] == "low" and first["stream"] is True
    assert first["messages"] == [
        {"role": "system", "content": AGENT_SYSTEM},
        {"role": "user", "content": Q},
    ]
    # second request: the tool-call turn with its reasoning in vLLM's field, then the tool result
    expected = kb.search(Q1, k=3)
    [call_turn] = assistant_turns(second)
    assert call_turn["reasoning"] == recorded_reasoning("vllm_search_call")
    assert not {"thinking", "reasoning_content"} & set(call_turn) and not call_turn.get("content")
    [call] = call_turn["tool_calls"]
    assert call["id"] == "chatcmpl-tool-2b8e4f0c9d1a4e7f" and call["function"]["name"] == "search"
    assert json.loads(call["function"]["arguments"]) == {"query": Q1}
    result = second["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == call["id"]
    for n, hit in enumerate(expected, start=1):
        assert format_passage(n, hit) in result["content"]
    assert "tools" in second  # the model may search again
    # the answer: citations map to the passages that search found
    assert isinstance(answer, AgentAnswer) and answer.mode == "tools"
    assert answer.text.endswith("[1][2].") and "object storage" in answer.text
    assert [h.id for h in answer.hits] == [h.id for h in expected]
    assert [(c.n, c.id, c.valid) for c in answer.citations] == [
        (1, expected[0].id, True),
        (2, expected[1].id, True),
    ]
    assert answer.reasoning.startswith(recorded_reasoning("vllm_search_call"))
    assert answer.reasoning.endswith(recorded_reasoning("vllm_final"))
    # steps and summed usage (vLLM reports no reasoning tokens: unknown, not 0)
    assert [s["kind"] for s in answer.steps] == ["tool_calls", "answer"]
    [step_call] = answer.steps[0]["calls"]
    assert step_call["query"] == Q1 and step_call["hits"] == [h.id for h in expected]
    assert step_call["numbers"] == [1, 2, 3]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (402 + 780, 49 + 61)
    assert answer.usage.reasoning_tokens is None
    t = answer.timings
    assert (
        t["retrieve_s"]
        and 0 < t["retrieve_s"] < t["total_s"]
        and t["first_token_s"] <= t["total_s"]
    )
    data = answer.to_dict()
    assert data["steps"] == answer.steps and data["answer"] == answer.text


def test_openrouter_reasoning_goes_back_as_reasoning_and_cost_adds_up(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("openrouter_search_call"), rec("openrouter_final"))
        answer = kb.agent_ask(
            Q, model="openrouter:openai/gpt-oss-120b", base_url=server.url, effort="high"
        )
        first, second = (r.body for r in server.requests)
    assert first["reasoning"] == {"effort": "high"}
    [turn] = assistant_turns(second)
    assert turn["reasoning"] == recorded_reasoning("openrouter_search_call")
    assert "thinking" not in turn and "reasoning_content" not in turn
    assert answer.citations[0].id == kb.search(Q1, k=3)[0].id
    assert answer.usage.cost == pytest.approx(3.1e-05 + 4.4e-05)
    assert answer.usage.reasoning_tokens == 21 + 18
    assert answer.usage.prompt_tokens == 298 + 690


def test_llamacpp_reasoning_goes_back_as_thinking_without_content(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("llamacpp_search_call"), rec("llamacpp_final"))
        answer = kb.agent_ask(Q, model="llamacpp:gpt-oss-20b", base_url=server.url, effort="medium")
        second = server.requests[1].body
    [turn] = assistant_turns(second)
    # the gpt-oss template reads `thinking`, and raises on content + thinking + tool_calls
    assert turn["thinking"] == recorded_reasoning("llamacpp_search_call")
    assert not turn.get("content") and "reasoning" not in turn
    assert server.requests[0].body["chat_template_kwargs"] == {"reasoning_effort": "medium"}
    assert answer.text == "Object storage such as MinIO or S3 [1]."
    assert answer.citations[0].id == kb.search(Q1, k=3)[0].id


def test_groq_gets_no_reasoning_back_non_streamed(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("groq_search_call"), rec("groq_final"))
        llm = OpenAICompatLLM("groq:openai/gpt-oss-120b", base_url=server.url, streaming=False)
        answer = Agent(kb, llm, effort="low").ask(Q)
        bodies = [r.body for r in server.requests]
    assert all(b["stream"] is False for b in bodies)
    [turn] = assistant_turns(bodies[1])
    assert turn["tool_calls"][0]["id"] == "fc_4f0b8a1e-2c3d-4e5f-9a6b-7c8d9e0f1a2b"
    assert not {"reasoning", "reasoning_content", "thinking", "reasoning_details"} & set(turn)
    assert answer.reasoning == "Search the docs for where data is stored.\n\nPassage 1 has it."
    assert answer.citations[0].id == kb.search(Q1, k=3)[0].id
    assert answer.usage.completion_tokens == 36 + 28


def test_malformed_calls_get_error_results_and_the_model_recovers(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(
            rec("vllm_malformed_call"),
            rec("vllm_no_query_call"),
            rec("vllm_search_call"),
            rec("vllm_final"),
        )
        answer = kb.agent_ask(Q, model="vllm:openai/gpt-oss-20b", base_url=server.url)
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 4
    bad_json = bodies[1]["messages"][-1]
    assert bad_json["role"] == "tool" and bad_json["content"].startswith(
        "error: the arguments are not valid JSON"
    )
    no_query = bodies[2]["messages"][-1]["content"]
    assert no_query.startswith("error:") and '"query"' in no_query
    # the malformed arguments went back exactly as the model wrote them
    assert (
        bodies[1]["messages"][-2]["tool_calls"][0]["function"]["arguments"]
        == '{"query": "backup sch'
    )
    kinds = [s["kind"] for s in answer.steps]
    assert kinds == ["tool_calls"] * 3 + ["answer"]
    assert "error" in answer.steps[0]["calls"][0] and "error" in answer.steps[1]["calls"][0]
    assert "error" not in answer.steps[2]["calls"][0]
    # failed calls showed no passages, so numbering starts with the good search
    expected = kb.search(Q1, k=3)
    assert [c.id for c in answer.citations] == [expected[0].id, expected[1].id]
    assert answer.usage.prompt_tokens == 402 + 455 + 402 + 780


def test_unknown_tool_and_read_around_a_passage(kb: KnowledgeBase) -> None:
    def call(name: str, args: str) -> dict[str, Any]:
        """The recorded vLLM tool-call stream, calling ``name`` with ``args`` instead."""
        r = rec("vllm_search_call")
        pieces = [
            c["delta"]["tool_calls"][0]
            for ev in r["response"]["sse"]
            if isinstance(ev["data"], dict)
            for c in ev["data"]["choices"]
            if "tool_calls" in c["delta"]
        ]
        pieces[0]["function"].update(name=name, arguments=args)
        for p in pieces[1:]:
            p["function"]["arguments"] = ""
        return r

    with ReplayServer() as server:
        server.add(
            rec("vllm_search_call"),
            call("browse", '{"url": "x"}'),
            call("read", '{"passage": 1}'),
            rec("vllm_final"),
        )
        answer = kb.agent_ask(Q, model="vllm:openai/gpt-oss-20b", base_url=server.url)
        bodies = [r.body for r in server.requests]
    assert "unknown tool 'browse'" in bodies[2]["messages"][-1]["content"]
    first = kb.search(Q1, k=3)
    around = [
        h
        for h in kb.store.get_neighbours(
            kb.name,
            first[0].origin,
            first[0].source,
            [first[0].chunk_index - 1, first[0].chunk_index + 1],
        )
        if h.id != first[0].id
    ]
    assert around  # storage.md has a chunk after "Where data lives"
    read_result = bodies[3]["messages"][-1]["content"]
    assert read_result.startswith("Text around passage [1]")
    shown_before = {h.id: n for n, h in enumerate(first, start=1)}
    n = len(first)
    for h in around:
        if h.id in shown_before:
            assert f"[{shown_before[h.id]}] (already shown above: {h.source})" in read_result
        else:
            n += 1
            assert format_passage(n, h) in read_result
    assert answer.steps[2]["calls"][0]["passage"] == 1
    assert len({h.id for h in answer.hits}) == len(answer.hits)


def test_max_steps_then_a_forced_answer_without_tools(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_search_call"), rec("vllm_search_call_2"), rec("vllm_final"))
        answer = kb.agent_ask(Q, model="vllm:openai/gpt-oss-20b", base_url=server.url, max_steps=2)
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 3
    assert "tools" in bodies[0] and "tools" in bodies[1] and "tools" not in bodies[2]
    assert bodies[2]["messages"][-1] == {"role": "user", "content": FINAL_NUDGE}
    # inside the tool loop both turns' reasoning goes back
    turns = assistant_turns(bodies[2])
    assert [t["reasoning"] for t in turns] == [
        recorded_reasoning("vllm_search_call"),
        recorded_reasoning("vllm_search_call_2"),
    ]
    # numbers continue across searches; a passage shown twice keeps its first number
    first, second = kb.search(Q1, k=3), kb.search("backup tool", k=4)
    assert {h.id for h in first} & {h.id for h in second}  # the case worth testing: an overlap
    expected = numbered(kb, [(Q1, 3), ("backup tool", 4)])
    assert [h.id for h in answer.hits] == [h.id for h in expected]
    result2 = bodies[2]["messages"][-2]["content"]
    for h in second:
        n = [x.id for x in expected].index(h.id) + 1
        if h.id in {x.id for x in first}:
            assert f"[{n}] (already shown above: {h.source})" in result2
        else:
            assert format_passage(n, h) in result2
    assert answer.steps[1]["calls"][0]["k"] == 4
    assert answer.steps[1]["calls"][0]["numbers"] == [
        [x.id for x in expected].index(h.id) + 1 for h in second
    ]
    assert [s["kind"] for s in answer.steps] == ["tool_calls", "tool_calls", "forced_answer"]
    assert [c.id for c in answer.citations] == [expected[0].id, expected[1].id]


def test_server_without_tools_falls_back_to_the_prompt_loop(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(
            rec("vllm_error_400_tools"), rec("vllm_prompt_search"), rec("vllm_prompt_answer")
        )
        answer = kb.agent_ask(Q, model="vllm:openai/gpt-oss-20b", base_url=server.url)
        bodies = [r.body for r in server.requests]
    assert "tools" in bodies[0] and all("tools" not in b for b in bodies[1:])
    assert answer.mode == "prompt"
    assert any("cannot call tools" in w and "enable-auto-tool-choice" in w for w in answer.warnings)
    # ossrag searched for the question first; the model then asked for more
    seeded = kb.search(Q, k=3)
    msgs = bodies[1]["messages"]
    assert msgs[0] == {"role": "system", "content": PROMPT_SYSTEM}
    for n, h in enumerate(seeded, start=1):
        assert format_passage(n, h) in msgs[1]["content"]
    assert bodies[2]["messages"][-2] == {
        "role": "assistant",
        "content": "SEARCH: nightly backup tool",
    }
    expected = numbered(kb, [(Q, 3), ("nightly backup tool", 3)])
    assert [h.id for h in answer.hits] == [h.id for h in expected]
    assert answer.text == "Backups run nightly with the milvus-backup tool [4]."
    [cite] = answer.citations
    assert cite.valid and cite.id == expected[3].id
    assert [(s["kind"], s.get("query")) for s in answer.steps] == [
        ("search", Q),
        ("search", "nightly backup tool"),
        ("answer", None),
    ]
    assert answer.steps[0]["by"] == "ossrag"
    # the failed tools request is not counted; the two prompt turns are
    assert answer.usage.prompt_tokens == 512 + 690


def test_deepseek_prompt_loop_never_sends_reasoning_back(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("deepseek_prompt_search"), rec("deepseek_prompt_answer"))
        answer = kb.agent_ask(Q, model="deepseek:deepseek-reasoner", base_url=server.url)
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 2 and all("tools" not in b for b in bodies)
    for turn in assistant_turns(bodies[1]):
        assert set(turn) == {"role", "content"}
    assert answer.mode == "prompt" and not any("cannot call tools" in w for w in answer.warnings)
    assert answer.text.endswith("[4].") and answer.citations[0].valid
    assert answer.usage.reasoning_tokens == 40 + 22
    assert "Search for backups." in answer.reasoning and answer.reasoning.endswith("milvus-backup.")


def test_cli_ask_agent_json(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    from ossrag.cli import main

    with ReplayServer() as server:
        server.add(rec("vllm_search_call"), rec("vllm_final"))
        code = main(
            [
                "ask",
                Q,
                "--agent",
                "--max-steps",
                "2",
                "--json",
                "--db",
                kb.settings.uri,
                "--kb",
                kb.name,
                "-m",
                "vllm:openai/gpt-oss-20b",
                "--base-url",
                server.url,
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert [s["kind"] for s in data["steps"]] == ["tool_calls", "answer"]
    assert data["steps"][0]["calls"][0]["query"] == Q1
    assert [c["id"] for c in data["citations"]] == [h.id for h in kb.search(Q1, k=3)[:2]]


def test_compare_in_agent_mode_records_the_tool_calls(kb: KnowledgeBase, tmp_path: Path) -> None:
    from ossrag.evaluation.compare import run_compare
    from ossrag.evaluation.runs import RunStore

    with ReplayServer() as server:
        server.add(rec("vllm_search_call"), rec("vllm_final"))
        llm = OpenAICompatLLM("vllm:openai/gpt-oss-20b", base_url=server.url)
        summary = run_compare(
            kb,
            [{"question": Q, "reference": "object storage"}],
            models=[llm],
            efforts=["low"],
            db_path=tmp_path / "runs.db",
            agent=True,
            max_steps=2,
            progress=False,
        )
    assert summary.answered == 1 and summary.errors == 0
    with RunStore(tmp_path / "runs.db") as store:
        [row] = store.answers(summary.run_id)
        run = store.get_run(summary.run_id)
    assert run is not None and run["settings"]["agent"] == {"max_steps": 2}
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(row["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"query": Q1}
    assert [call["query"] for st in row["steps"] for call in st.get("calls", [])] == [Q1]
    assert [c["id"] for c in row["citations"]] == [h.id for h in kb.search(Q1, k=3)[:2]]
    assert row["prompt_tokens"] == 402 + 780


# -- the real local model ----------------------------------------------------------------------
@pytest.mark.isolated
@pytest.mark.llm
def test_local_smollm2_runs_the_prompt_loop(kb: KnowledgeBase, smollm2_path: Path) -> None:  # noqa: F811
    from ossrag.llms.local import LocalLLM

    llm = LocalLLM("local:smollm2", n_ctx=2048, n_threads=1)
    with pytest.raises(LLMError, match="cannot call tools"):
        Agent(kb, llm, mode="tools").ask(Q)
    answer = Agent(kb, llm, max_steps=1, max_tokens=24).ask(Q)
    assert answer.mode == "prompt" and answer.complete
    assert answer.steps[0] == {**answer.steps[0], "kind": "search", "by": "ossrag", "query": Q}
    assert answer.steps[-1]["kind"] in ("answer", "forced_answer")
    assert all(s["kind"] in ("search", "answer", "forced_answer") for s in answer.steps)
    assert 2 <= len(answer.steps) <= 3  # seed search, at most one more, then the answer
    assert answer.hits and answer.text  # it terminated with an answer
    assert all(c.valid == (1 <= c.n <= len(answer.hits)) for c in answer.citations)
    assert answer.usage.prompt_tokens > 0


HARMONY_CALL = r"""
root ::= "<|channel|>analysis<|message|>" words "<|end|><|start|>assistant<|channel|>commentary to=functions.search <|constrain|>json<|message|>{\"query\": \"" words "\"}<|call|>"
words ::= [a-z]{1,10} (" " [a-z]{1,10}){1,3}
"""
HARMONY_ANSWER = r"""
root ::= "<|channel|>analysis<|message|>" words "<|end|><|start|>assistant<|channel|>final<|message|>" words " [1]<|return|>"
words ::= [a-z]{1,10} (" " [a-z]{1,10}){1,3}
"""


class GrammarPerCall:
    """The real in-process harmony backend, with a different llama.cpp grammar for each call
    (SmolLM2 cannot write harmony by itself); records the messages of every call."""

    def __init__(self, llm: Any, grammars: list[str]) -> None:
        from llama_cpp import LlamaGrammar

        self.llm = llm
        self.grammars = [LlamaGrammar.from_string(g, verbose=False) for g in grammars]
        self.model, self.calls = llm.model, []
        self.supports_reasoning = self.supports_tools = True
        self.supports_json_schema = False

    def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.llm.sampling_overrides = {"grammar": self.grammars[len(self.calls)]}
        self.calls.append([dict(m) for m in messages])
        return self.llm.stream(messages, temperature=0, **kwargs)


@pytest.mark.isolated
@pytest.mark.llm
def test_harmony_tool_loop_in_process(kb: KnowledgeBase, smollm2_path: Path) -> None:  # noqa: F811
    from ossrag.llms.harmony import render_prompt
    from ossrag.llms.local import LocalLLM

    h = LocalLLM("local:smollm2", n_ctx=2048, n_threads=1, harmony=True)
    llm = GrammarPerCall(h, [HARMONY_CALL, HARMONY_ANSWER])
    answer = Agent(kb, llm, effort="low", max_steps=2, max_tokens=160).ask(Q)
    assert [s["kind"] for s in answer.steps] == ["tool_calls", "answer"]
    [call] = answer.steps[0]["calls"]
    query = json.loads(call["arguments"])["query"]
    assert call["query"] == query and call["hits"] == [h.id for h in kb.search(query, k=3)]
    # the second prompt carries the first turn's analysis (tool loop) and the tool result
    first_reasoning = answer.reasoning.split("\n\n")[0]
    prompt = render_prompt(
        llm.calls[1], effort="low", tools=[{"type": "function", "function": {"name": "search"}}]
    )
    assert f"<|channel|>analysis<|message|>{first_reasoning}<|end|>" in prompt
    assert "to=functions.search <|constrain|>json<|message|>" in prompt
    assert "functions.search to=assistant<|channel|>commentary<|message|>Passages for" in prompt
    assert answer.text.endswith("[1]") and answer.citations[0].id == answer.hits[0].id
    assert (
        answer.usage.reasoning_tokens
        and answer.usage.completion_tokens > answer.usage.reasoning_tokens
    )
