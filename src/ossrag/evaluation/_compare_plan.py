"""A comparison's plan: its inputs checked, its backends made, its settings keyed.

    plan = make_plan(kb, questions, models=["local:smollm2"], efforts=["low"], judge=None,
                     concurrency=2, template="cited", max_tokens=None, search_kwargs={"k": 3},
                     prices=None, agent_steps=None)
    settle(plan, kb, prices=None, questions_file="questions.jsonl")
    plan.key, plan.planned, plan.tasks(done=set())

Everything is checked before anything is spent (cheapest check first, then the
backends, so a bad model string or a missing API key stops the run up front).
:data:`KEY_FIELDS` are the settings that decide the answers: two runs with the
same key are the same experiment, so one can resume the other.
Private to :mod:`ossrag.evaluation.compare`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..answering.run import TEMPLATES
from ..config import EFFORTS
from ..errors import ConfigError
from ..llms.base import LLM
from .pricing import PriceTable
from .runs import effort_key

__all__ = ["KEY_FIELDS", "Plan", "make_plan", "parse_efforts", "settle"]

# Settings that decide the answers: two runs with the same values are the same experiment.
KEY_FIELDS = (
    "kb",
    "uri",
    "models",
    "efforts",
    "judge",
    "template",
    "max_tokens",
    "search",
    "questions_hash",
    "agent",
)  # "agent" is only set (and keyed) in agent mode


def parse_efforts(value: str | Sequence[str | None] | None) -> list[str | None]:
    """``"low,high"`` -> ``["low", "high"]``; ``default``/``none``/empty -> None (the model's default)."""
    if value is None:
        return [None]
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str | None] = []
    for item in items:
        e = (item or "").strip().lower()
        norm = None if e in ("", "default", "none") else e
        if norm is not None and norm not in EFFORTS:
            raise ConfigError(f"unknown effort {item!r}", hint="use low, medium, high or default")
        if norm not in out:
            out.append(norm)
    return out or [None]


def _question_dict(q: Any) -> dict[str, Any]:
    """A question (``datasets.Question`` or a plain dict) as the JSON stored with the run."""
    get = q.get if isinstance(q, dict) else (lambda k, d=None: getattr(q, k, d))
    text = get("question")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(
            f"a question has no text: {q!r}", hint='each line needs "question": "..."'
        )
    relevant = get("relevant") or []
    return {
        "question": text,
        "reference": get("reference") or "",
        "relevant": [str(r) for r in relevant]
        if isinstance(relevant, list | tuple)
        else [str(relevant)],
        "answerable": get("answerable", True) is not False,
        "lang": get("lang") or None,
    }


@dataclass
class Plan:
    """A run's inputs, checked, with its backends made and its settings and key computed."""

    questions: list[dict[str, Any]]
    llms: dict[str, LLM]  # by model name, in the order given
    efforts: list[str | None]
    judge: LLM | None
    template: str
    max_tokens: int | None
    search: dict[str, Any]
    prices: PriceTable
    concurrency: int
    agent_steps: int | None  # None: plain answers from the retrieved passages
    settings: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @property
    def models(self) -> list[str]:
        return list(self.llms)

    @property
    def planned(self) -> int:
        return len(self.questions) * len(self.llms) * len(self.efforts)

    def tasks(self, done: set[tuple[int, str, str]]) -> list[tuple[int, str, str | None]]:
        """Every (question, model, effort) not in ``done``, question by question."""
        return [
            (qi, m, e)
            for qi in range(len(self.questions))
            for m in self.llms
            for e in self.efforts
            if (qi, m, effort_key(e)) not in done
        ]


def _make_llms(kb: Any, models: Sequence[str | LLM]) -> dict[str, LLM]:
    """Every backend up front, in this thread: a bad model string or a missing API key
    stops the run before anything is spent, and the KB's LLM cache is not shared by threads.
    Ready-made LLM objects are accepted too (e.g. each pointed at its own --base-url)."""
    llms: dict[str, LLM] = {}
    for m in models:
        if isinstance(m, str) and not m.strip():
            continue
        llm = kb.llm(m.strip()) if isinstance(m, str) else m
        if llm.model in llms:
            raise ConfigError(f"model {llm.model!r} is listed twice", hint="list each model once")
        llms[llm.model] = llm
    return llms


def make_plan(
    kb: Any,
    questions: Sequence[Any],
    *,
    models: Sequence[str | LLM],
    efforts: Sequence[str | None] | None,
    judge: str | LLM | None,
    concurrency: int,
    template: str,
    max_tokens: int | None,
    search_kwargs: dict[str, Any] | None,
    prices: PriceTable | str | Path | None,
    agent_steps: int | None,
) -> Plan:
    """Check the inputs (cheapest first) and make the backends; raises :class:`ConfigError`."""
    if not [m for m in models if not isinstance(m, str) or m.strip()]:
        raise ConfigError("no models to compare", hint="pass --models M1,M2 (e.g. local:smollm2)")
    effort_list = parse_efforts(efforts)
    if template not in TEMPLATES:
        raise ConfigError(
            f"unknown template {template!r}", hint=f"use one of {', '.join(TEMPLATES)}"
        )
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    qdicts = [_question_dict(q) for q in questions]
    if not qdicts:
        raise ConfigError("the question file has no questions", hint="one JSON object per line")
    price_table = prices if isinstance(prices, PriceTable) else PriceTable.load(prices)
    llms = _make_llms(kb, models)
    judge_llm = (kb.llm(judge) if isinstance(judge, str) else judge) if judge else None
    return Plan(
        questions=qdicts,
        llms=llms,
        efforts=effort_list,
        judge=judge_llm,
        template=template,
        max_tokens=max_tokens,
        search=dict(search_kwargs or {}),
        prices=price_table,
        concurrency=concurrency,
        agent_steps=agent_steps,
    )


def settle(
    plan: Plan,
    kb: Any,
    *,
    prices: PriceTable | str | Path | None,
    questions_file: str | Path | None,
) -> None:
    """Fill ``plan.settings`` and ``plan.key``: the key covers only what decides the answers."""
    canon = json.dumps(plan.questions, sort_keys=True, ensure_ascii=False).encode("utf-8")
    settings: dict[str, Any] = {
        "kb": kb.name,
        "uri": kb.settings.uri,
        "models": plan.models,
        "efforts": plan.efforts,
        "judge": plan.judge.model if plan.judge is not None else None,
        "template": plan.template,
        "max_tokens": plan.max_tokens,
        "search": plan.search,
        "questions_hash": hashlib.sha256(canon).hexdigest()[:16],
    }
    if (
        plan.agent_steps is not None
    ):  # absent otherwise, so the keys of runs without --agent do not change
        settings["agent"] = {"max_steps": plan.agent_steps}
    plan.key = hashlib.sha256(
        json.dumps({k: settings[k] for k in KEY_FIELDS if k in settings}, sort_keys=True).encode()
    ).hexdigest()[:16]
    file_hash = None
    if questions_file and Path(questions_file).is_file():
        file_hash = hashlib.sha256(Path(questions_file).read_bytes()).hexdigest()[:16]
    settings.update(
        concurrency=plan.concurrency,
        questions=len(plan.questions),
        base_urls={m: getattr(llm, "base_url", None) for m, llm in plan.llms.items()},
        questions_file=str(questions_file) if questions_file else None,
        questions_file_sha256=file_hash,
        judge_base_url=getattr(plan.judge, "base_url", None),
        prices=str(prices) if isinstance(prices, str | Path) else None,
        embedder=getattr(getattr(kb, "embedder", None), "name", None),
    )
    plan.settings = settings
