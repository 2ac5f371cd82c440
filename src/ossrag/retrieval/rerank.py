"""Optional second-stage reranking of retrieved passages (off by default).

    from ossrag.retrieval.rerank import CrossEncoderReranker, LLMReranker, make_reranker

    reranker = CrossEncoderReranker("/models/ms-marco-MiniLM-L-6-v2")  # a local directory
    reranker = LLMReranker(make_llm("ollama:gpt-oss:20b"))              # listwise, by the LLM
    reranker = make_reranker("cross-encoder:/models/bge-reranker-base")  # the --rerank syntax
    result = reranker.rerank("where is data stored?", hits)
    result.hits, result.seconds, result.warning

Both implement :class:`Reranker`: they return the same passages in a new
order with new scores (the old score stays in ``metadata["retrieval_score"]``
when :func:`ossrag.retrieval.retrieve` calls them) and the time they took, so
``ask --json`` can report ``rerank_s``.

* :class:`CrossEncoderReranker` scores each (question, passage) pair with a
  sentence-transformers ``CrossEncoder`` loaded from a local path (never
  downloaded); the score is what ``CrossEncoder.predict`` returns (for
  one-label models a sigmoid, in (0, 1)): higher is more relevant.
* :class:`LLMReranker` shows the model the numbered passages and asks for a
  JSON list of passage numbers, most relevant first.  The answer is parsed
  leniently (code fences, prose around the list, ``{"ranking": [...]}``,
  numbers out of range or repeated are ignored, passages the model left out
  keep their order after the ranked ones).  When no list can be read, the
  original order is kept and ``warning`` says so.  Scores are ``1 / position``.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError, MissingDependencyError, OssragError
from ..types import Hit

if TYPE_CHECKING:
    from ..llms.base import LLM

__all__ = [
    "CrossEncoderReranker",
    "LLMReranker",
    "RerankResult",
    "Reranker",
    "make_reranker",
    "parse_ranking",
]

_ST_HINT = "pip install 'ossrag[st]'  (sentence-transformers and CPU torch)"


@dataclass
class RerankResult:
    hits: list[Hit]
    seconds: float
    warning: str = ""  # set when the reranker could not rerank and kept the order


@runtime_checkable
class Reranker(Protocol):
    """Reorders passages for a query; see the module docstring."""

    name: str

    def rerank(self, query: str, hits: list[Hit]) -> RerankResult:
        """The same hits, most relevant first, with the reranker's scores."""
        ...


def _passage(hit: Hit) -> str:
    """What a reranker reads: the heading path gives the passage its context."""
    return f"{hit.heading}\n{hit.text}" if hit.heading else hit.text


# ── cross-encoder ───────────────────────────────────────────────────────────


@functools.lru_cache(maxsize=4)
def _load_cross_encoder(path: str, max_length: int) -> Any:
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise MissingDependencyError(
            "cross-encoder reranking needs sentence-transformers", hint=_ST_HINT
        ) from exc
    try:
        return CrossEncoder(path, max_length=max_length, device="cpu", local_files_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot load a cross-encoder from {path}: {exc}",
            hint="give the directory of a sentence-transformers CrossEncoder "
            "(config.json + weights), e.g. one saved with CrossEncoder.save()",
        ) from exc


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a local sentence-transformers ``CrossEncoder``."""

    def __init__(
        self, model_path: str | Path, *, batch_size: int = 16, max_length: int = 512
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"cross-encoder model directory not found: {path}",
                hint="ossrag never downloads rerankers: pass a local directory, "
                "e.g. --rerank cross-encoder:/models/ms-marco-MiniLM-L-6-v2",
            )
        self.path = str(path.resolve())
        self.name = f"cross-encoder:{self.path}"
        self.batch_size = batch_size
        self.max_length = max_length

    @property
    def model(self) -> Any:
        """The loaded ``CrossEncoder`` (cached per path, loaded on first use)."""
        return _load_cross_encoder(self.path, self.max_length)

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        if not hits:
            return []
        pairs = [(query, _passage(h)) for h in hits]
        raw = self.model.predict(
            pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        # One-label models give one score per pair; multi-label ones: take the last
        # column (the "relevant" class by convention).
        return [float(r[-1]) if getattr(r, "shape", ()) else float(r) for r in raw]

    def rerank(self, query: str, hits: list[Hit]) -> RerankResult:
        t0 = time.perf_counter()
        scores = self.scores(query, hits)
        order = sorted(range(len(hits)), key=lambda i: -scores[i])  # stable on ties
        out = [replace(hits[i], score=scores[i]) for i in order]
        return RerankResult(out, time.perf_counter() - t0)


# ── LLM listwise ────────────────────────────────────────────────────────────

_SYSTEM = (
    "You rank search results. Given a question and numbered passages, reply with only "
    "a JSON list of the passage numbers ordered from most to least useful for answering "
    "the question, e.g. [3, 1, 2]. Include every passage number once."
)


def parse_ranking(text: str, n: int) -> list[int] | None:
    """0-based passage order from the model's reply, or ``None`` when there is no list.

    Reads the first JSON list of integers (``[3, 1, 2]``), also inside code
    fences, prose or an object such as ``{"ranking": [3, 1, 2]}``; numbers are
    1-based passage numbers.  Numbers outside ``1..n`` and repeats are dropped;
    passages the reply leaves out follow in their original order.
    """
    found: list[int] | None = None
    for m in re.finditer(r"\[([^\[\]]*)\]", text):
        body = m.group(1).strip()
        if not body:
            continue
        try:
            items = json.loads(f"[{body}]")
        except ValueError:
            items = re.findall(r"-?\d+", body)
            if not items or re.search(r"[^\d\s,\"'\-#]", body.replace("passage", "")):
                continue
        nums: list[int] = []
        for item in items:
            try:
                nums.append(int(str(item).strip().lstrip("#")))
            except ValueError:
                nums = []
                break
        if nums and any(1 <= x <= n for x in nums):
            found = nums
            break
    if found is None:
        return None
    order = list(dict.fromkeys(x - 1 for x in found if 1 <= x <= n))
    return order + [i for i in range(n) if i not in order]


class LLMReranker:
    """Listwise reranking by the configured LLM (one call per query)."""

    def __init__(
        self,
        llm: LLM,
        *,
        max_chars: int = 700,
        max_tokens: int | None = 2048,
        effort: str | None = "low",
    ) -> None:
        self.llm = llm
        self.name = f"llm:{getattr(llm, 'model', type(llm).__name__)}"
        self.max_chars = max_chars  # per passage, so the prompt stays within small contexts
        self.max_tokens = max_tokens  # reasoning models spend tokens before the list
        self.effort = effort

    def messages(self, query: str, hits: list[Hit]) -> list[dict[str, Any]]:
        parts = []
        for i, h in enumerate(hits, start=1):
            body = " ".join(_passage(h).split())
            if len(body) > self.max_chars:
                body = body[: self.max_chars].rsplit(" ", 1)[0] + " …"
            parts.append(f"[{i}] {body}")
        user = (
            f"Question: {query}\n\nPassages:\n"
            + "\n\n".join(parts)
            + f"\n\nReply with a JSON list of the {len(hits)} passage numbers, most useful first."
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]

    def rerank(self, query: str, hits: list[Hit]) -> RerankResult:
        t0 = time.perf_counter()
        if len(hits) <= 1:
            return RerankResult(list(hits), 0.0)
        try:
            done = self.llm.complete(
                self.messages(query, hits),
                effort=self.effort,
                max_tokens=self.max_tokens,
                temperature=0.0,
            )
            reply = done.text
        except OssragError as exc:
            return RerankResult(
                list(hits),
                time.perf_counter() - t0,
                f"LLM reranking failed ({exc}); kept the retrieval order",
            )
        order = parse_ranking(reply, len(hits))
        if order is None:
            shown = " ".join(reply.split())[:120] or "(empty reply)"
            return RerankResult(
                list(hits),
                time.perf_counter() - t0,
                f"LLM reranker reply has no list of passage numbers ({shown!r}); "
                "kept the retrieval order",
            )
        out = [replace(hits[i], score=1.0 / pos) for pos, i in enumerate(order, start=1)]
        return RerankResult(out, time.perf_counter() - t0)


def make_reranker(spec: str | None, *, llm: LLM | None = None) -> Reranker | None:
    """A reranker from the ``--rerank`` syntax: ``cross-encoder:PATH``, ``llm``, or none.

    ``llm`` is the model :class:`LLMReranker` uses (the one the answer uses).
    """
    if not spec or spec.strip().lower() in ("none", "off"):
        return None
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("cross-encoder", "crossencoder", "ce"):
        if not arg:
            raise ConfigError(
                "--rerank cross-encoder needs a model directory",
                hint="e.g. --rerank cross-encoder:/models/ms-marco-MiniLM-L-6-v2",
            )
        return CrossEncoderReranker(arg)
    if kind == "llm":
        if llm is None:
            raise ConfigError(
                "--rerank llm needs a model", hint="pass --model, e.g. -m local:smollm2"
            )
        return LLMReranker(llm)
    raise ConfigError(
        f"unknown reranker {spec!r}", hint="use --rerank cross-encoder:PATH or --rerank llm"
    )
