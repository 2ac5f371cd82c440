"""Token prices, for the cost column of ``ossrag compare`` when the provider reports none.

    table = PriceTable.load("prices.toml")          # or PriceTable() for the built-in table
    cost, source = table.cost("openai:o4-mini", Usage(prompt_tokens=1200, completion_tokens=300))
    source                                          # 'table' ('provider', 'local' or 'unknown')

The provider's own figure wins: OpenRouter reports ``usage.cost`` in USD for
every request, and ossrag records it as is. Otherwise the cost is computed
from this table, in USD per million tokens (input, output). Reasoning tokens
are billed as output tokens and are already counted in ``completion_tokens``
(the OpenAI convention every listed server follows), so they are not added
again. Models served by yourself (``local:``, Ollama, vLLM, LM Studio,
llama.cpp) cost 0 unless the price file names them explicitly.

The built-in prices are list prices as published in mid-2025 and drift over
time; pass ``--prices FILE`` to use your own. The file is JSON or TOML and maps
a model (full model string, model id, or the id without its ``org/`` prefix)
to ``{"input": USD_PER_M, "output": USD_PER_M}`` or ``[input, output]``::

    # prices.toml
    "openai/gpt-oss-120b" = { input = 0.10, output = 0.50 }
    "vllm:openai/gpt-oss-20b" = [0.02, 0.10]     # your own GPU's cost
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import Usage

__all__ = ["DEFAULT_PRICES", "SELF_HOSTED_PROVIDERS", "PriceTable", "load_prices"]

#: USD per million tokens (input, output). Approximate mid-2025 list prices.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # gpt-oss: typical OpenRouter / Groq prices (they vary by upstream provider).
    "gpt-oss-120b": (0.15, 0.60),
    "gpt-oss-20b": (0.05, 0.20),
    # OpenAI reasoning models.
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    # DeepSeek R1: the API's deepseek-reasoner, and the open weights on OpenRouter.
    "deepseek-reasoner": (0.55, 2.19),
    "deepseek-r1": (0.55, 2.19),
    "deepseek-chat": (0.27, 1.10),
    # Qwen3 family (OpenRouter list prices).
    "qwen3-235b-a22b": (0.13, 0.60),
    "qwen3-32b": (0.10, 0.30),
    "qwen3-30b-a3b": (0.08, 0.29),
    "qwen3-14b": (0.06, 0.24),
    "qwen3-8b": (0.035, 0.14),
    "qwen3": (0.10, 0.30),  # any other qwen3 variant (prefix match)
}

#: Providers whose models run on the user's own hardware: no per-token bill.
SELF_HOSTED_PROVIDERS = frozenset({"local", "ollama", "vllm", "lmstudio", "llamacpp"})

_FAMILIES = ("qwen3",)

# Dated snapshots and routing suffixes that do not change the price.
_DATE_SUFFIX = re.compile(r"-(20\d\d-\d\d-\d\d|\d{4})$")
_ROUTE_SUFFIX = re.compile(r":(free|nitro|floor|thinking|beta|extended)$")


def _candidates(model: str) -> list[str]:
    """Keys to try for ``model``, most specific first."""
    model = model.strip().lower()
    prefix, sep, model_id = model.partition(":")
    if not sep or "/" in prefix:
        model_id = model
    out = [model, model_id]
    base = _ROUTE_SUFFIX.sub("", model_id)
    out.append(base)
    base = base.rsplit("/", 1)[-1]
    out.append(base)
    out.append(_DATE_SUFFIX.sub("", base))
    # Ollama tags: gpt-oss:20b -> gpt-oss-20b, qwen3:32b -> qwen3-32b.
    out.append(base.replace(":", "-"))
    seen: list[str] = []
    for c in out:
        if c and c not in seen:
            seen.append(c)
    return seen


def _provider_of(model: str) -> str:
    prefix, sep, _ = model.partition(":")
    return prefix.lower() if sep and "/" not in prefix else ""


def _parse_price(name: str, value: Any) -> tuple[float, float]:
    try:
        if isinstance(value, Mapping):
            return float(value["input"]), float(value["output"])
        if isinstance(value, list | tuple) and len(value) == 2:
            return float(value[0]), float(value[1])
    except (KeyError, TypeError, ValueError):
        pass
    raise ConfigError(
        f"bad price for {name!r}: {value!r}",
        hint='write {"input": USD_PER_MILLION, "output": USD_PER_MILLION} or [input, output]',
    )


def load_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read a JSON or TOML price file (see the module docstring)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the price file {p}: {exc}", hint="check the --prices path"
        ) from exc
    try:
        if p.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot parse the price file {p}: {exc}",
            hint="use JSON (.json) or TOML (.toml) mapping model -> {input, output} USD per million tokens",
        ) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"the price file {p} must map model names to prices")
    return {str(k).lower(): _parse_price(str(k), v) for k, v in data.items()}


@dataclass
class PriceTable:
    """Built-in prices, overridden by the user's; see :meth:`cost`."""

    overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    defaults: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        return cls(overrides=load_prices(path) if path else {})

    def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, or None when the model is unknown."""
        keys = _candidates(model)
        for key in keys:
            if key in self.overrides:
                return self.overrides[key]
        if _provider_of(model) in SELF_HOSTED_PROVIDERS:
            return (0.0, 0.0)
        for key in keys:
            if key in self.defaults:
                return self.defaults[key]
        # Family fallback ("qwen3-4b" -> "qwen3"); other unknown ids stay unknown rather than
        # borrowing a sibling's price (o3-pro is not o3, a distilled R1 is not R1).
        base = keys[-1]
        for family in _FAMILIES:
            if base.startswith(family) and family in self.defaults:
                return self.defaults[family]
        return None

    def cost(self, model: str, usage: Usage) -> tuple[float | None, str]:
        """(USD, source): the provider's reported cost, else the table's, else (None, 'unknown')."""
        if usage.cost is not None:
            return float(usage.cost), "provider"
        price = self.price(model)
        if price is None:
            return None, "unknown"
        if price == (0.0, 0.0) and _provider_of(model) in SELF_HOSTED_PROVIDERS:
            source = "local"
        else:
            source = "table"
        usd = (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
        return usd, source
