"""The Python API: one :class:`KnowledgeBase` per Milvus collection.

    from ossrag import KnowledgeBase

    kb = KnowledgeBase(uri="./ossrag.db", name="docs")      # Milvus Lite file
    kb.ingest("docs/", include=["**/*.md"])
    for hit in kb.search("where is data stored?", k=3):
        print(hit.score, hit.source, hit.heading)
    answer = kb.ask("Where does Milvus store data?", model="local:smollm2")
    print(answer.text, [c.source for c in answer.citations])

A server is just another URI: ``KnowledgeBase(uri="http://localhost:19530",
token="root:Milvus")``. When no embedder is given, an existing knowledge base
is opened with the embedder it was built with; naming a different one is
refused with a message that says how to fix it.

Searching (:meth:`~KnowledgeBase.search`, search modes, query translation)
lives in :mod:`ossrag._kb_search`, a base class of ``KnowledgeBase``; this
module has the components, indexing, answering and management.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from ._kb_search import SearchMixin
from .answering.agent import Agent, AgentAnswer, AgentRun
from .answering.run import AnswerRun
from .config import IngestLimits, Settings
from .embedders import make_embedder
from .embedders.base import Embedder
from .ingest.sync import IngestProgress, IngestReport, sync
from .ingest.watch import WatchRound
from .ingest.watch import watch as watch_sources
from .llms import make_llm
from .llms.base import LLM, Message
from .retrieval.translate import check_translate_mode
from .stores import CollectionInfo, VectorStore, make_store
from .stores.copy import CopyReport, copy_kb
from .types import Answer

__all__ = ["KnowledgeBase"]


class KnowledgeBase(SearchMixin):
    """A named knowledge base in a Milvus target; see the module docstring.

    Components, indexing, answering and management are here; search modes,
    query translation and :meth:`search` come from
    :class:`~ossrag._kb_search.SearchMixin`.
    """

    def __init__(
        self,
        uri: str | None = None,
        name: str | None = None,
        *,
        token: str | None = None,
        embedder: str | Embedder | None = None,
        settings: Settings | None = None,
        store: VectorStore | None = None,
    ) -> None:
        if settings is None:
            settings = Settings.load({"uri": uri, "kb": name, "token": token})
        elif uri is not None or name is not None or token is not None:
            # A copy: the caller's Settings stay as they were given.
            settings = dataclasses.replace(
                settings,
                uri=uri or settings.uri,
                kb=name or settings.kb,
                token=token or settings.token,
            )
        self.settings = settings
        self.name = self.settings.kb
        self.store: VectorStore = store or make_store(
            self.settings.uri,
            self.settings.token,
            timeout=30.0,
            consistency=self.settings.consistency,
        )
        self._warned_no_bm25 = False
        self._embedder_arg = embedder
        self._embedder: Embedder | None = embedder if not isinstance(embedder, str | None) else None
        self._llms: dict[str, LLM] = {}
        self._corpus_lang: str | None = None

    # -- components -------------------------------------------------------------------------
    def _explicit_embedder(self) -> str | None:
        if isinstance(self._embedder_arg, str):
            return self._embedder_arg
        if self.settings.sources.get("embedder", "default") != "default":
            return self.settings.embedder
        return None

    @property
    def embedder(self) -> Embedder:
        """The embedder: the one given, else the one the collection was built with, else the default."""
        if self._embedder is None:
            spec = self._explicit_embedder()
            if spec is None and self.store.exists(self.name):
                spec = self.store.info(self.name).embedder
            spec = spec or self.settings.embedder
            self._embedder = make_embedder(spec, **self.settings.embedder_options(spec))
        return self._embedder

    def llm(self, model: str | None = None, *, base_url: str | None = None) -> LLM:
        """The answering model for ``model`` (default: the settings'), made once and kept."""
        spec = model or self.settings.model
        key = f"{spec}|{base_url or self.settings.base_url}"
        if key not in self._llms:
            self._llms[key] = make_llm(
                spec,
                base_url=base_url or self.settings.base_url,
                timeout=self.settings.timeout,
                max_time=self.settings.max_time,
            )
        return self._llms[key]

    # -- indexing ---------------------------------------------------------------------------
    def ingest(
        self,
        *sources: str,
        include: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        splitter: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        metadata: dict[str, Any] | None = None,
        prune: bool = True,
        progress: Callable[[IngestProgress], None] | None = None,
        limits: IngestLimits | Mapping[str, Any] | None = None,
    ) -> IngestReport:
        """Add or update ``sources`` (paths, globs, zips, URLs); see :func:`ossrag.ingest.sync.sync`.

        ``progress(p)`` receives :class:`~ossrag.ingest.progress.IngestProgress`
        snapshots (files, chunks, rate, ETA) in the calling thread while the run
        goes, and once at the end. An interrupted run is finished by the next one.
        ``limits`` bound what untrusted sources may cost: an
        :class:`~ossrag.config.IngestLimits`, or a mapping that changes some of
        the settings' limits (``limits={"allow_private_urls": True}``).
        """
        s = self.settings
        lim = (
            limits
            if isinstance(limits, IngestLimits)
            else s.ingest_limits().replace(**dict(limits or {}))
        )
        return sync(
            self.store,
            self.name,
            self.embedder,
            list(sources),
            include=include,
            exclude=exclude,
            splitter=splitter or s.splitter,
            chunk_size=chunk_size or s.chunk_size,
            chunk_overlap=chunk_overlap if chunk_overlap is not None else s.chunk_overlap,
            metadata=metadata,
            prune=prune,
            progress=progress,
            limits=lim,
        )

    def watch(
        self,
        *sources: str,
        on_round: Callable[[WatchRound], None] | None = None,
        stop: threading.Event | None = None,
        quiet_s: float = 0.5,
        backend: str = "auto",
        progress: Callable[[IngestProgress], None] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
        **options: Any,
    ) -> int:
        """Ingest ``sources``, then keep them in sync as files change, until ``stop`` is set.

        Every round is :meth:`ingest` with ``options`` (``include``, ``exclude``,
        ``splitter``, ...); ``on_round`` receives a
        :class:`~ossrag.ingest.watch.WatchRound` (its number, the changed paths,
        the report) after each. ``guard()``, when given, is entered around each
        round (``ossrag serve --watch DIR`` keeps rounds and upload jobs apart with
        it). See :mod:`ossrag.ingest.watch`.

            stop = threading.Event()
            kb.watch("docs/", on_round=lambda r: print(r.report.summary()), stop=stop)
        """
        # The Milvus Lite database may lie inside a watched folder: its own writes never count.
        ignore = [self.store.uri] if self.store.capabilities.kind == "lite" else []

        def run_round() -> IngestReport:
            with guard() if guard else contextlib.nullcontext():
                return self.ingest(*sources, progress=progress, **options)

        return watch_sources(
            list(sources),
            run_round,
            include=options.get("include", ()),
            exclude=options.get("exclude", ()),
            on_round=on_round,
            stop=stop,
            quiet_s=quiet_s,
            backend=backend,
            ignore=ignore,
        )

    # -- answering --------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        template: str = "cited",
        max_tokens: int | None = None,
        history: list[Message] | None = None,
        base_url: str | None = None,
        search: dict[str, Any] | None = None,
        translate: str | None = None,
    ) -> AnswerRun:
        """Retrieve, then return an :class:`AnswerRun` to iterate for events; ``.answer`` at the end.

        ``translate`` (default: the ``translate`` setting) is :meth:`translate`'s mode: a
        question in another language than the documents is searched with the answering
        model's translation; ``answer.translation`` and ``timings["translate_s"]`` show it.
        """
        t0 = time.perf_counter()
        llm = self.llm(model, base_url=base_url)  # fail on a bad model string before searching
        stages: dict[str, float] = {}  # translate_s, search_s, rerank_s, ...: in ask --json
        search = dict(search or {})
        if isinstance(search.get("rerank"), str):
            search["rerank"] = self._reranker(search["rerank"], llm)  # the answering model
        said: list[str] = []
        translation = self.translate(question, llm=llm, mode=translate)
        hits = self.search(
            question, **search, timings=stages, warnings=said, translation=translation
        )
        retrieve_s = time.perf_counter() - t0
        return AnswerRun(
            llm,
            question,
            hits,
            template=template,
            effort=effort if effort is not None else self.settings.effort,
            max_tokens=max_tokens,
            history=history,
            retrieve_s=retrieve_s,
            stage_timings=stages,
            t0=t0,
            warnings=said,
            translation=translation.to_dict() if translation is not None else None,
        )

    def ask(self, question: str, **kwargs: Any) -> Answer:
        """Answer ``question`` from the knowledge base; same options as :meth:`stream`."""
        run = self.stream(question, **kwargs)
        for _ in run:
            pass
        assert run.answer is not None
        return run.answer

    def agent_stream(
        self,
        question: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        max_steps: int = 4,
        max_tokens: int | None = None,
        base_url: str | None = None,
        search: dict[str, Any] | None = None,
        mode: str = "auto",
        translate: str | None = None,
    ) -> AgentRun:
        """Agent mode: the model searches this KB itself (:class:`ossrag.answering.agent.AgentRun`).

        ``search`` options apply to every search the model makes (its own ``k`` wins).
        ``translate`` (default: the setting) applies :meth:`translate` to each of its
        searches: one in another language than the documents is translated by the model
        (each step's ``translation`` in ``answer.steps``, ``timings["translate_s"]``).
        """
        t0 = time.perf_counter()
        agent = Agent(
            self,
            self.llm(model, base_url=base_url),
            effort=effort if effort is not None else self.settings.effort,
            max_steps=max_steps,
            max_tokens=max_tokens,
            k=self.settings.top_k,
            search_kwargs=search,
            mode=mode,
            translate=check_translate_mode(translate or self.settings.translate),
        )
        return agent.run(question, t0=t0)

    def agent_ask(self, question: str, **kwargs: Any) -> AgentAnswer:
        """Answer in agent mode; same options as :meth:`agent_stream`."""
        run = self.agent_stream(question, **kwargs)
        for _ in run:
            pass
        assert run.answer is not None
        return run.answer

    # -- management -------------------------------------------------------------------------
    def info(self) -> CollectionInfo:
        return self.store.info(self.name)

    def drop(self) -> None:
        self.store.drop(self.name)

    def copy_to(
        self,
        uri: str,
        *,
        token: str | None = None,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CopyReport:
        """Copy this knowledge base, vectors included, to another Milvus target.

            kb.copy_to("http://milvus:19530", token="root:Milvus")    # Lite -> server
            KnowledgeBase(uri="http://milvus:19530", name="docs").copy_to("./copy.db")

        See :func:`ossrag.stores.copy.copy_kb`: nothing is re-embedded, the embedder
        is recorded with the copy, and an interrupted copy is finished by running it again.
        """
        target = make_store(uri, token, timeout=30.0)
        try:
            return copy_kb(self.store, self.name, target, name, progress=progress)
        finally:
            target.close()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
