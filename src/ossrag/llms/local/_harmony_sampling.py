"""The gpt-oss path of :class:`~ossrag.llms.local.LocalLLM`: token-by-token sampling of harmony.

Private to :mod:`ossrag.llms.local`::

    tokens = model.tokenize(render_prompt(messages, effort="low").encode(), add_bos=True,
                            special=True)
    for event in stream_harmony(model, tokens, budget=512, seed=0, sampling={"temp": 1.0},
                                lock=lock, stop=[]):
        ...   # reasoning / text / tool_call events, then usage, then done

Tokens are decoded *with* special tokens and fed to
:class:`~ossrag.llms.harmony.HarmonyStreamParser`, which decides when the turn
is over (``<|return|>``/``<|call|>``); ``stop`` strings cut the answer text even
when a streamed piece splits one (:class:`StopScanner`).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from typing import Any

from ...types import StreamEvent, Usage
from ..harmony import HarmonyStreamParser
from ..reasoning import partial_suffix
from ._models import import_llama_cpp

__all__ = ["StopScanner", "stream_harmony"]


class StopScanner:
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


def stream_harmony(
    llm: Any,
    tokens: list[int],
    *,
    budget: int,
    seed: int,
    sampling: dict[str, Any],
    lock: AbstractContextManager[Any],
    stop: list[str],
) -> Iterator[StreamEvent]:
    """Sample at most ``budget`` tokens after ``tokens`` (a rendered harmony prompt) as events."""
    is_eog = _eog_check(llm)
    parser = HarmonyStreamParser()
    stopper = StopScanner(stop)
    n_out, n_reasoning, ended = yield from _sample(
        llm,
        tokens,
        budget=budget,
        seed=seed,
        sampling=sampling,
        lock=lock,
        parser=parser,
        stopper=stopper,
        is_eog=is_eog,
    )
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


def _eog_check(llm: Any) -> Callable[[int], bool]:
    """Whether a token ends generation, by the vocabulary's own list where the build has one."""
    llama_cpp = import_llama_cpp()
    vocab = getattr(getattr(llm, "_model", None), "vocab", None)

    def is_eog(tok: int) -> bool:
        if vocab is not None:
            return bool(llama_cpp.llama_vocab_is_eog(vocab, tok))
        return bool(tok == llm.token_eos())

    return is_eog


def _sample(
    llm: Any,
    tokens: list[int],
    *,
    budget: int,
    seed: int,
    sampling: dict[str, Any],
    lock: AbstractContextManager[Any],
    parser: HarmonyStreamParser,
    stopper: StopScanner,
    is_eog: Callable[[int], bool],
) -> Generator[StreamEvent, None, tuple[int, int, bool]]:
    """Generate under ``lock``, yielding the parser's events; returns (tokens out, of them
    reasoning, whether the model emitted an end-of-generation token)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    n_out = n_reasoning = 0
    ended = False
    with lock:
        llm.set_seed(seed)
        gen = llm.generate(tokens, **sampling)
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
    return n_out, n_reasoning, ended
