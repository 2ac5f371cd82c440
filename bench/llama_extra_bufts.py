"""llama.cpp speed with and without extra buffer types (weight repacking), in one run.

ossrag turns llama.cpp's extra buffer types off on CPUs with AMX, where they
crash (src/ossrag/llms/llama_params.py). This measures what they are worth
where they do not crash, to decide whether to keep them on elsewhere:

    python bench/llama_extra_bufts.py                       # the bundled SmolLM2
    python bench/llama_extra_bufts.py --model /path/a.gguf --model /path/b.gguf --rounds 5

Each measurement runs in a fresh process (the setting applies when a model is
loaded), the two settings alternate round by round so that machine load hits
both alike, and the table shows medians: prompt processing (a ~300-token
prompt) and generation (64 greedy tokens) in tokens/s, and the ratio off/on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, os, sys, time
import llama_cpp
from ossrag.llms import llama_params
decision = llama_params.apply(llama_cpp)
path, threads = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                      seed=0, verbose=False)
text = ("Milvus is a vector database built for scalable similarity search. " * 30).strip()
tokens = llm.tokenize(text.encode(), add_bos=True)[:300]
llm.reset()
t = time.perf_counter(); llm.eval(tokens); pp = len(tokens) / (time.perf_counter() - t)
n, t = 0, time.perf_counter()
for tok in llm.generate(tokens[:16], temp=0.0, reset=True):
    n += 1
    if n >= 64:
        break
tg = n / (time.perf_counter() - t)
print(json.dumps({"pp": pp, "tg": tg, "extra_bufts": decision.extra_bufts,
                  "applied": decision.applied}))
"""


def measure(model: str, setting: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "OSSRAG_LLAMA_EXTRA_BUFTS": setting}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(threads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(
            f"{model} with extra bufts {setting}: exit {out.returncode}\n{out.stderr[-2000:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bundled_model() -> str:
    from ossrag.llms.local import bundled_model_path

    return str(bundled_model_path())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="GGUF path (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    models = args.model or [bundled_model()]
    from ossrag.llms.llama_params import cpu_flags

    amx = sorted(f for f in cpu_flags() if f.startswith("amx"))
    print(
        f"CPU: {platform.processor() or platform.machine()}, AMX flags: {', '.join(amx) or 'none'}, "
        f"threads {args.threads}, rounds {args.rounds}\n"
    )
    print("| model | extra bufts | prompt tok/s | gen tok/s |")
    print("|---|---|---|---|")
    for model in models:
        runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
        for r in range(args.rounds):
            for setting in ("on", "off") if r % 2 == 0 else ("off", "on"):
                runs[setting].append(measure(model, setting, args.threads))
        med = {
            s: {k: statistics.median(x[k] for x in v) for k in ("pp", "tg")}
            for s, v in runs.items()
        }
        name = Path(model).name
        for s in ("on", "off"):
            print(f"| {name} | {s} | {med[s]['pp']:.1f} | {med[s]['tg']:.1f} |")
        print(
            f"| {name} | off/on | {med['off']['pp'] / med['on']['pp']:.2f}x | "
            f"{med['off']['tg'] / med['on']['tg']:.2f}x |"
        )


if __name__ == "__main__":
    main()
