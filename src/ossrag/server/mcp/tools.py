"""What each MCP tool does, as plain blocking methods over one :class:`ServerState`.

    tools = Tools(state)
    result = tools.search("where is data stored?", kb="docs", k=3)   # a CallToolResult
    result.structured_content["hits"][0]["id"], result.content[0].text

Each method returns structured content (the models in :mod:`.models`) and a
readable text in which document text is fenced as untrusted data; every
failure is a :class:`ToolError` (an ``isError`` result the model can read),
never an empty result. :mod:`.server` registers them with the MCP SDK; the SDK
runs the blocking ones in a worker thread. ``ask``, which streams a model's
answer, is in :mod:`.ask` and uses :meth:`Tools.open_kb`,
:meth:`Tools.fenced_hits`, :func:`explained` and :func:`tool_result` from here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from ...errors import FilterError, LLMError, OssragError, StoreError
from ...kb import KnowledgeBase
from ...retrieval.filters import build_filter
from ...types import Hit
from ..shapes import chunk_url
from ..state import ServerState
from . import models as m
from .render import (
    UNTRUSTED_NOTICE,
    Budget,
    clean,
    clean_line,
    describe_sources,
    fence_document,
    hit_header,
    snippet,
    truncate,
)
from .sections import join_chunks, match_heading, resolve_source

__all__ = ["Tools", "explained", "tool_result"]


def tool_result(data: BaseModel, text: str) -> CallToolResult:
    """A tool's answer: ``data`` as structured content, ``text`` for a reader."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json"),
    )


@contextmanager
def explained(action: str) -> Iterator[None]:
    """ossrag errors become ToolErrors that say what failed and how to fix it."""
    try:
        yield
    except ToolError:
        raise
    except FilterError as exc:
        raise ToolError(f"invalid filter: {exc}") from exc
    except StoreError as exc:
        raise ToolError(f"{action} failed: the knowledge-base store is unavailable: {exc}") from exc
    except LLMError as exc:
        raise ToolError(f"{action} failed: the answering model is unavailable: {exc}") from exc
    except OssragError as exc:
        raise ToolError(f"{action} failed: {exc}") from exc


class Tools:
    """The tools over ``state`` (see the module docstring)."""

    def __init__(
        self, state: ServerState, budget: Budget | None = None, base_url: str | None = None
    ) -> None:
        self.state, self.budget = state, budget or Budget()
        self.base_url = base_url  # over HTTP: hits link to GET /v1/kbs/{kb}/chunks/{id}
        self._described: dict[str, tuple[int, m.KnowledgeBase]] = {}  # kb -> (rows, description)
        self._lock = threading.Lock()

    # -- knowledge bases ----------------------------------------------------------------
    def _names(self) -> list[str]:
        with explained("listing the knowledge bases"):
            return self.state.kb_names()

    def default_kb(self, names: list[str]) -> str | None:
        """The configured KB when it exists, else the only one."""
        configured = self.state.settings.kb.replace("-", "_")
        if configured in names:
            return configured
        return names[0] if len(names) == 1 else None

    def open_kb(self, name: str | None) -> KnowledgeBase:
        """The knowledge base a call names (or the default), ready to read."""
        names = self._names()
        if not names:
            raise ToolError(
                f"there are no knowledge bases at {self.state.settings.uri} yet; "
                "ingest documents first (ossrag ingest PATH --kb NAME)"
            )
        if not name:
            name = self.default_kb(names)
            if name is None:
                raise ToolError(f"name a knowledge base with kb=...: one of {', '.join(names)}")
        key = name.replace("-", "_")
        if key not in names:
            raise ToolError(
                f"no knowledge base {name!r}; available: {', '.join(names)} "
                "(list_knowledge_bases describes them)"
            )
        if self.state.busy(key):
            raise ToolError(
                f"knowledge base {key!r} is being ingested right now; try again in a few seconds"
            )
        return self.state.kb(key)

    def describe(self, name: str, default: str | None = None) -> m.KnowledgeBase:
        """What ``kb info`` knows of ``name``, cached until its row count changes."""
        store = self.state.store
        rows = store.count(name)
        with self._lock:
            cached = self._described.get(name)
        if cached is None or cached[0] != rows:
            info = store.info(name)
            sources = sorted({src for _, src in store.source_index(name)})
            text = getattr(info, "description", "") or ""
            summary = f"{info.rows} chunks from {info.sources} documents" + (
                f": {describe_sources(sources)}" if sources else ""
            )
            desc = m.KnowledgeBase(
                name=name,
                description=f"{text} ({summary})" if text else summary,
                rows=info.rows,
                sources=info.sources,
                embedder=info.embedder,
                example_sources=[clean_line(s, 120) for s in sources[:8]],
                default=False,
                ingesting=False,
            )
            with self._lock:
                self._described[name] = (rows, desc)
            cached = (rows, desc)
        return cached[1].model_copy(
            update={"default": name == default, "ingesting": self.state.busy(name)}
        )

    def catalogue(self) -> list[m.KnowledgeBase]:
        names = self._names()
        default = self.default_kb(names)
        with explained("describing the knowledge bases"):
            return [self.describe(n, default) for n in names]

    def catalogue_text(self) -> str:
        """One line per KB, for tool descriptions; never raises (the store may be down)."""
        try:
            kbs = self.catalogue()
        except ToolError as exc:
            return f"\n\nKnowledge bases: unavailable right now ({exc})."
        if not kbs:
            return "\n\nKnowledge bases: none yet."
        lines = [f"- {kb.name}{' (default)' if kb.default else ''}: {kb.description}" for kb in kbs]
        return "\n\nKnowledge bases (kb=...):\n" + "\n".join(lines)

    def list_knowledge_bases(self) -> CallToolResult:
        kbs = self.catalogue()
        with explained("describing the store"):
            target = self.state.store.capabilities.describe()
        data = m.KnowledgeBases(knowledge_bases=kbs, target=target)
        if not kbs:
            return tool_result(
                data, f"No knowledge bases yet at {self.state.settings.uri} ({target})."
            )
        lines = [f"{len(kbs)} knowledge base(s) on {target}:"]
        for kb in kbs:
            flags = [
                f for f, on in (("default", kb.default), ("being ingested", kb.ingesting)) if on
            ]
            lines.append(
                f"- {kb.name}{' [' + ', '.join(flags) + ']' if flags else ''}: "
                f"{kb.description}; embedder {kb.embedder}"
            )
        return tool_result(data, "\n".join(lines))

    # -- retrieval ----------------------------------------------------------------------
    def chunk_link(self, kb: str, chunk_id: str) -> str | None:
        """Over HTTP, the URL of a chunk; None over stdio."""
        return chunk_url(self.base_url, kb, chunk_id) if self.base_url and chunk_id else None

    def fenced_hits(self, hits: list[Hit], kb: str) -> tuple[list[m.SearchHit], list[str], int]:
        """Structured hits and their fenced texts within the budget (always at least one)."""
        out: list[m.SearchHit] = []
        blocks: list[str] = []
        used = 0
        for n, hit in enumerate(hits, start=1):
            snip = snippet(hit.text, self.budget.snippet_chars)
            block = fence_document(snip, header=hit_header(n, hit))
            if out and used + len(block) > self.budget.result_chars:
                break
            used += len(block)
            blocks.append(block)
            out.append(
                m.SearchHit(
                    n=n,
                    id=hit.id,
                    source=clean_line(hit.source),
                    heading=clean_line(hit.heading),
                    score=float(hit.score),
                    chunk_index=int(hit.chunk_index),
                    snippet=snip,
                    url=self.chunk_link(kb, hit.id),
                )
            )
        return out, blocks, len(hits) - len(out)

    def search(
        self,
        query: str,
        kb: str | None = None,
        k: int = 5,
        mode: str | None = None,
        filter: str = "",
        source: str = "",
    ) -> CallToolResult:
        if not query.strip():
            raise ToolError("query is empty: say what to look for")
        base = self.open_kb(kb)
        k = max(1, min(k, self.budget.max_k))
        warnings: list[str] = []
        with explained(f"searching {base.name!r}"):
            used_mode = base.search_mode(mode)
            where = build_filter(filter, source.strip() or None)
            hits = base.search(query, k=k, mode=mode, filter=where, warnings=warnings)
        out, blocks, omitted = self.fenced_hits(hits, base.name)
        data = m.SearchResult(
            kb=base.name, query=query, mode=used_mode, hits=out, omitted=omitted, warnings=warnings
        )
        if not hits:
            why = f" matching {where!r}" if where else ""
            text = f"No passages{why} in {base.name!r} for {query!r} ({used_mode} search)."
            return tool_result(data, "\n".join([text, *warnings]))
        head = (
            f"{len(out)} passage(s) from {base.name!r} for {query!r} ({used_mode} search). "
            f"{UNTRUSTED_NOTICE} get_chunk(id) gives a passage's full text, "
            "read_section(source, heading) its whole section."
        )
        tail = (
            [
                f"({omitted} more hit(s) left out to stay within the size budget: "
                "ask with a smaller k or a more specific query)"
            ]
            if omitted
            else []
        )
        return tool_result(data, "\n\n".join([head, *blocks, *tail, *warnings]))

    def get_chunk(self, id: str, kb: str | None = None) -> CallToolResult:
        base = self.open_kb(kb)
        with explained(f"reading chunk {id!r}"):
            found = base.store.get_chunks(base.name, [id.strip()])
        if not found:
            raise ToolError(
                f"no chunk with id {id!r} in {base.name!r} (ids come from search "
                "results; the document may have been re-ingested since)"
            )
        hit = found[0]
        text, cut = truncate(clean(hit.text), self.budget.result_chars)
        data = m.Chunk(
            kb=base.name,
            id=hit.id,
            source=clean_line(hit.source),
            origin=clean_line(hit.origin),
            heading=clean_line(hit.heading),
            chunk_index=int(hit.chunk_index),
            text=text,
            truncated=cut,
            url=self.chunk_link(base.name, hit.id),
        )
        note = ["(truncated to the size budget)"] if cut else []
        body = fence_document(text, header=hit_header(None, hit, score=False))
        return tool_result(data, "\n\n".join([UNTRUSTED_NOTICE, body, *note]))

    def read_section(self, source: str, heading: str = "", kb: str | None = None) -> CallToolResult:
        base = self.open_kb(kb)
        with explained(f"reading {source!r}"):
            chunks = base.store.source_chunks(base.name, source)
            if not chunks:
                source = resolve_source(source, [s for _, s in base.store.source_index(base.name)])
                chunks = base.store.source_chunks(base.name, source)
        origins = list(dict.fromkeys(c.origin for c in chunks))
        notes = (
            [f"({source!r} was ingested from {len(origins)} places; showing {origins[0]!r})"]
            if len(origins) > 1
            else []
        )
        chunks = [c for c in chunks if c.origin == origins[0]]
        picked = match_heading(chunks, heading) if heading.strip() else chunks
        if not picked:
            known = list(dict.fromkeys(c.heading for c in chunks if c.heading))
            listed = "; ".join(clean_line(h, 120) for h in known[:30]) or "(none)"
            raise ToolError(f"no section {heading!r} in {source!r}; its headings: {listed}")
        full = clean(join_chunks(picked))
        text, cut = truncate(full, self.budget.result_chars)
        headings = [clean_line(h) for h in dict.fromkeys(c.heading for c in picked)]
        data = m.Section(
            kb=base.name,
            source=clean_line(source),
            heading=clean_line(heading),
            headings=headings,
            chunk_ids=[c.id for c in picked],
            text=text,
            truncated=cut,
        )
        if cut:
            notes.append(
                f"(truncated at {len(text)} of {len(full)} characters: ask for one of its "
                f"sub-sections: {'; '.join(headings[:20])})"
            )
        title = clean_line(source) + (f" — {clean_line(heading)}" if heading.strip() else "")
        header = f"{title} ({len(picked)} chunk(s); sections: {'; '.join(headings[:20])})"
        return tool_result(
            data, "\n\n".join([UNTRUSTED_NOTICE, fence_document(text, header=header), *notes])
        )
