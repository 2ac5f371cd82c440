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

The run's plan (inputs checked, settings keyed) is in :mod:`._compare_plan`, what
it stores besides the answers in :mod:`._compare_record`, and one answer, scored,
in :mod:`._compare_answer`; this module runs them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DEFAULT_RUNS_DB
from ..errors import ConfigError
from ..llms.base import LLM
from ..types import Hit
from ._compare_answer import Counter, answer_one, make_agent
from ._compare_plan import Plan, make_plan, parse_efforts, settle
from ._compare_record import create_run, resolve_run, retrieve_once
from .pricing import PriceTable
from .runs import RunStore
from .scoring import summarize

__all__ = ["DEFAULT_DB", "RunSummary", "parse_efforts", "run_compare"]

DEFAULT_DB = DEFAULT_RUNS_DB


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


def _provider(model: str) -> str:
    prefix, sep, _ = model.partition(":")
    return prefix if sep else "openai-compatible"


def _answer_all(
    kb: Any,
    store: RunStore,
    rid: str,
    plan: Plan,
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
    store: RunStore, rid: str, plan: Plan, counter: Counter, skipped: int, started: float
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
    plan = make_plan(
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
    settle(plan, kb, prices=prices, questions_file=questions_file)
    if not kb.store.exists(kb.name):
        raise ConfigError(
            f"knowledge base {kb.name!r} does not exist in {kb.settings.uri}",
            hint="ingest documents first (ossrag ingest DOCS --kb NAME) or pick it with --kb/--db",
        )

    store = RunStore(db_path)
    try:
        rid, new = resolve_run(store, run_id, resume, plan.settings, plan.key)
        if new:
            create_run(store, rid, plan)
        if report is not None:
            report(f"run {rid} ({'new' if new else 'resumed'}) in {store.path}")
        hits_by_q = retrieve_once(store, rid, kb, plan)
        tasks = plan.tasks(store.done_keys(rid))
        counter = Counter(len(tasks), report)
        _answer_all(kb, store, rid, plan, hits_by_q, tasks, counter)
        return _summary(store, rid, plan, counter, plan.planned - len(tasks), started)
    finally:
        store.close()
