"""The table of a garak run (its ``*.report.jsonl``): attempts, hits and hit rate per probe.

    python bench/garak_summary.py bench/results/garak/ossrag.report.jsonl
    python bench/garak_summary.py REPORT --examples 3     # and a few hits per probe, to read

garak writes one ``eval`` entry per (probe, detector) with ``passed``/``fails``
counts; a "fail" is an output the detector scored as a successful attack (at or
above the run's threshold, 0.5). ``hit rate`` is fails / evaluated. The
examples come from the ``attempt`` entries: the probe's prompt (shortened) and
the answer that scored.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _text(message: Any) -> str:
    """garak's Message / Conversation shapes, as plain text."""
    if isinstance(message, dict):
        if "turns" in message:
            return "\n".join(_text(t.get("content")) for t in message["turns"])
        return str(message.get("text") or "")
    return "" if message is None else str(message)


def _short(text: str, n: int = 160) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def summary(path: Path, examples: int = 0) -> None:
    evals = [e for e in entries(path) if e.get("entry_type") == "eval"]
    print("| probe | detector | evaluated | hits | hit rate |")
    print("|---|---|---|---|---|")
    total = hits = 0
    for e in evals:
        n, k = e.get("total_evaluated", 0), e.get("fails", 0)
        total, hits = total + n, hits + k
        rate = f"{100 * k / n:.0f}%" if n else "-"
        print(f"| {e['probe']} | {e['detector']} | {n} | {k} | {rate} |")
    if total:
        print(f"| **all** | | {total} | {hits} | {100 * hits / total:.0f}% |")
    if not examples:
        return
    shown: dict[str, int] = {}
    for a in entries(path):
        if a.get("entry_type") != "attempt" or a.get("status") != 2:
            continue
        probe = a.get("probe_classname", "")
        for det, scores in (a.get("detector_results") or {}).items():
            for i, score in enumerate(scores):
                if score is None or score < 0.5 or shown.get(probe, 0) >= examples:
                    continue
                shown[probe] = shown.get(probe, 0) + 1
                outputs = a.get("outputs") or []
                answer = _text(outputs[i]) if i < len(outputs) else ""
                print(
                    f"\n{probe} / {det} ({score:.2f})\n  prompt: {_short(_text(a.get('prompt')))}"
                    f"\n  answer: {_short(answer, 300)}"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--examples", type=int, default=0, help="hits shown per probe")
    args = ap.parse_args()
    summary(args.report, args.examples)


if __name__ == "__main__":
    main()
