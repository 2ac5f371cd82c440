"""Agent mode: the model searches the knowledge base itself, then answers with citations.

    from ossrag import KnowledgeBase
    from ossrag.answering.agent import Agent

    kb = KnowledgeBase(uri="./ossrag.db", name="docs")
    agent = Agent(kb, kb.llm("vllm:openai/gpt-oss-20b"), effort="low", max_steps=4)
    run = agent.run("Which index types does Milvus Lite support?")
    for event in run:            # reasoning / tool_call / text events, then usage and done
        ...
    answer = run.answer          # an AgentAnswer (an Answer with .steps)
    answer.steps[0]["calls"][0]["query"], [c.source for c in answer.citations]

    kb.agent_ask("...", model="local:smollm2")   # the same through the KnowledgeBase

Two loops, one result:

* **native tool calling** (gpt-oss on vLLM, OpenRouter, Ollama, LM Studio,
  llama-server, Groq; the in-process harmony path): the model gets a
  ``search(query, k?)`` tool and a ``read(passage)`` tool (the chunks around
  a passage it was shown). Each tool-call turn is sent back with that turn's
  reasoning (harmony: "pass the chain of thought back until the final
  answer"); the provider preset (:meth:`~ossrag.llms.providers.Provider.prepare_messages`)
  renames it to the field the server takes (``reasoning``, llama.cpp
  ``thinking``, never both content and thinking on a llama.cpp tool call) or
  strips it (DeepSeek, Groq answer HTTP 400). Malformed calls (bad JSON, no
  ``query``, unknown tool) get an error result the model can recover from.
* **prompt-driven** (models or servers without tool calling, e.g. the bundled
  SmolLM2, DeepSeek R1, or a server that answers 400 to ``tools``): ossrag
  searches for the question first, then the model replies ``SEARCH: <query>``
  for more passages or ``ANSWER: <text>``. A reply with neither is the answer,
  so small models always terminate.

Passage numbers continue across searches (a passage shown twice keeps its
first number), so every ``[n]`` in the answer maps to one passage. After
``max_steps`` model turns that could search, the model is asked once more,
without tools, to answer from what it has.

The loops run in :mod:`._agent_run` (:class:`AgentRun`), the tools, prompts and
``SEARCH:``/``ANSWER:`` directives are in :mod:`._agent_tools`.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from ..errors import ConfigError
from ..llms.base import LLM
from ._agent_run import AgentAnswer, AgentRun
from ._agent_tools import AGENT_SYSTEM, FINAL_NUDGE, MAX_K, PROMPT_NEXT, PROMPT_SYSTEM, TOOLS

__all__ = [
    "AGENT_SYSTEM",
    "FINAL_NUDGE",
    "MAX_K",
    "PROMPT_NEXT",
    "PROMPT_SYSTEM",
    "TOOLS",
    "Agent",
    "AgentAnswer",
    "AgentRun",
]


class Agent:
    """Answers questions by letting ``llm`` search ``kb``; see the module docstring.

    ``mode``: ``auto`` (native tools when the backend has them, else the
    prompt-driven loop, also after a server refused ``tools``), ``tools`` or
    ``prompt``. ``k`` is the default passages per search; ``search_kwargs`` go
    to every :meth:`KnowledgeBase.search` (mode, filter, ...); ``search_lock``
    (e.g. a ``threading.Lock``) is held around each search. ``translate``
    (auto, on, off) runs ``kb.translate`` with this model on every search: a query
    in another language than the documents is searched with its translation.
    """

    def __init__(
        self,
        kb: Any,
        llm: LLM,
        *,
        effort: str | None = None,
        max_steps: int = 4,
        k: int = 3,
        search_kwargs: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        mode: str = "auto",
        search_lock: AbstractContextManager[Any] | None = None,
        translate: str = "off",
    ) -> None:
        if max_steps < 1:
            raise ConfigError(
                f"max_steps must be at least 1, got {max_steps}", hint="e.g. --max-steps 4"
            )
        if mode not in ("auto", "tools", "prompt"):
            raise ConfigError(f"unknown agent mode {mode!r}", hint="use auto, tools or prompt")
        self.kb, self.llm, self.effort = kb, llm, effort
        self.max_steps, self.max_tokens, self.mode = max_steps, max_tokens, mode
        self.search_kwargs = dict(search_kwargs or {})
        # Serialises searches when several agents share one KB from threads (ossrag compare).
        self.search_lock: AbstractContextManager[Any] = search_lock or contextlib.nullcontext()
        self.k = int(self.search_kwargs.pop("k", None) or k)
        self.translate = translate

    def run(self, question: str, *, t0: float | None = None) -> AgentRun:
        """An :class:`AgentRun` to iterate; ``.answer`` is set when it ends."""
        return AgentRun(self, question, t0=t0)

    def ask(self, question: str) -> AgentAnswer:
        run = self.run(question)
        for _ in run:
            pass
        assert run.answer is not None
        return run.answer
