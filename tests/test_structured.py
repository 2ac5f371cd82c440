"""Structured (JSON Schema) answers: the validator, repair, retry, replayed providers through
the real ``openai`` client, the bundled SmolLM2 with a grammar, and ``ask --schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag import KnowledgeBase
from ossrag.answering.schema import (
    extract_json,
    load_schema,
    parse_reply,
    response_format,
    validate,
    with_citations,
)
from ossrag.answering.structured import StructuredAnswer, ask_structured, structured_answer
from ossrag.errors import ConfigError, LLMResponseError
from ossrag.llms.openai_compat import OpenAICompatLLM
from replay_server import ReplayServer

DATA = Path(__file__).parent / "data" / "agent"
Q = "Where is inserted data stored?"
SCHEMA: dict[str, Any] = {
    "title": "storage_answer",
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "location": {"type": "string", "enum": ["object storage", "local disk", "etcd"]},
    },
    "required": ["answer", "location"],
    "additionalProperties": False,
}
DOC = (
    "# Storage\n\n## Where data lives\n\nInserted data is stored in object storage such as MinIO "
    "or S3; metadata lives in etcd.\n\n## Backups\n\nBackups run nightly with the milvus-backup tool.\n"
)


def rec(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("structured")
    (root / "docs").mkdir()
    (root / "docs" / "storage.md").write_text(DOC)
    with KnowledgeBase(uri=str(root / "kb.db"), name="structured") as kb:
        kb.ingest(str(root / "docs"))
        yield kb


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(var, "sk-test")


# -- the validator and the repair ---------------------------------------------------------------
def test_validator_common_subset() -> None:
    assert validate({"answer": "x", "location": "etcd"}, SCHEMA) == []
    assert validate({"answer": "x"}, SCHEMA) == ["$: missing required property 'location'"]
    assert validate({"answer": 1, "location": "etcd", "extra": True}, SCHEMA) == [
        "$.answer: expected string, got integer",
        "$: unexpected property 'extra'",
    ]
    assert "is not one of" in validate({"answer": "x", "location": "S3"}, SCHEMA)[0]
    assert validate([], SCHEMA) == ["$: expected object, got array"]
    nested = {
        "type": "object",
        "properties": {"items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/n"}}},
        "$defs": {"n": {"type": "integer", "minimum": 1}},
    }
    assert validate({"items": [1, 2.0]}, nested) == []  # 2.0 is an integer in JSON Schema
    assert validate({"items": [True, 0]}, nested) == [
        "$.items[0]: expected integer, got boolean",
        "$.items[1]: less than 1",
    ]
    assert validate({"items": []}, nested) == ["$.items: fewer than 1 items"]
    either = {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}
    assert validate(None, either) == [] and validate("abc", either) == []
    assert validate("abcd", either) == ["$: must match any of the anyOf schemas"]
    assert validate({"a": 1}, {"type": "object", "additionalProperties": {"type": "string"}}) == [
        "$.a: expected string, got integer"
    ]


def test_extract_json_repairs_fences_and_prose() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! Here it is: {"a": [1, {"b": "}"}]} Hope that helps.') == {
        "a": [1, {"b": "}"}]
    }
    assert extract_json("[1, 2]") == [1, 2]
    with pytest.raises(ValueError):
        extract_json("no json here {oops")
    data, errors, repaired = parse_reply('Answer:\n{"answer": "x", "location": "etcd"}', SCHEMA)
    assert data == {"answer": "x", "location": "etcd"} and errors == [] and repaired
    data, errors, _ = parse_reply("", SCHEMA)
    assert data is None and errors == ["the reply was empty"]


def test_citations_are_added_to_object_schemas_only() -> None:
    sent = with_citations(SCHEMA)
    assert sent["properties"]["citations"]["items"] == {"type": "integer"}
    assert (
        sent["required"] == ["answer", "location", "citations"]
        and "citations" not in SCHEMA["properties"]
    )
    assert with_citations({"type": "array"}) == {"type": "array"}
    assert response_format(sent) == {
        "type": "json_schema",
        "json_schema": {"name": "storage_answer", "schema": sent, "strict": True},
    }


def test_load_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_schema(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_schema(tmp_path / "bad.json")
    (tmp_path / "my answer.json").write_text('{"type": "object"}')
    assert load_schema(tmp_path / "my answer.json")["title"] == "my_answer"


# -- replayed providers ---------------------------------------------------------------------------
def test_valid_on_the_first_try(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_json_valid"))
        answer = ask_structured(
            kb,
            Q,
            SCHEMA,
            model="vllm:openai/gpt-oss-20b",
            base_url=server.url,
            effort="low",
            search={"k": 2},
        )
        [req] = server.requests
    assert req.body["response_format"] == response_format(with_citations(SCHEMA))
    assert (
        '"additionalProperties": false' in req.body["messages"][0]["content"]
    )  # schema in the prompt too
    assert '"citations"' in req.body["messages"][0]["content"]
    assert isinstance(answer, StructuredAnswer) and answer.attempts == 1
    assert (
        answer.data["location"] == "object storage"
        and validate(answer.data, with_citations(SCHEMA)) == []
    )
    hits = kb.search(Q, k=2)
    assert [h.id for h in answer.hits] == [h.id for h in hits]
    assert [(c.n, c.id) for c in answer.citations] == [(1, hits[0].id)]
    assert json.loads(answer.text) == answer.data and answer.reasoning
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (420, 70)
    out = answer.to_dict()
    assert out["data"] == answer.data and out["answer"] == answer.text


def test_json_in_prose_and_a_fence_is_repaired_without_a_retry(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("openrouter_json_fenced"))
        answer = ask_structured(
            kb, Q, SCHEMA, model="openrouter:openai/gpt-oss-120b", base_url=server.url
        )
    assert len(server.requests) == 1 and answer.attempts == 1
    assert answer.data["location"] == "object storage"
    assert any("repaired" in w for w in answer.warnings)
    assert answer.usage.cost == pytest.approx(2.2e-05)


def test_invalid_then_retried_with_the_errors(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_json_missing_field"), rec("vllm_json_valid"))
        answer = ask_structured(kb, Q, SCHEMA, model="vllm:openai/gpt-oss-20b", base_url=server.url)
        first, second = (r.body for r in server.requests)
    msgs = second["messages"]
    assert msgs[:2] == first["messages"]
    first_reply = json.loads(msgs[2]["content"])
    assert msgs[2]["role"] == "assistant" and "location" not in first_reply
    assert (
        msgs[3]["role"] == "user"
        and "$: missing required property 'location'" in msgs[3]["content"]
    )
    assert answer.attempts == 2 and answer.data["location"] == "object storage"
    assert answer.usage.prompt_tokens == 420 + 420
    assert any("not valid" in w for w in answer.warnings)


def test_invalid_twice_is_a_clear_error(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_json_missing_field"), rec("vllm_json_bad_enum"))
        with pytest.raises(LLMResponseError) as err:
            ask_structured(kb, Q, SCHEMA, model="vllm:openai/gpt-oss-20b", base_url=server.url)
        assert len(server.requests) == 2
    msg = str(err.value)
    assert "did not reply with JSON matching the schema after 2 attempts" in msg
    assert "'S3 bucket' is not one of" in msg and "hint:" in msg


def test_a_server_refusing_the_schema_gets_it_in_the_prompt_only(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("openai_error_400_strict_schema"), rec("openai_json_stream"))
        answer = ask_structured(
            kb, Q, SCHEMA, model="openai:o4-mini", base_url=server.url, effort="high"
        )
        first, second = (r.body for r in server.requests)
    assert "response_format" in first and "response_format" not in second
    assert second["messages"] == first["messages"]
    assert any(
        "refused response_format" in w and "additionalProperties" in w for w in answer.warnings
    )
    assert answer.data["location"] == "object storage" and answer.attempts == 1
    assert answer.usage.reasoning_tokens == 192


def test_no_response_format_where_the_backend_has_none(kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(rec("vllm_json_valid"))  # the shape does not matter here, only the request
        llm = OpenAICompatLLM("deepseek:deepseek-reasoner", base_url=server.url)
        answer = structured_answer(llm, Q, kb.search(Q, k=1), SCHEMA)
        [req] = server.requests
    assert "response_format" not in req.body and "JSON Schema" in req.body["messages"][0]["content"]
    assert answer.data["location"] == "object storage"


def test_cli_ask_schema(
    kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ossrag.cli import main

    schema_file = tmp_path / "storage_answer.json"
    schema_file.write_text(json.dumps(SCHEMA))
    common = [
        "--db",
        kb.settings.uri,
        "--kb",
        kb.name,
        "-m",
        "vllm:openai/gpt-oss-20b",
        "--schema",
        str(schema_file),
    ]
    with ReplayServer() as server:
        server.add(rec("vllm_json_valid"), rec("vllm_json_valid"))
        assert main(["ask", Q, *common, "--base-url", server.url, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert main(["ask", Q, *common, "--base-url", server.url]) == 0
        plain = json.loads(capsys.readouterr().out)
    assert data["data"] == plain and plain["location"] == "object storage"
    assert isinstance(data["answer"], str) and data["citations"][0]["n"] == 1
    assert main(["ask", Q, *common, "--agent"]) == 2  # not combinable (yet): a clear ConfigError
    assert "cannot be combined" in capsys.readouterr().err


# -- the real local model ---------------------------------------------------------------------------
@pytest.mark.isolated
@pytest.mark.llm
def test_local_smollm2_grammar_gives_valid_json(kb: KnowledgeBase, smollm2_path: Path) -> None:  # noqa: F811
    from ossrag.llms.local import LocalLLM

    llm = LocalLLM("local:smollm2", n_ctx=2048, n_threads=1)
    schema = {
        "type": "object",
        "properties": {"location": SCHEMA["properties"]["location"]},
        "required": ["location"],
    }
    answer = structured_answer(llm, Q, kb.search(Q, k=1), schema, max_tokens=48)
    assert validate(answer.data, with_citations(schema)) == []
    assert answer.data["location"] in SCHEMA["properties"]["location"]["enum"]
    assert all(c.valid == (c.n == 1) for c in answer.citations)
