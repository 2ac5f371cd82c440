"""Check an in-process model for real: one short generation in a child process.

    result = probe_local_model("local:smollm2")
    result.ok, result.detail, result.hint     # True, '8 tokens in 0.4 s: "OK..."', None

A crash in llama.cpp's native code (for example its AMX path, see
:mod:`ossrag.llms.llama_params`) kills the process it happens in, so the
probe runs in a child: the caller survives and learns which signal it was.
``ossrag doctor`` uses it, so it says what is wrong instead of "all good".
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .llama_params import FIX_HINT, decide

__all__ = ["ProbeResult", "probe_local_model"]

_CHILD = r"""
import json, sys, time
from ossrag.errors import OssragError
try:
    from ossrag.llms.local import LocalLLM
    llm = LocalLLM(sys.argv[1], n_ctx=512)
    t = time.perf_counter()
    done = llm.complete([{"role": "user", "content": "Say OK."}], max_tokens=8, temperature=0)
    print(json.dumps({"text": done.text, "tokens": done.usage.completion_tokens,
                      "seconds": time.perf_counter() - t}))
except OssragError as exc:
    print(json.dumps({"error": exc.message, "hint": exc.hint}))
    sys.exit(3)
"""


@dataclass
class ProbeResult:
    """What one short generation in a child process showed."""

    ok: bool
    detail: str  # what happened, for one line of output
    hint: str | None = None  # how to fix it, when not ok
    seconds: float = 0.0  # wall time of the whole probe, model load included


def probe_local_model(spec: str, *, timeout: float = 300.0) -> ProbeResult:
    """Load ``spec`` (``local:...``) in a child process and generate a few tokens."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, spec],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(
            False,
            f"no answer within {timeout:.0f} s (model load and 8 tokens)",
            hint="is the machine very busy, or the model very large?",
            seconds=time.perf_counter() - t0,
        )
    elapsed = time.perf_counter() - t0
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        data = json.loads(last) if last.startswith("{") else {}
    except ValueError:
        data = {}
    bufts = decide()
    note = f"llama.cpp extra buffer types {'on' if bufts.extra_bufts else 'off'}: {bufts.reason}"
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        return ProbeResult(
            False,
            f"the model crashed ({name}) during a short generation; {note}"
            + (f"; stderr: {tail}" if tail else ""),
            hint=FIX_HINT,
            seconds=elapsed,
        )
    if proc.returncode != 0 or "error" in data:
        detail = data.get("error") or " ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        return ProbeResult(
            False, f"the model failed: {detail}", hint=data.get("hint"), seconds=elapsed
        )
    text = " ".join(str(data.get("text", "")).split())[:40]
    return ProbeResult(
        True,
        f"{data.get('tokens', 0)} tokens in {data.get('seconds', 0.0):.1f} s: {text!r} ({note})",
        seconds=elapsed,
    )
