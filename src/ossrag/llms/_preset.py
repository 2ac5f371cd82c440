"""One provider preset (:class:`Provider`): what a server needs, and the request it gets.

    p = PROVIDERS["ollama"]                       # the presets are in :mod:`.providers`
    p.resolve_base_url()                          # explicit > OSSRAG_BASE_URL > OLLAMA_HOST > default
    p.api_key()                                   # the key to send, or LLMAuthError naming the variable
    body, notes = p.build_body("gpt-oss:20b", effort="high", max_tokens=512)
    p.prepare_messages(history)                   # earlier reasoning renamed or stripped for this server

Model-family quirks that do not depend on the server live here too
(:func:`is_openai_reasoning_model`, :func:`is_gpt_oss`).  Import these names from
:mod:`ossrag.llms.providers`, which re-exports them.
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
    "KEY_OVERRIDE_ENV",
    "Provider",
    "is_gpt_oss",
    "is_openai_reasoning_model",
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
