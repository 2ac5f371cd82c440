"""Benchmark: what parsing PDFs in a killable child process costs, against parsing in-process.

    .venv/bin/python bench/pdf_isolation.py [--small N] [--large N] [--pages P]

ossrag runs pypdf in one child process per run (ossrag/ingest/parsers/pdf.py)
so that ``parse_timeout`` can stop a PDF that hangs the parser: a thread
cannot be killed.  Three ways are measured in the same run, on the same PDFs:

* in-process: pypdf called directly (the same extraction code, no time limit);
* persistent child (ossrag's choice): the PDF goes over a pipe to a process
  started once (its start, Python plus pypdf, is paid by the first PDF);
* a fresh child per PDF: the start is paid by every PDF.

It prints the first PDF's time, the median per PDF after it, and the ratio of
each median to in-process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' hand-written PDF writer

from ossrag.ingest.parsers import pdf  # noqa: E402
from ossrag.ingest.parsers._pdf_worker import _extract  # noqa: E402
from pdf_bytes import pdf_bytes  # noqa: E402

WORDS = [
    "Milvus",
    "stores",
    "vectors",
    "in",
    "segments",
    "and",
    "builds",
    "an",
    "index",
    "per",
    "segment",
    "so",
    "that",
    "searches",
    "stay",
    "fast",
    "while",
    "data",
    "is",
    "inserted",
]


def make_pdf(pages: int, lines: int = 40) -> bytes:
    """A PDF of ``pages`` pages of ``lines`` text lines each (FlateDecode streams)."""
    streams = []
    for p in range(pages):
        ops = [b"BT /F1 10 Tf 50 760 Td 12 TL"]
        for line in range(lines):
            words = " ".join(WORDS[(p + line + k) % len(WORDS)] for k in range(12))
            ops.append(b"(%s) '" % words.encode())
        ops.append(b"ET")
        streams.append(b"\n".join(ops))
    return pdf_bytes(streams, compress=True)


def run(
    label: str,
    parse: Callable[[bytes], object],
    data: bytes,
    n: int,
    before_each: Callable[[], None] | None = None,
) -> tuple[str, float, float]:
    times = []
    for _ in range(n):
        if before_each:
            before_each()
        t = time.perf_counter()
        parse(data)
        times.append(time.perf_counter() - t)
    return label, times[0], statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=40, help="1-page PDFs per mode (default 40)")
    ap.add_argument("--large", type=int, default=8, help="large PDFs per mode (default 8)")
    ap.add_argument("--pages", type=int, default=30, help="pages of the large PDF (default 30)")
    args = ap.parse_args()

    def in_process(data: bytes) -> object:
        return _extract(data)

    def child(data: bytes) -> object:
        return pdf.pdf_to_text(data, timeout=120)

    _extract(make_pdf(1))  # import pypdf in this process first: the in-process arm starts warm
    for name, data, n in (
        ("1 page", make_pdf(1), args.small),
        (f"{args.pages} pages", make_pdf(args.pages), args.large),
    ):
        pdf.shutdown_worker()
        rows = [
            run("in-process (no time limit)", in_process, data, n),
            run("persistent child (ossrag)", child, data, n),
        ]
        pdf.shutdown_worker()
        rows.append(
            run("fresh child per PDF", child, data, max(3, n // 4), before_each=pdf.shutdown_worker)
        )
        pdf.shutdown_worker()
        base = rows[0][2]
        print(f"\n{name} ({len(data) / 1024:.1f} KiB), median of the PDFs after the first:")
        print("| mode | first PDF (ms) | per PDF (ms) | vs in-process |")
        print("|---|---:|---:|---:|")
        for label, first, per in rows:
            print(f"| {label} | {first * 1e3:.1f} | {per * 1e3:.2f} | {per / base:.2f}x |")


if __name__ == "__main__":
    main()
