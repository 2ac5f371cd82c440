"""SQLite storage of comparison runs (``ossrag-runs.db`` by default).

    store = RunStore("ossrag-runs.db")
    run = store.latest_run()                       # a dict, or None
    rows = store.answers(run["id"])                # one dict per answer, JSON columns decoded
    store.close()

Three tables:

* ``runs``: one row per run: id, created, kb, uri, models, efforts, judge,
  template, versions (ossrag, python, pymilvus, openai, llama-cpp-python),
  the questions hash, all settings as JSON, and ``settings_key`` (a hash of the
  settings that decide the answers) so ``--resume`` can find the run to go on with.
* ``retrievals``: the hits retrieved once per question, and the question itself.
* ``answers``: one row per (question, model, effort): the exact prompt
  messages, answer, reasoning, citations, timings, tokens, cost, error, scores.

Every answer is committed as soon as it finishes, in WAL mode, so killing the
process loses at most the answers in flight; ``(run_id, qindex, model,
effort)`` is unique, so a resumed run can never answer anything twice. The
default effort (None) is stored as ``''`` because SQLite treats NULLs as
distinct in unique constraints.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..config import DEFAULT_RUNS_DB

__all__ = ["ANSWER_COLUMNS", "RunStore", "effort_key", "effort_label"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    kb TEXT,
    uri TEXT,
    models TEXT NOT NULL,          -- JSON list
    efforts TEXT NOT NULL,         -- JSON list (null = the model's default)
    judge TEXT,
    template TEXT,
    ossrag_version TEXT,
    versions TEXT,                 -- JSON: python, pymilvus, openai, llama-cpp-python, ...
    questions_hash TEXT,
    questions_file TEXT,
    settings TEXT NOT NULL,        -- JSON
    settings_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_settings_key ON runs(settings_key, created);
CREATE TABLE IF NOT EXISTS retrievals (
    run_id TEXT NOT NULL REFERENCES runs(id),
    qindex INTEGER NOT NULL,
    question TEXT NOT NULL,        -- JSON: question, reference, relevant, answerable, lang
    hits TEXT NOT NULL,            -- JSON list of Hit.to_dict()
    retrieve_s REAL,
    PRIMARY KEY (run_id, qindex)
);
CREATE TABLE IF NOT EXISTS answers (
    run_id TEXT NOT NULL REFERENCES runs(id),
    qindex INTEGER NOT NULL,
    model TEXT NOT NULL,
    effort TEXT NOT NULL DEFAULT '',
    messages TEXT,                 -- JSON: the exact prompt
    answer TEXT,
    reasoning TEXT,
    citations TEXT,                -- JSON list
    first_token_s REAL,
    total_s REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost REAL,
    cost_source TEXT,              -- provider | table | local | unknown
    finish_reason TEXT,
    complete INTEGER,
    warnings TEXT,                 -- JSON list
    error TEXT,
    scores TEXT,                   -- JSON
    steps TEXT,                    -- JSON list: agent mode's searches and reads
    created TEXT NOT NULL,
    PRIMARY KEY (run_id, qindex, model, effort)
);
"""

#: Columns of an answer row, in table order.
ANSWER_COLUMNS = (
    "run_id",
    "qindex",
    "model",
    "effort",
    "messages",
    "answer",
    "reasoning",
    "citations",
    "first_token_s",
    "total_s",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost",
    "cost_source",
    "finish_reason",
    "complete",
    "warnings",
    "error",
    "scores",
    "steps",
    "created",
)
_JSON_ANSWER = ("messages", "citations", "warnings", "scores", "steps")
_JSON_RUN = ("models", "efforts", "versions", "settings")


def effort_key(effort: str | None) -> str:
    """How an effort is stored: ``''`` for the model's default."""
    return effort or ""


def effort_label(effort: str | None) -> str:
    """How an effort is shown: ``default`` for the model's default."""
    return effort or "default"


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


class RunStore:
    """One SQLite file of runs; safe to share between threads (writes are serialised)."""

    def __init__(self, path: str | Path = DEFAULT_RUNS_DB) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the worker threads, guarded by a lock: SQLite has one
        # writer at a time anyway, and commits are tiny compared with a model call.
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            # Databases written before agent mode lack the steps column.
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(answers)")}
            if "steps" not in cols:
                self._conn.execute("ALTER TABLE answers ADD COLUMN steps TEXT")
            self._conn.commit()

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> None:
        """Insert a run row; ``run`` holds the ``runs`` columns (JSON ones as Python values)."""
        row = {k: (json.dumps(v) if k in _JSON_RUN else v) for k, v in run.items()}
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock:
            self._conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", row)
            self._conn.commit()

    def _run_row(self, row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        out = dict(row)
        for k in _JSON_RUN:
            out[k] = _loads(out.get(k))
        return out

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run_row(row)

    def latest_run(self, settings_key: str | None = None) -> dict[str, Any] | None:
        """The newest run, or the newest with these settings."""
        sql = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if settings_key is not None:
            sql += " WHERE settings_key = ?"
            args = (settings_key,)
        with self._lock:
            row = self._conn.execute(
                sql + " ORDER BY created DESC, rowid DESC LIMIT 1", args
            ).fetchone()
        return self._run_row(row)

    def list_runs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM runs ORDER BY created, rowid").fetchall()
        return [r for r in (self._run_row(row) for row in rows) if r is not None]

    # -- retrievals ---------------------------------------------------------------------------
    def save_retrieval(
        self,
        run_id: str,
        qindex: int,
        question: dict[str, Any],
        hits: list[dict[str, Any]],
        retrieve_s: float | None,
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO retrievals (run_id, qindex, question, hits, retrieve_s) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run_id,
                    qindex,
                    json.dumps(question, ensure_ascii=False),
                    json.dumps(hits, ensure_ascii=False),
                    retrieve_s,
                ),
            )
            self._conn.commit()

    def retrievals(self, run_id: str) -> dict[int, dict[str, Any]]:
        """qindex -> {question, hits, retrieve_s}."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM retrievals WHERE run_id = ? ORDER BY qindex", (run_id,)
            ).fetchall()
        return {
            r["qindex"]: {
                "question": _loads(r["question"]),
                "hits": _loads(r["hits"]),
                "retrieve_s": r["retrieve_s"],
            }
            for r in rows
        }

    # -- answers ------------------------------------------------------------------------------
    def save_answer(self, row: dict[str, Any]) -> None:
        """Write one answer row and commit at once (replaces an earlier error row)."""
        values = {k: row.get(k) for k in ANSWER_COLUMNS}
        values["effort"] = effort_key(values["effort"])
        for k in _JSON_ANSWER:
            if values[k] is not None:
                values[k] = json.dumps(values[k], ensure_ascii=False)
        if values["complete"] is not None:
            values["complete"] = int(bool(values["complete"]))
        cols = ", ".join(ANSWER_COLUMNS)
        marks = ", ".join(f":{k}" for k in ANSWER_COLUMNS)
        with self._lock:
            self._conn.execute(f"INSERT OR REPLACE INTO answers ({cols}) VALUES ({marks})", values)
            self._conn.commit()

    def done_keys(self, run_id: str) -> set[tuple[int, str, str]]:
        """(qindex, model, effort_key) answered without error: what a resumed run skips."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT qindex, model, effort FROM answers WHERE run_id = ? AND error IS NULL",
                (run_id,),
            ).fetchall()
        return {(r[0], r[1], r[2]) for r in rows}

    def answers(self, run_id: str) -> list[dict[str, Any]]:
        """Every answer row of a run, JSON decoded; ``effort`` is None for the default."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM answers WHERE run_id = ? ORDER BY qindex, model, effort", (run_id,)
            ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for k in _JSON_ANSWER:
                d[k] = _loads(d.get(k))
            d["effort"] = d["effort"] or None
            d["complete"] = None if d["complete"] is None else bool(d["complete"])
            out.append(d)
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
