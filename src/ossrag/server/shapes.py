"""An :class:`~ossrag.types.Answer` in the shapes OpenAI clients read: citations as
``url_citation`` annotations, usage, finish reasons, and the ``ossrag`` extra field.

    base = "http://127.0.0.1:8000"
    chunk_url(base, "docs", hit.id)                    # base + /v1/kbs/docs/chunks/<id>
    chat_annotations(text, answer, kb="docs", base_url=base)
    # [{"type": "url_citation", "url_citation": {"url", "title", "start_index", "end_index"}}]
    flat_annotations(text, answer, kb="docs", base_url=base)   # Responses: fields at the top
    ossrag_field(answer, kb="docs", base_url=base, warnings=[...])
    chat_usage(answer.usage, reasoning=answer.reasoning)

Sources travel on every answer, even when the model wrote no ``[n]`` marks:
then every retrieved passage becomes an annotation spanning nothing (0, 0),
so a client that shows annotations as source chips still shows where the
answer came from. The chunk URL answers ``GET`` with the passage itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..types import Answer, Citation, Hit, Usage

__all__ = [
    "SNIPPET_CHARS",
    "chat_annotations",
    "chat_usage",
    "chunk_url",
    "finish_reason",
    "flat_annotations",
    "hit_title",
    "ossrag_field",
    "responses_usage",
    "snippet",
]

SNIPPET_CHARS = 300
# The markers extract_citations reads: [1], [2, 3], [1; 4].
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


def chunk_url(base_url: str, kb: str, chunk_id: str) -> str:
    """Where ``GET`` returns the chunk: ``{base_url}/v1/kbs/{kb}/chunks/{id}``."""
    return f"{base_url.rstrip('/')}/v1/kbs/{quote(kb, safe='')}/chunks/{quote(chunk_id, safe='')}"


def hit_title(hit: Hit | Citation) -> str:
    """The heading path (``A > B``), else the source path."""
    return hit.heading or hit.source


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, cut at ``limit`` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _marker_spans(text: str) -> dict[int, tuple[int, int]]:
    """``n -> (start, end)`` of the first marker group that cites ``n`` in ``text``."""
    spans: dict[int, tuple[int, int]] = {}
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            spans.setdefault(int(part.strip()), (match.start(), match.end()))
    return spans


def _sources(text: str, answer: Answer, kb: str, base_url: str) -> list[dict[str, Any]]:
    """One source per valid citation (spanning its first marker), else one per hit."""
    spans = _marker_spans(text)
    cited = [c for c in answer.citations if c.valid and c.id]
    if cited:
        out = []
        for c in cited:
            start, end = spans.get(c.n, (0, 0))
            out.append(
                {
                    "url": chunk_url(base_url, kb, c.id),
                    "title": hit_title(c),
                    "start_index": start,
                    "end_index": end,
                }
            )
        return out
    return [
        {
            "url": chunk_url(base_url, kb, h.id),
            "title": hit_title(h),
            "start_index": 0,
            "end_index": 0,
        }
        for h in answer.hits
    ]


def chat_annotations(text: str, answer: Answer, *, kb: str, base_url: str) -> list[dict[str, Any]]:
    """Chat Completions annotations for ``text`` (the content exactly as sent)."""
    sources = _sources(text, answer, kb, base_url)
    return [{"type": "url_citation", "url_citation": s} for s in sources]


def flat_annotations(text: str, answer: Answer, *, kb: str, base_url: str) -> list[dict[str, Any]]:
    """Responses API annotations (the same sources, fields at the top level)."""
    return [{"type": "url_citation", **s} for s in _sources(text, answer, kb, base_url)]


def _reasoning_tokens(usage: Usage, reasoning: str) -> int | None:
    if usage.reasoning_tokens is not None:
        return usage.reasoning_tokens
    return None if reasoning else 0  # unknown when there was reasoning nobody counted


def chat_usage(usage: Usage, *, reasoning: str = "") -> dict[str, Any]:
    """``usage`` of a chat completion, reasoning tokens in ``completion_tokens_details``."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": _reasoning_tokens(usage, reasoning)},
    }


def responses_usage(usage: Usage, *, reasoning: str = "") -> dict[str, Any]:
    """``usage`` of a Responses API response."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": _reasoning_tokens(usage, reasoning) or 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def finish_reason(answer: Answer) -> str:
    """``stop`` or ``length`` (a complete answer has no other reason here: no tools)."""
    return "length" if answer.finish_reason == "length" else "stop"


def ossrag_field(
    answer: Answer, *, kb: str, base_url: str, warnings: list[str] | None = None
) -> dict[str, Any]:
    """The ``ossrag`` extra field: citations, every hit, timings, usage, warnings.

    ``warnings`` are the server's own (an effort it mapped, instructions it
    merged), shown after the answer's.
    """
    return {
        "kb": kb,
        "model": answer.model,
        "effort": answer.effort,
        "citations": [
            {
                "n": c.n,
                "id": c.id,
                "source": c.source,
                "heading": c.heading,
                "url": chunk_url(base_url, kb, c.id),
            }
            for c in answer.citations
            if c.valid and c.id
        ],
        "hits": [
            {
                "n": n,
                "id": h.id,
                "source": h.source,
                "heading": h.heading,
                "score": float(h.score),
                "snippet": snippet(h.text),
                "url": chunk_url(base_url, kb, h.id),
            }
            for n, h in enumerate(answer.hits, start=1)
        ],
        "timings": dict(answer.timings),
        "usage": answer.usage.to_dict(),
        "warnings": [*answer.warnings, *(warnings or [])],
        "complete": answer.complete,
        # How the question was searched, when it was not in the documents' language.
        **({"translation": answer.translation} if answer.translation is not None else {}),
    }
