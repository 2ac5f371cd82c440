"""The knowledge bases over HTTP: models, the KB list, one chunk, deletion; and the
name checks every knowledge-base route shares.

    curl -s localhost:8000/v1/models                          # one model id per knowledge base
    curl -s localhost:8000/v1/kbs                             # knowledge bases with their info
    curl -s localhost:8000/v1/kbs/docs/chunks/<id>            # one passage (citation links)
    curl -s -X DELETE localhost:8000/v1/kbs/docs

Search is in :mod:`.search`, ingestion and its jobs in :mod:`.ingestion`; they
check names with :func:`kb_name` and :data:`KB_OR_DEFAULT` from here. Blocking
library calls run in worker threads (plain ``def`` endpoints).
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from ..errors import OssragError
from .errors import ApiError
from .jobs import jobs_for
from .openapi import documented
from .runs import KB_NAME, open_kb
from .schemas import Chunk, DeletedKb, KbList, ModelList
from .state import ServerState

__all__ = [
    "CHUNK_LINK",
    "KB_OR_DEFAULT",
    "app_state",
    "delete_kb",
    "get_chunk",
    "kb_name",
    "list_kbs",
    "list_models",
    "router",
]

router = APIRouter(tags=["knowledge bases"])

#: What a ``kb`` field may hold: a name, or nothing (the server's --kb).
KB_OR_DEFAULT = r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})?$"
_STARTED = int(time.time())


def app_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    state: ServerState = request.app.state.ossrag
    return state


def kb_name(name: Any, param: str = "kb") -> str:
    """``name`` when it is a valid knowledge-base name, else a 400 that says the rule."""
    if not isinstance(name, str) or not KB_NAME.match(name):
        raise ApiError(
            400,
            f"invalid knowledge base name {name!r}: use 1-64 letters, digits, "
            "'_' or '-', starting with a letter or digit",
            param=param,
        )
    return name


def _kb_path() -> Any:
    """A path parameter documented with the name rule; kb_name checks it (with a hint)."""
    return PathParam(json_schema_extra={"pattern": KB_NAME.pattern})


def _kb_entry(state: ServerState, name: str) -> dict[str, Any]:
    try:
        info = state.kb(name).info()
    except OssragError as exc:  # listed even when its info cannot be read
        return {
            "rows": None,
            "sources": None,
            "embedder": None,
            "ingesting": state.busy(name),
            "error": str(exc),
        }
    entry: dict[str, Any] = {
        "rows": info.rows,
        "sources": info.sources,
        "embedder": info.embedder,
        "ingesting": state.busy(name),
    }
    description = getattr(info, "description", None)
    if description:
        entry["description"] = description
    return entry


@router.get(
    "/v1/models",
    summary="The knowledge bases, as model ids",
    response_model=None,
    responses=documented(ModelList, 503),
)
def list_models(request: Request) -> dict[str, Any]:
    state = app_state(request)
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": _STARTED,
                "owned_by": "ossrag",
                "ossrag": _kb_entry(state, name),
            }
            for name in state.kb_names()
        ],
    }


@router.get(
    "/v1/kbs",
    summary="The knowledge bases with their size, embedder and index",
    response_model=None,
    responses=documented(KbList, 503),
)
def list_kbs(request: Request) -> dict[str, Any]:
    state = app_state(request)
    data = []
    for name in state.kb_names():
        try:
            info = state.kb(name).info()
            data.append(
                {
                    "name": name,
                    "object": "kb",
                    "rows": info.rows,
                    "sources": info.sources,
                    "embedder": info.embedder,
                    "dim": info.dim,
                    "bm25": info.bm25,
                    "index": info.index,
                    "ingesting": state.busy(name),
                }
            )
        except OssragError as exc:
            data.append(
                {"name": name, "object": "kb", "error": str(exc), "ingesting": state.busy(name)}
            )
    return {"object": "list", "data": data}


@router.delete(
    "/v1/kbs/{name}",
    summary="Delete a knowledge base and everything in it",
    response_model=None,
    responses=documented(DeletedKb, 400, 404, 409, 503),
)
def delete_kb(request: Request, name: str = _kb_path()) -> dict[str, Any]:
    state = app_state(request)
    kb_name(name, "name")
    if state.busy(name):
        raise ApiError(
            409,
            f"knowledge base {name!r} is being ingested; delete it when the job is done",
            code="kb_ingesting",
        )
    if not state.store.exists(name):
        raise ApiError(404, f"no knowledge base named {name!r}", param="name", code="kb_not_found")
    state.store.drop(name)
    state.forget(name)
    shutil.rmtree(jobs_for(state).root / "kbs" / name, ignore_errors=True)
    return {"id": name, "object": "kb", "deleted": True}


@router.get(
    "/v1/kbs/{kb}/chunks/{chunk_id}",
    summary="One passage (what citation URLs point at)",
    response_model=None,
    responses=documented(Chunk, 400, 404, 503),
)
def get_chunk(request: Request, chunk_id: str, kb: str = _kb_path()) -> dict[str, Any]:
    state = app_state(request)
    open_kb(state, kb_name(kb), param="kb")
    found = state.store.get_chunks(kb, [chunk_id])
    if not found:
        raise ApiError(
            404,
            f"no chunk {chunk_id!r} in knowledge base {kb!r} (re-ingesting a "
            "changed file gives its passages new ids)",
            code="chunk_not_found",
        )
    hit = found[0]
    return {
        "id": hit.id,
        "object": "chunk",
        "kb": kb,
        "source": hit.source,
        "origin": hit.origin,
        "heading": hit.heading,
        "chunk_index": hit.chunk_index,
        "text": hit.text,
        "metadata": hit.metadata,
    }


#: The OpenAPI link from a search hit to its chunk: a hit's id is what
#: GET /v1/kbs/{kb}/chunks/{chunk_id} takes (stateful fuzzing follows it).
CHUNK_LINK = {
    "operationId": "get_chunk_v1_kbs__kb__chunks__chunk_id__get",
    "parameters": {"kb": "$response.body#/kb", "chunk_id": "$response.body#/hits/0/id"},
}
