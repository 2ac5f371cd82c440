"""Safe llama.cpp model parameters on every CPU: where ossrag works around the AMX crash.

On Intel CPUs with AMX (Sapphire Rapids and later, flags ``amx_tile`` /
``amx_int8`` / ``amx_bf16``), llama.cpp repacks quantised weights into its AMX
"extra buffer type" at load time, and ``ggml_backend_amx_mul_mat`` then
segfaults on the first decode of a prompt longer than one token
(ggml-org/llama.cpp#20824, closed as stale without a fix; stanfordnlp/dspy#10079
dropped the AMX backend for the same reason). The model parameter
``use_extra_bufts = false`` keeps the weights in plain CPU buffers and avoids
that path; ``llama_cpp.Llama()`` has no keyword for it, so ossrag sets it on
the parameters llama-cpp-python starts from::

    import llama_cpp
    from ossrag.llms.llama_params import apply

    decision = apply(llama_cpp)      # before llama_cpp.Llama(...) is constructed
    decision.extra_bufts, decision.reason

``OSSRAG_LLAMA_EXTRA_BUFTS`` decides: ``auto`` (default: off on CPUs with AMX,
on elsewhere), ``on`` or ``off``. Measured on an AMD EPYC without AMX
(``bench/llama_extra_bufts.py``, docs/benchmarks.md): the CPU repacking that
extra buffer types enable made Gemma 3 270M (Q4_K_M) 5% faster on prompts and
11% faster generating, and changed nothing for SmolLM2 (Q4_1, which is not
repacked), so ``auto`` keeps them where they work and turns them off only on
AMX CPUs, where they crash.

Version tolerance: llama-cpp-python builds whose ``llama_model_params`` has no
``use_extra_bufts`` field predate the setting; :func:`apply` then changes
nothing and says so in ``reason`` (those builds may still crash on AMX: the
other known fix is building with ``CMAKE_ARGS="-DGGML_AMX_INT8=OFF"``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "AMX_FLAGS",
    "ENV",
    "FIX_HINT",
    "Decision",
    "apply",
    "cpu_flags",
    "decide",
    "has_amx",
]

ENV = "OSSRAG_LLAMA_EXTRA_BUFTS"
_FIELD = "use_extra_bufts"
_MARK = "_ossrag_extra_bufts"  # set on our wrapper so apply() never wraps twice
AMX_FLAGS = ("amx_tile", "amx_int8", "amx_bf16")
FIX_HINT = (
    f"set {ENV}=off (ossrag turns extra buffer types off on AMX CPUs by default), or "
    'rebuild llama-cpp-python without AMX: CMAKE_ARGS="-DGGML_AMX_INT8=OFF" '
    "pip install --force-reinstall --no-cache-dir llama-cpp-python"
)


@dataclass(frozen=True)
class Decision:
    """Whether llama.cpp may use extra buffer types, and why."""

    extra_bufts: bool
    reason: str
    applied: bool = True  # False: this llama-cpp-python build has no such setting


@functools.cache
def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def has_amx(flags: frozenset[str] | None = None) -> bool:
    """True on CPUs with Intel AMX, the ones where llama.cpp's AMX repack crashes."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in AMX_FLAGS)


def decide(env: dict[str, str] | None = None, flags: frozenset[str] | None = None) -> Decision:
    """What :func:`apply` will do, from ``OSSRAG_LLAMA_EXTRA_BUFTS`` and the CPU flags."""
    value = (os.environ if env is None else env).get(ENV, "").strip().lower() or "auto"
    if value in ("1", "on", "true", "yes"):
        return Decision(True, f"{ENV}={value}")
    if value in ("0", "off", "false", "no"):
        return Decision(False, f"{ENV}={value}")
    if value != "auto":
        raise ConfigError(f"invalid {ENV}={value!r}", hint="use auto, on or off")
    if has_amx(flags):
        reason = "this CPU has AMX, where llama.cpp's AMX repack crashes (llama.cpp#20824)"
        return Decision(False, reason)
    return Decision(True, "no AMX on this CPU")


def apply(llama_cpp: Any, env: dict[str, str] | None = None) -> Decision:
    """Make every llama.cpp model loaded from now on honour :func:`decide`.

    ``llama_cpp`` is the imported package. It wraps
    ``llama_cpp.llama_cpp.llama_model_default_params`` (what ``Llama()`` and
    llama-cpp-python's server start from), so in-process models and the
    server launched by ``ossrag llama-server`` get the same parameters.
    Calling it again replaces the earlier decision.
    """
    decision = decide(env)
    low = getattr(llama_cpp, "llama_cpp", llama_cpp)
    params_type = getattr(low, "llama_model_params", None)
    fields = {f[0] for f in getattr(params_type, "_fields_", [])}
    if _FIELD not in fields:
        reason = "this llama-cpp-python has no use_extra_bufts setting; nothing changed"
        return Decision(decision.extra_bufts, reason, applied=False)
    current = low.llama_model_default_params
    original = getattr(current, "__wrapped__", current) if hasattr(current, _MARK) else current

    @functools.wraps(original)
    def default_params() -> Any:
        params = original()
        setattr(params, _FIELD, decision.extra_bufts)
        return params

    setattr(default_params, _MARK, decision)
    low.llama_model_default_params = default_params
    return decision
