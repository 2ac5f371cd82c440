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
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import EFFORTS
from ..errors import ConfigError, LLMAuthError

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

#: Sent as the key to local servers that need none (the openai client insists on one).
DUMMY_KEY = "sk-no-key-required"
#: Overrides every provider's key / base URL.
# Not OSSRAG_API_KEY: that is the server's own bearer token, which must never reach a provider.
KEY_OVERRIDE_ENV = "OSSRAG_LLM_API_KEY"
BASE_URL_ENV = "OSSRAG_BASE_URL"

# o1, o3-mini, o4-mini-2025-04-16, openai/o3 ... and gpt-5 (but not gpt-5-chat):
# these reject temperature/top_p and want max_completion_tokens.
_O_SERIES = re.compile(r"^(o[134]([-.].*)?|gpt-5(?!.*-chat).*)$")


def _basename(model_id: str) -> str:
    return model_id.lower().rsplit("/", 1)[-1]


def is_openai_reasoning_model(model_id: str) -> bool:
    """OpenAI reasoning families (o1/o3/o4*, gpt-5): ``max_completion_tokens``, no temperature."""
    return bool(_O_SERIES.match(_basename(model_id)))


def is_gpt_oss(model_id: str) -> bool:
    """gpt-oss-20b / gpt-oss-120b under any server's naming (``gpt-oss:20b``, ``openai/gpt-oss-120b``)."""
    return "gpt-oss" in model_id.lower()


@dataclass(frozen=True)
class Provider:
    """One server preset. Instances are immutable; see :data:`PROVIDERS`."""

    name: str
    label: str
    base_url: str  # default; "" for the generic preset (needs --base-url)
    key_env: str | None  # None: a local server, no key needed (a dummy is sent)
    #: How the server takes the effort: ``reasoning`` (OpenRouter ``reasoning: {effort}``),
    #: ``reasoning_effort``, ``llamacpp`` (``chat_template_kwargs`` + top-level) or ``none``.
    effort_style: str
    #: Field the server accepts earlier reasoning in; None: strip it (the server answers 400).
    history_reasoning_field: str | None
    #: How to start the server (shown when the connection is refused).
    start_hint: str
    #: How to get a model the server does not have (``{model}`` is filled in).
    model_hint: str = ""
    #: A note recorded with every request that carries an effort.
    effort_note: str = ""
    #: Provider-specific base-URL environment variable (lower precedence than OSSRAG_BASE_URL).
    base_url_env: str | None = None
    local: bool = False
    supports_reasoning: bool = True  # the server returns reasoning text
    supports_tools: bool = True
    supports_json_schema: bool = True
    default_headers: tuple[tuple[str, str], ...] = ()

    # -- connection

    def resolve_base_url(
        self, explicit: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """``explicit`` > ``OSSRAG_BASE_URL`` > provider env (``OLLAMA_HOST``) > default."""
        env = os.environ if env is None else env
        url = explicit or env.get(BASE_URL_ENV) or ""
        if not url and self.base_url_env and env.get(self.base_url_env):
            url = _ollama_host_to_url(env[self.base_url_env])
        url = url or self.base_url
        if not url:
            raise ConfigError(
                f"no base URL for the {self.label} endpoint",
                hint=f"pass --base-url http://HOST:PORT/v1 or set {BASE_URL_ENV}",
            )
        return url.rstrip("/")

    def api_key(self, explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
        """The key to send. Raises :class:`LLMAuthError` naming the variable when it is missing."""
        env = os.environ if env is None else env
        key = explicit or env.get(KEY_OVERRIDE_ENV)
        if not key and self.key_env:
            key = env.get(self.key_env)
        if key:
            return key
        if self.key_env is None:
            return DUMMY_KEY
        raise LLMAuthError(
            f"no API key for {self.label}: set {self.key_env}",
            hint=f"export {self.key_env}=... (or {KEY_OVERRIDE_ENV}, which overrides every provider)",
        )

    # -- requests

    def effort_params(self, effort: str | None, model_id: str) -> tuple[dict[str, Any], str | None]:
        """Request fields that carry ``effort`` for this server, and a warning if it is not sent."""
        if effort is None:
            return {}, None
        if effort not in EFFORTS:
            raise ConfigError(
                f"unknown reasoning effort {effort!r}", hint="use low, medium or high"
            )
        if self.effort_style == "none":
            return {}, (
                f"{self.label} does not support a reasoning effort; "
                f"--effort {effort} is not sent and the server's default applies"
            )
        if (
            self.name == "openai"
            and not is_openai_reasoning_model(model_id)
            and not is_gpt_oss(model_id)
        ):
            # Non-reasoning OpenAI models answer 400 to reasoning_effort.
            return {}, f"{model_id} is not a reasoning model; --effort {effort} is not sent"
        if self.effort_style == "reasoning":
            return {"reasoning": {"effort": effort}}, None
        if self.effort_style == "llamacpp":
            # Older llama-server builds read only the template kwarg, newer ones the top-level field.
            return {
                "chat_template_kwargs": {"reasoning_effort": effort},
                "reasoning_effort": effort,
            }, None
        return {"reasoning_effort": effort}, None

    def build_body(
        self,
        model_id: str,
        *,
        effort: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """The request body (without ``model``/``messages``/``stream``) and warnings."""
        notes: list[str] = []
        body: dict[str, Any] = {}
        o_series = is_openai_reasoning_model(model_id)
        if max_tokens is not None:
            # OpenRouter normalises max_tokens for o-series itself; OpenAI rejects it.
            key = (
                "max_completion_tokens" if o_series and self.name != "openrouter" else "max_tokens"
            )
            body[key] = max_tokens
        if o_series:
            if temperature is not None or top_p is not None:
                notes.append(f"{model_id} does not accept temperature/top_p; not sent")
        else:
            if is_gpt_oss(model_id):
                temperature = 1.0 if temperature is None else temperature
                top_p = 1.0 if top_p is None else top_p
            if temperature is not None:
                body["temperature"] = temperature
            if top_p is not None:
                body["top_p"] = top_p
        if stop:
            body["stop"] = list(stop)
        if tools:
            body["tools"] = tools
        if response_format:
            body["response_format"] = response_format
        params, warning = self.effort_params(effort, model_id)
        body.update(params)
        if warning:
            notes.append(warning)
        elif params and self.effort_note:
            notes.append(self.effort_note)
        return body, notes

    def prepare_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy ``messages`` with earlier reasoning in the field this server accepts, or stripped.

        Which earlier reasoning to keep at all (harmony: drop it once a turn
        ended with a final answer) is the caller's decision; this only adapts
        the field name, or strips it where the server answers 400.
        """
        out: list[dict[str, Any]] = []
        for msg in messages:
            m = dict(msg)
            if m.get("role") != "assistant":
                out.append(m)
                continue
            reasoning = ""
            for key in ("reasoning", "reasoning_content", "thinking"):
                value = m.pop(key, None)
                if isinstance(value, str) and value and not reasoning:
                    reasoning = value
            details = m.pop("reasoning_details", None)
            field = self.history_reasoning_field
            if field == "thinking" and (m.get("content") or not m.get("tool_calls")):
                # The gpt-oss HF template renders `thinking` only on tool-call turns and
                # raises on content + thinking + tool_calls (llama.cpp #17040).
                field = None
            if field and reasoning:
                m[field] = reasoning
            if field == "reasoning" and self.name == "openrouter" and details:
                m["reasoning_details"] = details  # OpenRouter asks to preserve them verbatim
            out.append(m)
        return out


def _ollama_host_to_url(host: str) -> str:
    """``OLLAMA_HOST`` style (``0.0.0.0:11434``, ``http://box``) -> an OpenAI base URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    if not re.search(r":\d+$", host.split("://", 1)[1]):
        host += ":11434"
    return host + "/v1"


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
