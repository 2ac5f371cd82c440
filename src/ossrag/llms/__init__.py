"""Language-model backends behind one protocol (:class:`LLM`).

    from ossrag.llms import make_llm, collect
    llm = make_llm("ollama:gpt-oss:20b")               # any OpenAI-compatible server
    llm = make_llm("local:smollm2")                    # in-process llama.cpp (extra: local)
    llm = make_llm("gpt-oss-20b", base_url="http://gpu:8000/v1")
    done = llm.complete([{"role": "user", "content": "Hi"}], effort="low")
    done.text, done.reasoning, done.usage.reasoning_tokens

Model strings are ``provider:model``; see :mod:`ossrag.llms.providers` for the
presets (openrouter, ollama, vllm, lmstudio, llamacpp, groq, openai, deepseek).
"""

from __future__ import annotations

import logging
from typing import Any

from .base import LLM, Completion, Message, collect

__all__ = ["LLM", "Completion", "Message", "collect", "make_llm"]

log = logging.getLogger("ossrag.llms")


def make_llm(
    model: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    max_time: float | None = None,
    **kwargs: Any,
) -> LLM:
    """The backend for ``model``: ``local:...`` in-process, anything else over HTTP.

    ``timeout`` and ``max_time`` (the bound on a whole turn) apply to servers;
    an in-process model is bounded by its context and ``max_tokens``. Extra
    keyword arguments go to the backend's constructor (e.g. ``max_retries``
    for :class:`~ossrag.llms.openai_compat.OpenAICompatLLM`).
    """
    if model.startswith("local:"):
        if base_url:
            # Often inherited from OSSRAG_BASE_URL meant for another model: say so, don't fail.
            log.warning(
                "--base-url %s is ignored: %s runs in-process (name the server's provider, "
                "e.g. llamacpp:MODEL, to use a server)",
                base_url,
                model,
            )
        from .local import LocalLLM  # lazy: llama-cpp-python is an optional extra

        return LocalLLM(model, **kwargs)
    from .openai_compat import OpenAICompatLLM

    if max_time is not None:
        kwargs["max_time"] = max_time
    return OpenAICompatLLM(model, base_url=base_url, api_key=api_key, timeout=timeout, **kwargs)
