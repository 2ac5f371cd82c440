"""The LLM judge of compared answers: its prompt, its messages, and reading its verdict.

    from ossrag.evaluation.judge import build_judge_messages, parse_verdict, run_judge

    messages = build_judge_messages("Where is data stored?", "In MinIO.", answer_text, passages)
    verdict, info = run_judge(judge_llm, messages)     # ({} , {"error": ...}) when it fails
    verdict["correct"], verdict["score"], verdict["faithfulness"], info["raw"]
    parse_verdict('{"correct": true, "score": 0.9, "faithfulness": 1, "reason": "ok"}')

The judge answers :data:`JUDGE_PROMPT` with one JSON object; :func:`parse_verdict`
also reads it fenced, after reasoning or as loose ``key: value`` text.  How the
verdict becomes scores is :func:`ossrag.evaluation.scoring.score_answer`'s job.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..llms.base import LLM, Message

__all__ = ["JUDGE_PROMPT", "build_judge_messages", "parse_verdict", "run_judge"]

#: The judge's prompt; ``{question}``, ``{reference}``, ``{passages}``, ``{answer}`` are filled in.
JUDGE_PROMPT = """You are grading an answer written by a retrieval-augmented assistant.

Question:
{question}

Reference answer (written by a person; may be empty):
{reference}

Passages the assistant was given, numbered as in its prompt:
{passages}

The assistant's answer:
{answer}

Grade two things.
1. correct: does the answer agree with the reference answer on what the question asks? Extra detail is fine when it does not contradict the reference. When the reference is empty, judge whether the answer correctly answers the question from the passages.
2. faithfulness: the fraction (0 to 1) of the answer's claims that are supported by the passages it cites, or by the passages given when it cites none.

Reply with one JSON object and nothing else:
{"correct": true or false, "score": a number from 0 to 1 (how correct), "faithfulness": a number from 0 to 1, "reason": "one short sentence"}"""


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so text inside an answer that looks like a placeholder is never expanded.
    return re.sub(
        r"\{(question|reference|passages|answer)\}", lambda m: values[m.group(1)], template
    )


def build_judge_messages(
    question: str, reference: str, answer: str, passages: Sequence[dict[str, Any]]
) -> list[Message]:
    """The judge's chat messages: :data:`JUDGE_PROMPT` filled in, as one user message."""
    shown = (
        "\n\n".join(
            f"[{i}] ({p.get('source', '')}{' — ' + p['heading'] if p.get('heading') else ''})\n"
            f"{str(p.get('text', '')).strip()}"
            for i, p in enumerate(passages, start=1)
        )
        or "(none)"
    )
    prompt = _fill(
        JUDGE_PROMPT,
        {
            "question": question,
            "reference": reference or "(none)",
            "passages": shown,
            "answer": answer or "(empty answer)",
        },
    )
    return [{"role": "user", "content": prompt}]


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced ``{...}`` in ``text`` that parses as a JSON object."""
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        depth, in_str, esc = 0, False, False
        for j in range(start, len(text)):
            ch = text[j]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        obj = json.loads(text[start : j + 1])
                    except ValueError:
                        break
                    if isinstance(obj, dict):
                        return obj
                    break
    return None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value >= 0.5
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "yes", "correct", "1"):
            return True
        if v in ("false", "no", "incorrect", "0"):
            return False
    return None


def _to_unit(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(x):
        return None
    if x > 1 and x <= 100:  # "score": 80 means 80 %
        x /= 100
    return min(1.0, max(0.0, x))


def parse_verdict(text: str) -> dict[str, Any]:
    """Read the judge's reply: JSON (possibly fenced or after reasoning), else ``key: value`` text.

    Returns ``{"correct": bool, "score": float, "faithfulness": float|None, "reason": str}``;
    raises ``ValueError`` when no verdict can be found.
    """
    cleaned = re.sub(r"<think>.*?</think>", "", text, flags=re.S)
    obj = _first_json_object(cleaned)
    if obj is None:
        # Loose fallback: `"correct": true` / `correct: false` written without valid JSON.
        obj = {}
        for key in ("correct", "score", "faithfulness"):
            m = re.search(rf'"?{key}"?\s*[:=]\s*"?([A-Za-z]+|[0-9.]+)', cleaned, re.I)
            if m:
                obj[key] = m.group(1)
        m = re.search(r'"?reason"?\s*[:=]\s*"?([^"\n}]*)', cleaned, re.I)
        if m:
            obj["reason"] = m.group(1).strip()
    obj = {str(k).lower(): v for k, v in obj.items()}
    correct = _to_bool(obj.get("correct"))
    score = _to_unit(obj.get("score"))
    if correct is None and score is None:
        raise ValueError(f"no verdict in the judge's reply: {text[:200]!r}")
    if correct is None:
        assert score is not None
        correct = score >= 0.5
    if score is None:
        score = 1.0 if correct else 0.0
    return {
        "correct": correct,
        "score": score,
        "faithfulness": _to_unit(obj.get("faithfulness")),
        "reason": str(obj.get("reason", "")).strip(),
    }


def run_judge(
    judge: LLM, messages: list[Message], lock: AbstractContextManager[Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask the judge; returns (verdict or {}, info with raw reply, usage and error)."""
    info: dict[str, Any] = {"model": judge.model}
    try:
        if lock is not None:
            with lock:
                completion = judge.complete(messages)
        else:
            completion = judge.complete(messages)
    except Exception as exc:  # a failed judge call is recorded, never fatal
        info["error"] = f"{type(exc).__name__}: {exc}"
        return {}, info
    info.update(
        raw=completion.text,
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
        cost=completion.usage.cost,
    )
    try:
        verdict = parse_verdict(completion.text)
    except ValueError as exc:
        info["error"] = str(exc)
        return {}, info
    info["reason"] = verdict["reason"]
    return verdict, info
