"""The retrieval half of :class:`~ossrag.kb.KnowledgeBase`: search modes, query
translation and :meth:`~KnowledgeBase.search`.

    kb = KnowledgeBase(uri="./ossrag.db", name="docs")
    kb.search_mode()                                   # "hybrid", or "dense" without BM25
    t = kb.translate("Wie aktiviere ich TLS?")         # None: nothing to translate
    kb.search("Wie aktiviere ich TLS?", k=5, translation=t, mmr=True)

:class:`SearchMixin` is a base class of ``KnowledgeBase`` and not used alone: it
reads the knowledge base's ``settings``, ``name``, ``store``, ``embedder`` and
``llm()``, which :mod:`ossrag.kb` defines together with ingestion, answering and
management. It lives in the facade layer with ``kb.py`` (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import Settings
from .embedders.base import Embedder
from .errors import ConfigError
from .llms.base import LLM
from .retrieval import RetrievalOptions, SearchInfo, retrieve
from .retrieval.language import detect_language
from .retrieval.rerank import Reranker, make_reranker
from .retrieval.translate import (
    QueryTranslator,
    Translation,
    check_translate_mode,
    translation_capable,
)
from .stores import VectorStore
from .types import Hit

__all__ = ["SearchMixin"]

log = logging.getLogger("ossrag")


class SearchMixin:
    """Search modes, query translation and search for :class:`~ossrag.kb.KnowledgeBase`."""

    # Set by KnowledgeBase.__init__.
    settings: Settings
    name: str
    store: VectorStore
    _warned_no_bm25: bool
    _corpus_lang: str | None

    if TYPE_CHECKING:  # defined by KnowledgeBase

        @property
        def embedder(self) -> Embedder: ...

        def llm(self, model: str | None = None, *, base_url: str | None = None) -> LLM: ...

    def _reranker(self, spec: str, llm: LLM | None = None) -> Reranker | None:
        """A reranker from its ``--rerank`` text; ``llm`` reranks with ``llm``, else this KB's model."""
        wants_llm = spec.strip().lower() == "llm"
        return make_reranker(spec, llm=(llm or self.llm()) if wants_llm else None)

    @property
    def default_mode(self) -> str:
        """``hybrid`` where the Milvus target has BM25, else ``dense``."""
        if self.settings.mode:
            return self.settings.mode
        return "hybrid" if self.store.capabilities.bm25 else "dense"

    def search_mode(self, mode: str | None = None) -> str:
        """The mode a search asked for ``mode`` runs in: the default when None, and
        ``dense`` for ``hybrid`` where the target has no BM25 (``bm25`` stays: it fails)."""
        mode = mode or self.default_mode
        return "dense" if mode == "hybrid" and not self.store.capabilities.bm25 else mode

    def corpus_language(self) -> str:
        """The language of this knowledge base's passages (``""`` when unknown or empty).

        Read once from 50 passages (any 50: one dense search with a fixed
        vector) by :func:`~ossrag.retrieval.language.detect_language`.
        """
        if self._corpus_lang is None:
            if not self.store.exists(self.name):
                return ""
            probe = np.full(self.embedder.dim, 1.0, dtype=np.float32)
            probe /= np.linalg.norm(probe)
            sample = self.store.search_dense(self.name, probe, k=50)
            text = " ".join(f"{h.heading} {h.text}" for h in sample)[:50_000]
            if not text.strip():
                return ""
            self._corpus_lang = detect_language(text)
        return self._corpus_lang

    def translate(
        self, question: str, *, llm: LLM | None = None, mode: str | None = None
    ) -> Translation | None:
        """How ``question`` would be searched under query translation, or None when its
        language is the corpus's (or either is unknown): nothing to translate.

        ``mode`` (default: the ``translate`` setting) and ``llm`` (default: this KB's
        model) decide whether the model translates it (:mod:`ossrag.retrieval.translate`);
        when not, the result says why and searches the question as asked.

            t = kb.translate("Wie aktiviere ich TLS?", llm=kb.llm("vllm:openai/gpt-oss-20b"))
            kb.search("Wie aktiviere ich TLS?", translation=t)
        """
        mode = check_translate_mode(mode or self.settings.translate)
        if mode == "off":
            return None
        source = detect_language(question)
        target = self.corpus_language() if source else ""
        if not source or not target or source == target:
            return None
        llm = llm or self.llm()
        ok, why = translation_capable(llm, mode)
        if not ok:
            return Translation(question, question, source, target, llm.model, reason=why)
        return QueryTranslator(llm).translate(question, target=target, source=source)

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        filter: str = "",
        timings: dict[str, float] | None = None,
        warnings: list[str] | None = None,
        translation: Translation | None = None,
        **options: Any,
    ) -> list[Hit]:
        """Top ``k`` passages for ``query``; ``mode`` is dense, bm25 or hybrid (default: best available).

        ``options`` are :class:`~ossrag.retrieval.RetrievalOptions` fields:
        ``fusion``, ``dense_weight``, ``rrf_k``, ``candidates``, ``min_score``,
        ``mmr``, ``mmr_lambda``, ``expand``, ``rerank`` (a
        :class:`~ossrag.retrieval.rerank.Reranker`, or the ``--rerank`` text
        ``cross-encoder:PATH`` / ``llm``, which uses this KB's model) and
        ``rerank_candidates``.  ``timings``, when given, receives seconds per
        stage (``translate_s``, ``search_s``, ``rerank_s``, ``mmr_s``,
        ``expand_s``). ``translation`` (from :meth:`translate`) searches a
        translated question: dense reads the translation, BM25 the question and
        the translation (docs/benchmarks.md, "Query translation"). Warnings
        (hybrid unavailable, a reranker that failed) go to ``warnings`` when
        it is given, else to the ``ossrag`` logger.

            kb.search("where is data stored?", k=5, mmr=True, expand=1)
        """
        said: list[str] = []
        mode = self._checked_mode(query, mode, said)
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(RetrievalOptions)})
        if unknown:
            raise ConfigError(
                f"unknown search option(s): {', '.join(unknown)}",
                hint="see ossrag.retrieval.RetrievalOptions for the valid ones",
            )
        if not self.store.exists(self.name):
            self._report(said, warnings)
            return []
        if isinstance(options.get("rerank"), str):
            options["rerank"] = self._reranker(options["rerank"])
        opts = RetrievalOptions(k=k or self.settings.top_k, mode=mode, filter=filter, **options)
        info = SearchInfo()
        text, bm25_query = query, None
        if translation is not None:
            if translation.translated:
                text, bm25_query = translation.text, f"{query} {translation.text}"
            if translation.translated or translation.seconds:
                info.timings["translate_s"] = translation.seconds
            if translation.reason and translation.seconds:  # a call that failed
                said.append(translation.reason)
            elif translation.reason and not translation.translated:  # the model may not
                said.append(_untranslated_hint(translation))
        hits = retrieve(
            self.store, self.name, self.embedder, text, opts, info=info, bm25_query=bm25_query
        )
        self._report([*said, *info.warnings], warnings)
        if timings is not None:
            timings.update(info.timings)
        return hits

    def _checked_mode(self, query: str, mode: str | None, said: list[str]) -> str:
        """The mode :meth:`search` runs in; what the target lacks is added to ``said``."""
        # The default would be hybrid: say once per KnowledgeBase why it is dense here.
        if (
            mode is None
            and not self.settings.mode
            and not self.store.capabilities.bm25
            and not self._warned_no_bm25
        ):
            said.append(
                f"{self.store.capabilities.describe()}; hybrid search needs BM25, "
                "using dense search"
            )
            self._warned_no_bm25 = True
        wanted = mode or self.default_mode
        if wanted == "bm25" and not self.store.capabilities.bm25:
            # Let the store raise its explanation of what is missing.
            self.store.search_bm25(self.name, query, k=1)
        mode = self.search_mode(mode)
        if mode != wanted:
            said.append(f"{self.store.capabilities.describe()}; using dense search")
        return mode

    @staticmethod
    def _report(said: list[str], warnings: list[str] | None) -> None:
        if warnings is not None:
            warnings.extend(said)
        else:
            for warning in said:
                log.warning(warning)


def _untranslated_hint(t: Translation) -> str:
    """Why a question in another language than the documents was searched as asked."""
    # Cross-language questions found the right section about half as often on the dev
    # sets (docs/benchmarks.md, "Query translation"): say so, and how to do better.
    return (
        f"the question looks {t.source!r} and the documents {t.target!r}, and {t.reason}: "
        f"it was searched as asked, which finds less across languages; ask in {t.target!r}, "
        "or answer with a capable model (e.g. --model ollama:gpt-oss:20b) to have it "
        "translated for the search"
    )
