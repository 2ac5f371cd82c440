"""Benchmark: query latency and recall@10 at 10k, 100k and 1M chunks, on Milvus Lite and a server.

    nice python bench/milvus_scale.py --sizes 10000,100000 --targets lite
    nice python bench/milvus_scale.py --sizes 10000,100000,1000000 --targets lite,server
    nice python bench/milvus_scale.py --sizes 100000 --targets lite --lite-indexes FLAT,HNSW,IVF_FLAT

Vectors are precomputed, not embedded: real embeddings of the Milvus docs
(the default embedder, ~2,000 chunks, cached in ``bench/results/``) are the
topic centres, and each synthetic chunk is a centre plus Gaussian noise
(cosine ~0.85 to it), so the data has the clustered, anisotropic shape of
real embeddings rather than uniform noise, at any size. Each chunk's text is
60 words drawn Zipf-like from a 20,000-word vocabulary plus two words of its
topic, so BM25 has postings lists of realistic lengths. Queries are new points
near random centres (and two of the centre's words plus a common word).

For each target and size: rows written through ``MilvusStore.upsert`` (the
ossrag schema: BM25 field included where the target has BM25), then for dense,
BM25 and hybrid (``ossrag.retrieval.retrieve``, weighted fusion, the defaults)
the p50/p95 latency of one query (vector given, so no embedding) and recall@10
against exact search: numpy inner products for dense, and for hybrid the same
fusion fed with the exact dense candidates and Milvus' BM25 list (which is
exact). Milvus 2.3 (the ``server`` extra) has no BM25, so hybrid there is n/a.

``--lite-indexes`` measures alternatives to Milvus Lite's FLAT (HNSW and
IVF_FLAT through faiss, Lite's ANN backend), each in its own collection.
``--server`` starts a loopback Milvus server (as the tests do) when no
``--uri`` is given. Not a test: it prints a table (and ``--json`` results).
Long runs: niced, in the background.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
RESULTS = HERE / "results"

K = 10
VOCAB = 20_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (a partial sort: 1M rows stay cheap)."""
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part])]


def seed_vectors(n: int = 2000) -> np.ndarray:
    """Real embeddings of the first ``n`` chunks of the Milvus docs (cached)."""
    from ossrag.config import Settings
    from ossrag.embedders import make_embedder
    from ossrag.evaluation.corpora import milvus_docs
    from ossrag.ingest.chunking import chunk_document
    from ossrag.ingest.loaders import discover
    from ossrag.ingest.parsers import parse
    from ossrag.types import RawSource

    emb = make_embedder(Settings.load().embedder)  # the default embedder
    path = RESULTS / f"scale_seeds_{emb.name.replace(':', '_')}_{n}.npy"
    if path.exists():
        return np.load(path)
    texts: list[str] = []
    for item in discover(str(milvus_docs(HERE.parent)), include=["en/**/*.md"]):
        if isinstance(item, RawSource):
            texts += [c.embed_text for c in chunk_document(parse(item))]
        if len(texts) >= n:
            break
    print(f"embedding {n} seed chunks with {emb.name} (cached in {path})", file=sys.stderr)
    vecs = emb.embed_documents(texts[:n])
    RESULTS.mkdir(exist_ok=True)
    np.save(path, vecs)
    return vecs


class Data:
    """The synthetic corpus of ``n`` chunks, generated in pages (never all rows at once)."""

    def __init__(self, n: int, seeds: np.ndarray, seed: int = 11) -> None:
        self.n, self.seeds, self.dim = n, seeds, seeds.shape[1]
        self.sigma = math.sqrt(1 / 0.85**2 - 1)  # E[cos(point, centre)] ~ 0.85
        rng = np.random.default_rng(seed)
        self.topic = rng.integers(len(seeds), size=n)
        self.vectors = np.empty((n, self.dim), dtype=np.float32)
        for s in range(0, n, 100_000):
            e = min(n, s + 100_000)
            noise = rng.standard_normal((e - s, self.dim)).astype(np.float32) / math.sqrt(self.dim)
            v = seeds[self.topic[s:e]] + self.sigma * noise
            self.vectors[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
        self.rng = rng
        ranks = np.arange(1, VOCAB + 1)
        self.word_p = (1 / ranks) / (1 / ranks).sum()

    def text(self, i: int, rng: np.random.Generator) -> str:
        words = rng.choice(VOCAB, size=60, p=self.word_p)
        t = self.topic[i]
        return " ".join([f"topic{t}a", f"topic{t}b", *(f"w{w}" for w in words)])

    def pages(self, size: int = 2000) -> Any:
        rng = np.random.default_rng(5)
        for s in range(0, self.n, size):
            rows = []
            for i in range(s, min(self.n, s + size)):
                text = self.text(i, rng)
                rows.append(
                    {
                        "id": f"c{i}",
                        "text": text,
                        "vector": self.vectors[i],
                        "source": f"gen/p{i // 25}.md",
                        "origin": "/bench",
                        "heading": f"Page {i // 25} > Section {i % 25}",
                        "chunk_index": i % 25,
                        "content_hash": "",
                        "source_hash": "h",
                        "chunk_count": 25,
                        "metadata": {},
                    }
                )
            yield rows

    def queries(self, count: int) -> tuple[np.ndarray, list[str]]:
        rng = np.random.default_rng(99)
        centres = rng.integers(len(self.seeds), size=count)
        noise = rng.standard_normal((count, self.dim)).astype(np.float32) / math.sqrt(self.dim)
        q = self.seeds[centres] + self.sigma * noise
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        texts = [f"topic{c}a topic{c}b w{rng.integers(50)}" for c in centres]
        return q.astype(np.float32), texts


class GivenVector:
    """An 'embedder' that answers the query vectors prepared for the benchmark."""

    name, dim, batch_size = "bench-precomputed", 0, 1

    def __init__(self) -> None:
        self.vector: np.ndarray | None = None

    def embed_query(self, text: str) -> np.ndarray:
        assert self.vector is not None
        return self.vector

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


def load(store: Any, kb: str, data: Data, index: dict[str, Any] | None) -> float:
    """Write every row; wait until Milvus has flushed and indexed them. Returns seconds."""
    import ossrag.stores.milvus.store as store_mod

    if index is not None:
        saved = store_mod.LITE_INDEX
        store_mod.LITE_INDEX = index
    try:
        store.drop(kb, missing_ok=True)
        store.ensure_collection(kb, embedder="bench-precomputed", dim=data.dim)
    finally:
        if index is not None:
            store_mod.LITE_INDEX = saved
    t0 = time.perf_counter()
    for page in data.pages():
        store.upsert(kb, page)
    store.flush(kb)
    name = store.collection_name(kb)
    deadline = time.monotonic() + 7200
    while time.monotonic() < deadline:  # index builds run in the background
        with store._call("describe_index", kb) as c:
            info = c.describe_index(name, "vector") or {}
        if (
            int(info.get("pending_index_rows", 0) or 0) == 0
            and int(info.get("indexed_rows", data.n) or 0) >= data.n
        ):
            break
        time.sleep(2)
    with store._call("load", kb) as c:  # searches must see the indexed segments
        c.release_collection(name)
        c.load_collection(name, timeout=3600)
    return time.perf_counter() - t0


def server_rss_mb() -> float | None:
    """Resident memory of the local ``milvus run standalone`` process, if there is one."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if len(cmd) > 2 and cmd[0].endswith(b"milvus") and cmd[1:3] == [b"run", b"standalone"]:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return None


def dir_mb(path: str) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def measure(
    store: Any,
    kb: str,
    data: Data,
    n_queries: int,
    search_params: dict[str, Any] | None,
) -> dict[str, Any]:
    from ossrag.retrieval import RetrievalOptions, fuse_weighted, retrieve
    from ossrag.retrieval.lexical import keyword_query
    from ossrag.types import Hit

    qvecs, qtexts = data.queries(n_queries)
    exact = qvecs @ data.vectors.T
    out: dict[str, Any] = {}
    emb = GivenVector()
    modes = ["dense"] + (["bm25", "hybrid"] if store.capabilities.bm25 else [])
    for mode in modes:
        lat, recall = [], []
        for qi in range(n_queries):
            emb.vector = qvecs[qi]
            t = time.perf_counter()
            if mode == "dense" and search_params is not None:
                hits = dense_with(store, kb, qvecs[qi], search_params)
            elif mode == "bm25":
                hits = store.search_bm25(kb, keyword_query(qtexts[qi]), k=K)
            else:
                hits = retrieve(
                    store,
                    kb,
                    emb,
                    qtexts[qi],  # type: ignore[arg-type]
                    RetrievalOptions(k=K, mode=mode),
                    query_vector=qvecs[qi],
                )
            lat.append((time.perf_counter() - t) * 1000)
            got = {h.id for h in hits[:K]}
            if mode == "dense":
                want = {f"c{j}" for j in top_k(exact[qi], K)}
            elif mode == "hybrid":
                top = top_k(exact[qi], 40)
                dense = [
                    Hit(id=f"c{j}", score=float(exact[qi, j]), text="", source="") for j in top
                ]
                sparse = store.search_bm25(kb, keyword_query(qtexts[qi]), k=40)
                want = {h.id for h in fuse_weighted(dense, sparse, dense_weight=0.7)[:K]}
            else:
                want = got  # Milvus' BM25 is exact
            recall.append(len(got & want) / K)
        out[mode] = {
            "p50": statistics.median(lat),
            "p95": pct(lat, 0.95),
            "recall": statistics.mean(recall),
        }
    return out


_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"lite": {}, "server": {"ef": 512}}  # ossrag's


def dense_with(store: Any, kb: str, vec: np.ndarray, params: dict[str, Any]) -> list[Any]:
    """A dense search with explicit index parameters (the alternatives' ef / nprobe)."""
    from ossrag.stores.milvus._rows import to_hit

    with store._call("search", kb) as c:
        res = c.search(
            store.collection_name(kb),
            data=[vec],
            anns_field="vector",
            limit=K,
            output_fields=["text"],
            search_params={"metric_type": "IP", "params": params},
            consistency_level=store.read_levels.level,
        )
    return [to_hit(h["id"], float(h["distance"]), h.get("entity") or {}) for h in res[0]]


LITE_ALTERNATIVES = {
    "FLAT": (None, None),
    "HNSW": ({"index_type": "HNSW", "params": {"M": 32, "efConstruction": 200}}, {"ef": 256}),
    "IVF_FLAT": ({"index_type": "IVF_FLAT", "params": {"nlist": 0}}, {"nprobe": 32}),
}


def run(args: argparse.Namespace, uri_for: Any) -> list[dict[str, Any]]:
    from ossrag.stores.milvus import MilvusStore

    seeds = seed_vectors()
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        data = Data(n, seeds)
        nq = args.queries if n < 1_000_000 else args.queries_large
        for target in args.targets.split(","):
            indexes = args.lite_indexes.split(",") if target == "lite" else ["default"]
            for name in indexes:
                index, params = LITE_ALTERNATIVES.get(name, (None, None))
                if index is not None and index["index_type"] == "IVF_FLAT":
                    index = {**index, "params": {"nlist": int(4 * math.sqrt(n))}}
                store = MilvusStore(
                    uri_for(target, n, name), timeout=600, consistency=args.consistency
                )
                try:
                    print(
                        f"[{time.strftime('%X')}] {target} {name} {n}: loading",
                        file=sys.stderr,
                        flush=True,
                    )
                    load_s = load(store, "scale", data, index)
                    info = store.info("scale")
                    r = measure(store, "scale", data, nq, params)
                    size = (
                        {"server_rss_mb": server_rss_mb()}
                        if target == "server"
                        else {"lite_dir_mb": dir_mb(store.uri)}
                    )
                    results.append(
                        {
                            "target": target,
                            "index": info.index,
                            "n": n,
                            "queries": nq,
                            "consistency": store.read_levels.level,
                            "load_s": load_s,
                            **size,
                            **r,
                        }
                    )
                    print(
                        f"[{time.strftime('%X')}] {json.dumps(results[-1])}",
                        file=sys.stderr,
                        flush=True,
                    )
                    store.drop("scale")
                finally:
                    store.close()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--targets", default="lite,server")
    ap.add_argument("--lite-indexes", default="FLAT")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument(
        "--consistency",
        default="Session",
        help="the store's read level (ossrag's default: Session), e.g. Strong, Bounded",
    )
    ap.add_argument("--queries-large", type=int, default=20, help="queries at 1M chunks and more")
    ap.add_argument(
        "--uri", default=None, help="the server (default: start one with --targets server)"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ossrag-scale-") as tmp:

        def uri_for(target: str, n: int, name: str) -> str:
            return str(Path(tmp) / f"{name}_{n}.db") if target == "lite" else args.uri

        if "server" in args.targets and not args.uri:
            from _milvus_server import milvus_server

            with milvus_server() as uri:
                args.uri = uri
                results = run(args, uri_for)
        else:
            results = run(args, uri_for)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print("| target | index | chunks | mode | p50 ms | p95 ms | recall@10 | load s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for mode in ("dense", "bm25", "hybrid"):
            if mode in r:
                m = r[mode]
                print(
                    f"| {r['target']} | {r['index']} | {r['n']} | {mode} | {m['p50']:.1f} | "
                    f"{m['p95']:.1f} | {m['recall']:.3f} | {r['load_s']:.0f} |"
                )
            elif mode == "hybrid" and r["target"] == "server":
                print(
                    f"| {r['target']} | {r['index']} | {r['n']} | hybrid | n/a (no BM25 "
                    f"before Milvus 2.5) | | | |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
