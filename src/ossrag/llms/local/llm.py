"""The :class:`LocalLLM` class: one in-process llama.cpp model behind the LLM protocol.

    from ossrag.llms.local import LocalLLM

    llm = LocalLLM("local:smollm2", n_ctx=4096)
    for event in llm.stream([{"role": "user", "content": "Hi"}], max_tokens=32):
        print(event.type, event.delta)
    llm.count_tokens("Hello")            # this model's tokenizer

The two paths (gpt-oss harmony, other chat models), sampling defaults and
usage counting are described in :mod:`ossrag.llms.local`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...config import EFFORTS
from ...errors import ConfigError, LLMError
from ...safety import neutralize_messages
from ...types import StreamEvent, Usage
from ..base import Completion, Message, collect, content_text
from ..harmony import render_prompt
from ..reasoning import InlineReasoningSplitter
from ._harmony_sampling import stream_harmony
from ._models import default_threads, is_harmony_model, load, resolve_model_path

__all__ = [
    "CHAT_REPEAT_PENALTY",
    "LocalLLM",
]


#: The chat path's repeat penalty (``sampling_overrides`` can change it per model).
CHAT_REPEAT_PENALTY = 1.1


class LocalLLM:
    """In-process llama.cpp model implementing the :class:`~ossrag.llms.base.LLM` protocol."""

    supports_reasoning = False
    supports_tools = False
    supports_json_schema = False

    def __init__(
        self,
        spec: str = "local:smollm2",
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        verbose: bool = False,
        harmony: bool | None = None,
    ) -> None:
        """Load (or reuse) the model. ``harmony`` forces the gpt-oss path on or off."""
        self.model = spec if spec.startswith("local") else f"local:{spec}"
        self.path = resolve_model_path(self.model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.seed = seed
        self._llm, self._lock = load(self.path, n_ctx, self.n_threads, seed, verbose)
        self.harmony = is_harmony_model(self._llm) if harmony is None else harmony
        # gpt-oss reasons and calls tools; JSON schemas only reach it as prompt text.
        self.supports_reasoning = self.harmony
        self.supports_tools = self.harmony
        # Other models: llama.cpp enforces a JSON schema with a grammar.
        self.supports_json_schema = not self.harmony
        meta = self._llm.metadata or {}
        template = str(meta.get("tokenizer.chat_template", ""))
        self._template_has_system = "system" in template
        #: Extra sampling arguments: ``Llama.generate``'s on the harmony path (e.g. a
        #: ``LlamaGrammar``; the tests use one to make a small model write harmony),
        #: ``create_chat_completion``'s on the chat path (``repeat_penalty``, ``top_k``...).
        self.sampling_overrides: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"LocalLLM({self.model!r}, n_ctx={self.n_ctx}, harmony={self.harmony})"

    # -- public API

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes with this model's tokenizer (special tokens parsed)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def complete(self, messages: list[Message], **kwargs: Any) -> Completion:
        """Run :meth:`stream` to the end and gather it."""
        return collect(self.stream(messages, **kwargs))

    def stream(
        self,
        messages: list[Message],
        *,
        effort: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream one assistant turn: reasoning/text/tool_call events, then usage, then done."""
        if effort is not None and effort not in EFFORTS:
            raise ConfigError(
                f"unknown reasoning effort {effort!r}", hint="use low, medium or high"
            )
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
        if not messages:
            raise ConfigError("no messages to answer")
        # llama.cpp tokenizes the rendered prompt with special tokens parsed: foreign text
        # shaped like <|im_end|> or <start_of_turn> would become chat structure.
        messages = neutralize_messages(messages)
        if self.harmony:
            return self._stream_harmony(
                messages, effort, tools, response_format, max_tokens, temperature, stop
            )
        if tools:
            raise LLMError(
                f"{self.model} cannot call tools (only gpt-oss GGUFs can, in-process)",
                hint="check llm.supports_tools and fall back to prompt-driven retrieval",
            )
        return self._stream_chat(messages, response_format, max_tokens, temperature, stop)

    # -- gpt-oss: harmony prompt, token-level sampling

    def _stream_harmony(
        self,
        messages: list[Message],
        effort: str | None,
        tools: list[dict[str, Any]] | None,
        response_format: dict[str, Any] | None,
        max_tokens: int | None,
        temperature: float | None,
        stop: list[str] | None,
    ) -> Iterator[StreamEvent]:
        prompt = render_prompt(
            messages, effort=effort, tools=tools, response_format=response_format
        )
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise self._overflow(len(tokens))
        # OpenAI's recommended sampling for gpt-oss: temperature 1, top_p 1, no top-k/min-p.
        sampling: dict[str, Any] = {
            "temp": 1.0 if temperature is None else temperature,
            "top_p": 1.0,
            "top_k": 0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
        }
        yield from stream_harmony(
            self._llm,
            tokens,
            budget=min(max_tokens or room, room),
            seed=self.seed,
            sampling={**sampling, **self.sampling_overrides},
            lock=self._lock,
            stop=stop or [],
        )

    # -- other chat models: the GGUF's chat template

    def _chat_messages(self, messages: list[Message], merge_system: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        system: list[str] = []
        for m in messages:
            role = m.get("role", "user")
            msg: dict[str, Any] = {"role": role, "content": content_text(m.get("content"))}
            # Reasoning is not sent back; tool calls are, for templates that render them.
            if m.get("tool_calls"):
                msg["tool_calls"] = m["tool_calls"]
            if m.get("tool_call_id"):
                msg["tool_call_id"] = m["tool_call_id"]
            if role in ("system", "developer"):
                if merge_system:
                    system.append(msg["content"])
                    continue
                msg["role"] = "system"
            out.append(msg)
        if system:
            # No system role in the template: the instructions lead the first user turn.
            first_user = next((m for m in out if m["role"] == "user"), None)
            if first_user is None:
                out.insert(0, {"role": "user", "content": "\n\n".join(system)})
            else:
                first_user["content"] = "\n\n".join([*system, first_user["content"]])
        return out

    def _stream_chat(
        self,
        messages: list[Message],
        response_format: dict[str, Any] | None,
        max_tokens: int | None,
        temperature: float | None,
        stop: list[str] | None,
    ) -> Iterator[StreamEvent]:
        llm = self._llm
        kwargs: dict[str, Any] = {
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0.2 if temperature is None else temperature,
            # Tiny models loop on one line without it ("-o -o -o ..." until max_tokens);
            # 1.1 is llama.cpp's own default (bench/tiny_models.py, docs/benchmarks.md).
            "repeat_penalty": CHAT_REPEAT_PENALTY,
            "stop": list(stop or []),
            "seed": self.seed,
            "response_format": _chat_response_format(response_format),
            **self.sampling_overrides,
        }
        chat = self._chat_messages(messages, merge_system=not self._template_has_system)
        prompt_tokens = self._chat_prompt_tokens(chat)
        if prompt_tokens >= self.n_ctx:
            raise self._overflow(prompt_tokens)
        splitter = InlineReasoningSplitter()
        text: list[str] = []
        reasoning: list[str] = []
        finish: str | None = None
        with self._lock:
            try:
                chunks = llm.create_chat_completion(chat, **kwargs)
            except ValueError as exc:
                if "system" not in str(exc).lower() or not self._template_has_system:
                    raise LLMError(f"{self.model}: {exc}") from exc
                # The template refused a system role after all: merge and retry once.
                self._template_has_system = False
                chat = self._chat_messages(messages, merge_system=True)
                prompt_tokens = self._chat_prompt_tokens(chat)
                chunks = llm.create_chat_completion(chat, **kwargs)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    delta = choice.get("delta") or {}
                    for kind, piece in splitter.feed(delta.get("content") or ""):
                        (reasoning if kind == "reasoning" else text).append(piece)
                        yield StreamEvent(
                            type="reasoning" if kind == "reasoning" else "text", delta=piece
                        )
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        for kind, piece in splitter.flush(incomplete=finish == "length"):
            (reasoning if kind == "reasoning" else text).append(piece)
            yield StreamEvent(type="reasoning" if kind == "reasoning" else "text", delta=piece)
        for call in splitter.tool_calls:  # raw harmony from a GGUF not detected as gpt-oss
            yield StreamEvent(type="tool_call", tool_call=call)
        out_text = "".join(text) + "".join(reasoning)
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=self.count_tokens(out_text) if out_text else 0,
            reasoning_tokens=self.count_tokens("".join(reasoning)) if reasoning else None,
        )
        yield StreamEvent(type="usage", usage=usage)
        yield StreamEvent(type="done", finish_reason=finish or "stop", complete=True)

    def _chat_prompt_tokens(self, chat: list[dict[str, Any]]) -> int:
        """Prompt length: the GGUF's template rendered as llama-cpp-python renders it."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._llm
        template = (llm.metadata or {}).get("tokenizer.chat_template")
        model = getattr(llm, "_model", None)
        if not template or model is None:  # no template: a named llama-cpp-python format
            from llama_cpp import llama_chat_format

            name = str(getattr(llm, "chat_format", "") or "").replace("-", "_")
            formatter = getattr(llama_chat_format, f"format_{name}", None)
            if formatter is None:
                return self.count_tokens("\n".join(m["content"] for m in chat))
            prompt = formatter(messages=chat).prompt
            return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

        def tok_text(tid: int) -> str:
            return str(model.token_get_text(tid)) if tid != -1 else ""

        fmt = Jinja2ChatFormatter(
            template=template,
            eos_token=tok_text(llm.token_eos()),
            bos_token=tok_text(llm.token_bos()),
        )
        prompt = fmt(messages=chat).prompt  # type: ignore[arg-type]
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def _overflow(self, n: int) -> LLMError:
        return LLMError(
            f"the prompt takes {n} tokens but {self.model} was loaded with n_ctx={self.n_ctx}",
            hint="retrieve fewer passages (--top-k) or load the model with a larger n_ctx",
        )


def _chat_response_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """An OpenAI response format as llama-cpp-python's (a JSON schema becomes a grammar)."""
    if response_format and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return {"type": "json_object", "schema": spec.get("schema", spec)}
    if response_format and response_format.get("type") == "json_object":
        return dict(response_format)
    return None
