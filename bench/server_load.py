"""Benchmark: ``ossrag serve`` under bounded load on loopback, with ingestion running.

    .venv/bin/python bench/server_load.py [--levels 1,2,4,8] [--requests 32] [--files 12]

One ``ossrag serve`` process (Milvus Lite in a temporary directory, the default
embedder, ``--max-concurrent`` as given: default 4 requests in flight per client), a
small knowledge base ``docs`` to query, and the answering model a recorded gpt-oss-20b
stream replayed on loopback (tests/replay_server.py: its near-zero generation time
leaves the server's own work to measure). At each concurrency level an ingestion job
posts ``--files`` new pages into another knowledge base (``load``), then ``c`` asyncio
clients (httpx) send ``--requests`` requests in total to ``/v1/search`` and then to
``/v1/chat/completions`` (non-streamed) on ``docs``, while the job runs.

Checked and printed per endpoint and level: answers by status (200; 429 is the
configured per-client limit and the only refusal allowed; anything else is an error),
p50/p95 latency of the 200s, requests/s, and whether the ingestion job was still
running when the level ended. At the end, with the server stopped, every row of
``load`` is read back from Milvus: no id twice, every page's chunks 0..n-1 present
exactly once, and the total equal to what the jobs reported writing (lost or
duplicated chunks would show here). Exit code 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import httpx  # noqa: E402

from ossrag.stores.milvus import MilvusStore  # noqa: E402
from replay_server import ReplayServer  # noqa: E402
from serve_process import ServeProcess  # noqa: E402
from server_kb import KB, build_kb, gpt_oss_stream  # noqa: E402

LOADED = "load"  # the knowledge base the ingestion jobs write
REPLAYED = "vllm:openai/gpt-oss-20b"
QUESTIONS = [
    "Where does a Milvus cluster store its data?",
    "What is Milvus Lite?",
    "How do I back up collections?",
    "How many processes may open a Lite file?",
]


class _Endless(list):  # type: ignore[type-arg]
    """A replay queue that always has the gpt-oss stream next."""

    def __bool__(self) -> bool:
        return True

    def pop(self, index: Any = -1) -> Any:
        return gpt_oss_stream()["response"]


@dataclass
class Level:
    endpoint: str
    concurrency: int
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    seconds: float = 0.0
    ingesting: bool = False

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code not in (200, 429))

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000 if lat else float("nan")
        total = sum(self.statuses.values())
        return (
            f"| {self.endpoint} | {self.concurrency} | {total} | {self.statuses[200]} | "
            f"{self.statuses[429]} | {self.errors} | {p50:.0f} | {p95:.0f} | "
            f"{total / self.seconds:.1f} | {'yes' if self.ingesting else 'no'} |"
        )


def page(level: int, i: int) -> str:
    """A page of ~10 sections (several chunks), unique per level and index."""
    sections = "\n\n".join(
        f"## Part {s}\n\n"
        + " ".join(
            f"Level {level} page {i} part {s} sentence {n} is about "
            "loading a server while it ingests."
            for n in range(6)
        )
        for s in range(10)
    )
    return f"# Load page {level}.{i}\n\n{sections}\n"


def _request(endpoint: str, n: int) -> dict[str, Any]:
    question = QUESTIONS[n % len(QUESTIONS)]
    if endpoint == "search":
        return {"query": question, "kb": KB, "k": 5}
    return {"model": KB, "messages": [{"role": "user", "content": question}]}


async def _level(base: str, endpoint: str, concurrency: int, requests: int) -> Level:
    path = "/v1/search" if endpoint == "search" else "/v1/chat/completions"
    level = Level(endpoint, concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def worker(w: int) -> None:
            for n in range(w, requests, concurrency):
                started = time.perf_counter()
                try:
                    resp = await http.post(path, json=_request(endpoint, n))
                    status = resp.status_code
                except httpx.HTTPError:
                    status = 0  # no answer at all: an error
                level.statuses[status] += 1
                if status == 200:
                    level.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        level.seconds = time.perf_counter() - started
    return level


def _post_job(base: str, level: int, files: int) -> str:
    parts = [
        ("files", (f"level{level}/page{i}.md", page(level, i).encode(), "text/markdown"))
        for i in range(files)
    ]
    posted = httpx.post(f"{base}/v1/ingest", data={"kb": LOADED}, files=parts, timeout=120)
    posted.raise_for_status()
    return str(posted.json()["id"])


def _job(base: str, job_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/v1/jobs/{job_id}", timeout=60).json())


def _wait_job(base: str, job_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(base, job_id)
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} did not finish")


def check_rows(db: str) -> dict[str, Any]:
    """Every row of ``load``: duplicates, incomplete pages and the total."""
    with MilvusStore(db) as store:
        rows = [r for batch in store.iter_rows(LOADED) for r in batch]
    ids = Counter(r["id"] for r in rows)
    by_source: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append((r["chunk_index"], r["chunk_count"]))
    broken = sorted(
        src
        for src, got in by_source.items()
        if sorted(i for i, _ in got) != list(range(got[0][1])) or len({n for _, n in got}) != 1
    )
    return {
        "rows": len(rows),
        "duplicate_ids": sum(n - 1 for n in ids.values() if n > 1),
        "sources": len(by_source),
        "broken_sources": broken,
    }


def run(
    levels: list[int], requests: int, files: int, max_concurrent: int = 4, tmp: Path | None = None
) -> dict[str, Any]:
    """The whole benchmark; returns the levels, the jobs and the row check."""
    with tempfile.TemporaryDirectory(dir=tmp) as work, ReplayServer() as replay:
        replay.queue = _Endless()
        settings = build_kb(Path(work), base_url=replay.url, model=REPLAYED)
        args = [
            "--db",
            settings.uri,
            "--kb",
            KB,
            "--model",
            REPLAYED,
            "--base-url",
            replay.url,
            "--max-concurrent",
            str(max_concurrent),
        ]
        results: list[Level] = []
        jobs: list[dict[str, Any]] = []
        with ServeProcess(args, log_dir=Path(work)) as server:
            # Warm-up, not counted: the first search loads the embedder.
            for endpoint in ("search", "chat"):
                asyncio.run(_level(server.base, endpoint, 1, 2))
            for c in levels:
                job_id = _post_job(server.base, c, files)
                for endpoint in ("search", "chat"):
                    level = asyncio.run(_level(server.base, endpoint, c, requests))
                    level.ingesting = _job(server.base, job_id)["status"] in ("queued", "running")
                    results.append(level)
                jobs.append(_wait_job(server.base, job_id))
        output = server.output()
        rows = check_rows(settings.uri)
    written = sum(j.get("report", {}).get("chunks_written", 0) for j in jobs)
    failed = [j for j in jobs if j["status"] != "done" or j["errors"]]
    ok = (
        not any(lv.errors for lv in results)
        and not failed
        and rows["duplicate_ids"] == 0
        and not rows["broken_sources"]
        and rows["rows"] == written
        and rows["sources"] == files * len(levels)
    )
    return {
        "levels": results,
        "jobs": jobs,
        "written": written,
        "rows": rows,
        "ok": ok,
        "server_output": output,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="1,2,4,8", help="concurrency levels (default 1,2,4,8)")
    ap.add_argument("--requests", type=int, default=32, help="requests per endpoint and level")
    ap.add_argument("--files", type=int, default=12, help="pages each level's job ingests")
    ap.add_argument(
        "--max-concurrent",
        type=int,
        default=4,
        help="the server's per-client limit (default 4, the server's default)",
    )
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    out = run(levels, args.requests, args.files, args.max_concurrent)
    print(
        f"ossrag serve --max-concurrent {args.max_concurrent}; {args.requests} requests per "
        f"endpoint and level; a job of {args.files} pages per level\n"
    )
    print(
        "| endpoint | clients | requests | 200 | 429 (limit) | errors | p50 ms | p95 ms "
        "| req/s | ingesting |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for level in out["levels"]:
        print(level.row())
    rows = out["rows"]
    print(
        f"\ningestion: {len(out['jobs'])} jobs, {out['written']} chunks reported written; "
        f"read back: {rows['rows']} rows in {rows['sources']} pages, "
        f"{rows['duplicate_ids']} duplicate ids, {len(rows['broken_sources'])} incomplete "
        f"pages; {'OK' if out['ok'] else 'FAILED'}"
    )
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
