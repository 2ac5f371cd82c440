"""Query translation: a question in another language searched in the corpus's language.

    from ossrag.retrieval.translate import QueryTranslator, translation_capable

    ok, why = translation_capable(llm, "auto")     # (False, "local:smollm2 is too small ...")
    tr = QueryTranslator(llm)                       # the answering model
    t = tr.translate("Wie aktiviere ich TLS-Verschlüsselung?", target="en")
    t.text, t.source, t.seconds, t.cached           # ('How do I enable TLS encryption?', 'de', 0.9, False)
    t.to_dict()                                     # what ``ask --json`` shows as "translation"

Why: a small multilingual embedder finds English passages for a German
question much less often than for the same question in English (Sphinx dev
set: MRR@10 0.41 against 0.68), and BM25 finds almost nothing (the words
differ).  Searching with an English translation closed most of that gap on
both dev sets (docs/benchmarks.md, "Query translation").  The answer is still
written for the question as asked: only the search reads the translation.

When (``mode``, the ``translate`` setting, ``--translate``):

* ``off``: never.
* ``auto`` (default): when the question's language (:mod:`~ossrag.retrieval.language`)
  is known and differs from the corpus's, and the answering model is *capable*
  (:func:`translation_capable`): served by a provider (not in-process) and not a
  tiny model by its name (SmolLM, Gemma 3 270M, TinyLlama, anything named
  ``135m``/``270m``/``360m``/``0.5b``...).  Those produce plausible nonsense and
  would cost a generation on every question.
* ``on``: also with an in-process model (``local:/path/to/big.gguf``), never
  with a tiny one.

Translations are cached in memory per (model, target language, question) --
the server and ``ossrag chat`` ask the same questions again -- and a failed or
unusable reply (an error, an empty or rambling answer) searches the question as
asked, with a warning.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, OssragError

if TYPE_CHECKING:
    from ..llms.base import LLM

__all__ = [
    "LANGUAGE_NAMES",
    "SHARED_CACHE",
    "TRANSLATE_MODES",
    "QueryTranslator",
    "Translation",
    "TranslationCache",
    "check_translate_mode",
    "clean_reply",
    "is_tiny_model",
    "translation_capable",
]

TRANSLATE_MODES = ("auto", "on", "off")
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "id": "Indonesian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "ar": "Arabic",
    "he": "Hebrew",
    "el": "Greek",
    "hi": "Hindi",
    "th": "Thai",
}
# Model names of the bundled tiny models and their kin; matched case-insensitively.
_TINY = re.compile(
    r"smollm|tinyllama|gemma-?3-?270m|(?<![\d.])(?:135|270|360|500)m\b|"
    r"(?<![\d.])0\.[1-6]b\b",
    re.I,
)
_SYSTEM = (
    "You translate search queries for a documentation search engine. Translate the user's "
    "query into {lang}. Keep product names, commands, code, option names and quoted text "
    "unchanged. Reply with the translation only, on one line, without quotes or explanations."
)


def check_translate_mode(mode: str) -> str:
    """``mode`` lower-cased, or :class:`ConfigError` unless it is auto, on or off."""
    value = str(mode).strip().lower()
    if value in ("true", "yes", "1"):
        value = "on"
    if value in ("false", "no", "0", "never"):
        value = "off"
    if value not in TRANSLATE_MODES:
        raise ConfigError(f"unknown translate mode {mode!r}", hint="use auto, on or off")
    return value


def is_tiny_model(model: str) -> bool:
    """True for the bundled tiny models and others too small to translate (by name)."""
    return bool(_TINY.search(model))


def translation_capable(llm: LLM, mode: str) -> tuple[bool, str]:
    """Whether ``llm`` translates queries under ``mode``, and why not when it does not."""
    mode = check_translate_mode(mode)
    model = str(getattr(llm, "model", ""))
    if mode == "off":
        return False, "query translation is off"
    if is_tiny_model(model):
        return False, f"{model} is too small to translate queries reliably"
    if mode == "auto" and model.startswith("local:"):
        return False, (f"{model} runs in-process; query translation with it needs --translate on")
    return True, ""


@dataclass
class Translation:
    """What was searched for a question: ``text`` (the translation, or the question)."""

    original: str
    text: str
    source: str  # the question's language ("" when nothing marked one)
    target: str  # the corpus's language
    model: str = ""
    seconds: float = 0.0
    cached: bool = False
    translated: bool = False  # False: the question was searched as asked
    reason: str = ""  # why not, when not translated

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.text,
            "original": self.original,
            "from": self.source,
            "to": self.target,
            "translated": self.translated,
            "model": self.model,
            "cached": self.cached,
            "seconds": round(self.seconds, 4),
            **({"reason": self.reason} if self.reason else {}),
        }


class TranslationCache:
    """A thread-safe LRU of translations, keyed by (model, target language, question)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[str, str, str], value: str) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


#: The process-wide cache every :class:`QueryTranslator` uses unless given its own.
SHARED_CACHE = TranslationCache()


def clean_reply(reply: str, query: str) -> str | None:
    """The translation in a model's reply, or ``None`` when the reply is not one.

    Takes the first non-empty line, drops a ``Translation:`` label and wrapping
    quotes; refuses an empty reply and one far longer than the question (a
    model that answers instead of translating).
    """
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = re.sub(
        r"^\**\s*(?:translation|english|query)\s*(?:\*\*\s*:|:\s*\**)\s*", "", lines[0], flags=re.I
    ).strip()
    if len(text) >= 2 and text[0] in "\"'`«“" and text[-1] in "\"'`»”":
        text = text[1:-1].strip()
    if not text or len(text) > 3 * len(query) + 60:
        return None
    return text


class QueryTranslator:
    """Translates questions with ``llm`` (one short call, cached); see the module docstring."""

    def __init__(
        self,
        llm: LLM,
        *,
        cache: TranslationCache | None = None,
        effort: str | None = "low",
        max_tokens: int | None = 1024,
    ) -> None:
        self.llm = llm
        self.model = str(getattr(llm, "model", type(llm).__name__))
        self.cache = cache if cache is not None else SHARED_CACHE
        self.effort = effort  # reasoning models think before the one line
        self.max_tokens = max_tokens

    def messages(self, query: str, target: str) -> list[dict[str, Any]]:
        lang = LANGUAGE_NAMES.get(target, target)
        return [
            {"role": "system", "content": _SYSTEM.format(lang=lang)},
            {"role": "user", "content": query},
        ]

    def translate(self, query: str, *, target: str = "en", source: str = "") -> Translation:
        """``query`` in ``target``; on failure the query itself, with ``reason`` set."""
        t0 = time.perf_counter()
        key = (self.model, target, query)
        hit = self.cache.get(key)
        if hit is not None:
            return Translation(
                query,
                hit,
                source,
                target,
                self.model,
                time.perf_counter() - t0,
                cached=True,
                translated=True,
            )
        try:
            done = self.llm.complete(
                self.messages(query, target),
                effort=self.effort,
                max_tokens=self.max_tokens,
                temperature=0.0,
            )
            text = clean_reply(done.text, query)
            reason = (
                ""
                if text
                else (
                    f"the translation reply was not usable ({' '.join(done.text.split())[:80]!r})"
                )
            )
        except OssragError as exc:
            text, reason = None, f"query translation failed ({exc.message})"
        seconds = time.perf_counter() - t0
        if text is None:
            return Translation(
                query,
                query,
                source,
                target,
                self.model,
                seconds,
                reason=f"{reason}; searched the question as asked",
            )
        self.cache.put(key, text)
        return Translation(query, text, source, target, self.model, seconds, translated=True)
