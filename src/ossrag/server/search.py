"""Search over HTTP: ``POST /v1/search``, the shape of ``ossrag search QUERY --json``.

    curl -s localhost:8000/v1/search -d '{"query": "backup", "kb": "docs", "k": 3}' \\
         -H 'Content-Type: application/json'

The request takes ``ossrag search``'s options as JSON; each hit's id links to
``GET /v1/kbs/{kb}/chunks/{id}`` (:mod:`.kbs`). The endpoint is a plain ``def``,
so the blocking search runs in a worker thread.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..retrieval.filters import build_filter
from .kbs import CHUNK_LINK, KB_OR_DEFAULT, app_state, kb_name
from .openapi import documented
from .runs import JSON_INT, open_kb
from .schemas import SearchResponse

__all__ = ["SearchRequest", "router", "search"]

router = APIRouter(tags=["knowledge bases"])


class SearchRequest(BaseModel):
    """``ossrag search``'s options as JSON (unknown fields are refused: a typo must not pass)."""

    # strict: no coercion (false is not 0.0, "3" is not 3), as the published schema says.
    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1)
    kb: str | None = Field(
        default=None,
        description="default: the server's --kb",
        json_schema_extra={"pattern": KB_OR_DEFAULT},
    )
    k: Annotated[int, Field(ge=1, le=200), JSON_INT] | None = None
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    filter: str = Field(default="", description="a Milvus expression, e.g. chunk_index < 3")
    source: str | None = Field(default=None, description="glob on the source path, e.g. faq/*")
    meta: dict[str, str] | None = Field(default=None, description="metadata equalities")
    fusion: Literal["weighted", "rrf"] | None = None
    dense_weight: float | None = Field(default=None, ge=0, le=1)
    rrf_k: Annotated[int, Field(ge=0), JSON_INT] | None = None
    candidates: Annotated[int, Field(ge=0, le=16384), JSON_INT] | None = (
        None  # Milvus's top-k limit
    )
    min_score: float | None = None
    mmr: bool = False
    mmr_lambda: float | None = Field(default=None, ge=0, le=1)
    expand: Annotated[int, Field(ge=0, le=5), JSON_INT] = 0


@router.post(
    "/v1/search",
    summary="Search a knowledge base (the shape of `ossrag search QUERY --json`)",
    response_model=None,
    responses=documented(SearchResponse, 400, 404, 409, 501, 503, links={"chunk": CHUNK_LINK}),
)
def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    state = app_state(request)
    name = kb_name(body.kb or state.settings.kb)
    kb = open_kb(state, name, param="kb")
    options = body.model_dump(
        exclude={"query", "kb", "k", "mode", "filter", "source", "meta"}, exclude_none=True
    )
    options = {k: v for k, v in options.items() if not (k in ("mmr", "expand") and not v)}
    hits = kb.search(
        body.query,
        k=body.k or state.settings.top_k,
        mode=body.mode or state.settings.mode,
        filter=build_filter(body.filter, body.source, body.meta),
        **options,
    )
    mode = kb.search_mode(body.mode or state.settings.mode)
    return {"query": body.query, "kb": name, "mode": mode, "hits": [h.to_dict() for h in hits]}
