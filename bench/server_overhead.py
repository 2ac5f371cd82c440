"""Benchmark: what ``ossrag serve`` costs on top of the library, on loopback.

    .venv/bin/python bench/server_overhead.py [--requests 64] [--questions 8] [--max-tokens 8]

Ingests the Milvus FAQ (the shared corpus) into a temporary Milvus Lite file, then:

1. **/v1/search throughput.** Baseline: ``kb.search`` in this process, one query at a
   time. Then ``ossrag serve`` as its own process (``--max-concurrent`` high enough
   that the Guard never refuses) and 1, 4 and 16 concurrent clients (threads with
   their own ``httpx`` connection) sending the dev-set questions, ``--requests`` per
   level: requests/s, p50 and p95 latency.
2. **Time to first token on /v1/chat/completions** against ``kb.stream`` in-process,
   with the same KnowledgeBase, the same model and the same question, alternating
   which arm goes first per question, for two models: the bundled SmolLM2 in-process
   (llama.cpp reuses the prompt prefix of its previous call, so its KV cache is reset
   before every arm: both arms evaluate the whole prompt), and a recorded gpt-oss-20b
   stream replayed on loopback (tests/replay_server.py), whose near-zero generation
   time leaves the server's own cost to measure. The server runs on a thread of this
   process (one Milvus Lite file, one process), so the HTTP arm also pays for sharing
   the interpreter with its client: a pessimistic measure.

Prints the tables; the overhead is the median over questions of (server TTFT -
in-process TTFT), also as a ratio of the medians (target < 5% of TTFT).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from ossrag import KnowledgeBase  # noqa: E402
from ossrag.config import Settings  # noqa: E402
from ossrag.evaluation.corpora import milvus_docs  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "milvus_docs_questions.jsonl"
KB = "bench"
MODEL = "local:smollm2"
REPLAYED = "vllm:openai/gpt-oss-20b"  # answered by tests/replay_server.py
LEVELS = (1, 4, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(
    base: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"ossrag serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("ossrag serve did not become ready")


# -- 1. search throughput --------------------------------------------------------------------


def in_process_search(settings: Settings, questions: list[str], n: int) -> list[float]:
    with KnowledgeBase(settings=settings) as kb:
        kb.search("warm up", k=3)
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            kb.search(questions[i % len(questions)], k=3)
            times.append(time.perf_counter() - t0)
    return times


def load(base: str, questions: list[str], clients: int, total: int) -> tuple[float, list[float]]:
    """``total`` searches from ``clients`` threads; (wall seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                r = http.post(
                    f"{base}/v1/search",
                    json={"query": questions[i % len(questions)], "kb": KB, "k": 3},
                )
                dt = time.perf_counter() - t0
                r.raise_for_status()
                with lock:
                    latencies.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies


def search_bench(settings: Settings, questions: list[str], requests: int) -> None:
    base_times = in_process_search(settings, questions, requests)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("OSSRAG_API_KEY", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ossrag",
            "serve",
            "--port",
            str(port),
            "--db",
            settings.uri,
            "--kb",
            KB,
            "--max-concurrent",
            "64",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_ready(base, proc)
        load(base, questions, 1, 4)  # warm up: the embedder loads on the first search
        for clients in LEVELS:
            wall, lat = load(base, questions, clients, max(requests, 4 * clients))
            rows.append((clients, len(lat) / wall, statistics.median(lat), pct(lat, 0.95)))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    print(f"/v1/search, Milvus FAQ KB, k=3, hybrid, {requests}+ requests per level, loopback\n")
    print(f"{'clients':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    print(
        f"{'in-proc':>8} {1 / statistics.mean(base_times):8.1f} "
        f"{1000 * statistics.median(base_times):8.1f} {1000 * pct(base_times, 0.95):8.1f}"
        "   (kb.search, no HTTP)"
    )
    for clients, rps, p50, p95 in rows:
        print(f"{clients:8d} {rps:8.1f} {1000 * p50:8.1f} {1000 * p95:8.1f}")
    overhead = rows[0][2] - statistics.median(base_times)
    print(f"\nHTTP + JSON + thread hop at 1 client: {1000 * overhead:+.1f} ms per search (p50)\n")


# -- 2. time to first token ------------------------------------------------------------------


def serve_in_thread(settings: Settings) -> tuple[str, object, Callable[[], None]]:
    import uvicorn

    from ossrag.server import ServerConfig, create_app
    from ossrag.server.state import ServerState

    config = ServerConfig(port=free_port(), max_concurrent_per_client=64)
    state = ServerState(settings, config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, config, state),
            host="127.0.0.1",
            port=config.port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=60)

    return f"http://127.0.0.1:{config.port}", state, stop


def ttft_in_process(kb: KnowledgeBase, model: str, question: str, max_tokens: int) -> float:
    t0 = time.perf_counter()
    first = None
    for ev in kb.stream(question, model=model, max_tokens=max_tokens):
        if first is None and ev.type in ("text", "reasoning") and ev.delta:
            first = time.perf_counter() - t0
    return first if first is not None else float("nan")


def ttft_http(http: httpx.Client, base: str, model: str, question: str, max_tokens: int) -> float:
    body = {
        "model": f"{KB}@{model}",
        "stream": True,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": question}],
    }
    t0 = time.perf_counter()
    first = None
    with http.stream("POST", f"{base}/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if first is None and line.startswith("data: {"):
                delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta", {})
                if delta.get("content") or delta.get("reasoning"):
                    first = time.perf_counter() - t0
    return first if first is not None else float("nan")


def ttft_rows(
    state: object,
    base: str,
    model: str,
    questions: list[str],
    max_tokens: int,
    before_arm: Callable[[], None],
) -> list[tuple[float, float]]:
    kb = state.kb(KB)  # type: ignore[attr-defined]
    rows = []
    with httpx.Client(timeout=300) as http:
        before_arm()
        ttft_in_process(kb, model, "warm up", 2)
        before_arm()
        ttft_http(http, base, model, "warm up", 2)
        for i, q in enumerate(questions):
            arms = [
                ("lib", lambda q=q: ttft_in_process(kb, model, q, max_tokens)),
                ("http", lambda q=q: ttft_http(http, base, model, q, max_tokens)),
            ]
            got = {}
            for name, arm in arms if i % 2 == 0 else arms[::-1]:
                before_arm()
                got[name] = arm()
            rows.append((got["lib"], got["http"]))
    return rows


def report_ttft(title: str, rows: list[tuple[float, float]], unit: float, label: str) -> None:
    lib, http_ = (list(c) for c in zip(*rows, strict=True))
    print(title + "\n")
    print(f"{'arm':34} {'median ' + label:>10} {'min':>8} {'max':>8}")
    for name, col in (("kb.stream in-process", lib), ("POST /v1/chat/completions (SSE)", http_)):
        print(
            f"{name:34} {statistics.median(col) / unit:10.3f} {min(col) / unit:8.3f} "
            f"{max(col) / unit:8.3f}"
        )
    diffs = [h - x for x, h in zip(lib, http_, strict=True)]
    if len(diffs) <= 12:
        print("per question, server minus in-process (s): " + " ".join(f"{d:+.2f}" for d in diffs))
    print(
        "server overhead on time to first token: median "
        f"{1000 * statistics.median(diffs):+.1f} ms per question (p25 "
        f"{1000 * pct(diffs, 0.25):+.1f}, p75 {1000 * pct(diffs, 0.75):+.1f}); ratio of "
        f"medians {100 * (statistics.median(http_) / statistics.median(lib) - 1):+.1f}%\n"
    )


def ttft_bench(settings: Settings, questions: list[str], max_tokens: int, replays: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from replay_server import ReplayServer, load_recording  # a stdlib-only loopback replayer

    logging.getLogger("ossrag").setLevel(logging.ERROR)  # "--base-url is ignored" for local:
    recording = load_recording("vllm", "stream")
    with ReplayServer() as replay:
        base, state, stop = serve_in_thread(dataclasses.replace(settings, base_url=replay.url))
        try:
            llama = state.kb(KB).llm(MODEL)._llm  # type: ignore[attr-defined]
            smol = ttft_rows(state, base, MODEL, questions, max_tokens, llama.reset)
            gpt_oss = ttft_rows(
                state,
                base,
                REPLAYED,
                [questions[i % len(questions)] for i in range(replays)],
                max_tokens,
                lambda: replay.add(recording),
            )
        finally:
            stop()
    report_ttft(
        f"time to first token, SmolLM2-135M in-process, {len(smol)} questions, "
        f"max_tokens {max_tokens}, arms alternating, llama.cpp KV cache reset per arm",
        smol,
        1.0,
        "s",
    )
    report_ttft(
        f"time to first token, recorded gpt-oss-20b stream (vLLM) replayed on loopback, "
        f"{len(gpt_oss)} questions, arms alternating",
        gpt_oss,
        0.001,
        "ms",
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=64, help="searches per concurrency level")
    ap.add_argument("--questions", type=int, default=8, help="questions for the TTFT part")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--replays", type=int, default=40, help="questions with the replayed model")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-ttft", action="store_true")
    args = ap.parse_args()
    questions = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load({"uri": f"{tmp}/bench.db", "kb": KB, "model": MODEL}, env={})
        t0 = time.perf_counter()
        with KnowledgeBase(settings=settings) as kb:
            report = kb.ingest(str(milvus_docs(ROOT) / "en" / "faq"))
        print(f"ingested: {report.summary()} in {time.perf_counter() - t0:.0f} s\n")
        if not args.skip_search:
            search_bench(settings, questions, args.requests)
        if not args.skip_ttft:
            ttft_bench(settings, questions[: args.questions], args.max_tokens, args.replays)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
