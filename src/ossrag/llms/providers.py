"""Provider presets: what each OpenAI-compatible server needs and returns.

A model string ``provider:model`` picks a preset; ``--base-url`` with a model
string without a known prefix picks the generic ``openai-compatible`` one::

    provider, model_id = resolve("ollama:gpt-oss:20b")
    provider.name, model_id          # ('ollama', 'gpt-oss:20b')
    provider.resolve_base_url()      # 'http://localhost:11434/v1'
    provider, model_id = resolve("gpt-oss-20b", base_url="http://gpu:8000/v1")
    provider.name                    # 'openai-compatible'

    body, notes = provider.build_body(model_id, effort="high", max_tokens=512)
    body     # {'max_tokens': 512, 'temperature': 1.0, 'top_p': 1.0, 'reasoning_effort': 'high'}

Everything a preset knows comes from the servers' documentation (docs/models.md; servers'
docs, source and issue trackers): how the server takes the reasoning effort,
which fields carry reasoning back, whether earlier reasoning may be sent back
in the history (DeepSeek and Groq answer HTTP 400), and model-family quirks
(OpenAI o-series: ``max_completion_tokens`` and no temperature; gpt-oss:
``temperature=1.0, top_p=1.0`` as OpenAI recommends).

This module is the table of presets and the model-string lookup; what a preset
does with a request is :class:`Provider`'s, in :mod:`._preset`.
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from ._preset import (
    BASE_URL_ENV,
    DUMMY_KEY,
    KEY_OVERRIDE_ENV,
    Provider,
    is_gpt_oss,
    is_openai_reasoning_model,
)

__all__ = [
    "BASE_URL_ENV",
    "DUMMY_KEY",
    "GENERIC",
    "KEY_OVERRIDE_ENV",
    "PROVIDERS",
    "Provider",
    "is_gpt_oss",
    "is_openai_reasoning_model",
    "resolve",
]

_LOCAL_NOTE = "no API key needed; OSSRAG_LLM_API_KEY is sent if set"


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="openrouter",
            label="OpenRouter",
            base_url="https://openrouter.ai/api/v1",
            key_env="OPENROUTER_API_KEY",
            effort_style="reasoning",
            history_reasoning_field="reasoning",
            start_hint="check the network connection and https://status.openrouter.ai",
            model_hint="check the model id on https://openrouter.ai/models (e.g. openai/gpt-oss-120b)",
            default_headers=(("X-Title", "ossrag"),),
        ),
        Provider(
            name="ollama",
            label="Ollama",
            base_url="http://localhost:11434/v1",
            key_env=None,
            effort_style="reasoning_effort",
            history_reasoning_field="reasoning",
            start_hint="start it with `ollama serve` (then `ollama pull gpt-oss:20b`)",
            model_hint="run `ollama pull {model}` (e.g. `ollama pull gpt-oss:20b`)",
            base_url_env="OLLAMA_HOST",
            local=True,
        ),
        Provider(
            name="vllm",
            label="vLLM",
            base_url="http://localhost:8000/v1",
            key_env=None,
            effort_style="reasoning_effort",
            history_reasoning_field="reasoning",
            start_hint="start it with `vllm serve openai/gpt-oss-20b`",
            model_hint="use the name the server was started with (`vllm serve {model}`); GET /v1/models lists it",
            local=True,
        ),
        Provider(
            name="lmstudio",
            label="LM Studio",
            base_url="http://localhost:1234/v1",
            key_env=None,
            effort_style="reasoning_effort",
            history_reasoning_field="reasoning",
            start_hint="load the model in LM Studio and start the server in its Developer tab "
            "(or `lms server start`)",
            model_hint="download and load it in LM Studio (`lms get {model}`)",
            effort_note="LM Studio's chat API has ignored reasoning_effort in some builds "
            "(lmstudio-bug-tracker #988); if the reasoning length does not change, set "
            "Reasoning Effort in the model's settings in LM Studio",
            local=True,
        ),
        Provider(
            name="llamacpp",
            label="llama.cpp (llama-server)",
            base_url="http://localhost:8080/v1",
            key_env=None,
            effort_style="llamacpp",
            history_reasoning_field="thinking",
            start_hint="start it with `llama-server -m gpt-oss-20b-mxfp4.gguf --jinja --port 8080`",
            model_hint="llama-server serves the GGUF it was started with (`llama-server -m ...`)",
            local=True,
        ),
        Provider(
            name="groq",
            label="Groq",
            base_url="https://api.groq.com/openai/v1",
            key_env="GROQ_API_KEY",
            effort_style="reasoning_effort",
            history_reasoning_field=None,  # 400: property 'reasoning_content' is unsupported
            start_hint="check the network connection and https://groqstatus.com",
            model_hint="check the model id on https://console.groq.com/docs/models (e.g. openai/gpt-oss-120b)",
        ),
        Provider(
            name="openai",
            label="OpenAI",
            base_url="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            effort_style="reasoning_effort",
            history_reasoning_field=None,  # chat completions has no reasoning input
            start_hint="check the network connection and https://status.openai.com",
            model_hint="check the model id on https://platform.openai.com/docs/models (e.g. o4-mini)",
            supports_reasoning=False,  # o-series return reasoning token counts, never the text
        ),
        Provider(
            name="deepseek",
            label="DeepSeek",
            base_url="https://api.deepseek.com/v1",
            key_env="DEEPSEEK_API_KEY",
            effort_style="none",
            history_reasoning_field=None,  # 400 if reasoning_content is sent back
            start_hint="check the network connection and https://status.deepseek.com",
            model_hint="use deepseek-reasoner or deepseek-chat",
            supports_tools=False,
            supports_json_schema=False,
        ),
    )
}


GENERIC = Provider(
    name="openai-compatible",
    label="OpenAI-compatible server",
    base_url="",
    key_env=None,
    effort_style="reasoning_effort",
    history_reasoning_field="reasoning",
    start_hint="check that the server is running and that the base URL ends in /v1",
    model_hint="GET {base_url}/models lists the model ids the server knows",
)


def resolve(model_string: str, base_url: str | None = None) -> tuple[Provider, str]:
    """``provider:model`` -> (preset, model id). Raises :class:`ConfigError` for unknown prefixes.

    A string without a known prefix uses the generic preset when a base URL is
    given (argument or ``OSSRAG_BASE_URL``); ``openai-compatible:MODEL`` asks for it explicitly.
    """
    prefix, sep, rest = model_string.partition(":")
    if sep and prefix in PROVIDERS:
        if not rest:
            raise ConfigError(
                f"model string {model_string!r} names no model",
                hint=f"write {prefix}:MODEL, e.g. {_EXAMPLES.get(prefix, prefix + ':gpt-oss-20b')}",
            )
        return PROVIDERS[prefix], rest
    if sep and prefix == GENERIC.name and rest:
        return GENERIC, rest
    if sep and prefix == "local":
        raise ConfigError(
            f"{model_string!r} runs in-process, not on an OpenAI-compatible server",
            hint="create it with ossrag.llms.make_llm(), which handles local: models",
        )
    if base_url or os.environ.get(BASE_URL_ENV):
        return GENERIC, model_string
    known = ", ".join(f"{p}:" for p in (*PROVIDERS, "local"))
    raise ConfigError(
        f"unknown model provider in {model_string!r}; known prefixes: {known}",
        hint="prefix the model (e.g. ollama:gpt-oss:20b), or pass --base-url http://HOST:PORT/v1 "
        "for any other OpenAI-compatible server",
    )


_EXAMPLES = {
    "openrouter": "openrouter:openai/gpt-oss-120b",
    "ollama": "ollama:gpt-oss:20b",
    "vllm": "vllm:openai/gpt-oss-20b",
    "lmstudio": "lmstudio:openai/gpt-oss-20b",
    "llamacpp": "llamacpp:gpt-oss-20b",
    "groq": "groq:openai/gpt-oss-120b",
    "openai": "openai:o4-mini",
    "deepseek": "deepseek:deepseek-reasoner",
}
