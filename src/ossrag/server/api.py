"""The knowledge bases over HTTP: models, search, ingestion jobs, chunks, deletion.

    curl -s localhost:8000/v1/models                          # one model id per knowledge base
    curl -s localhost:8000/v1/search -d '{"query": "backup", "kb": "docs", "k": 3}' \\
         -H 'Content-Type: application/json'                  # exactly `ossrag search QUERY --json`
    curl -s localhost:8000/v1/ingest -F kb=docs -F files=@guide.md -F files=@faq.html
    curl -s localhost:8000/v1/jobs/job-1-...                  # files/chunks done, errors per file
    curl -s localhost:8000/v1/kbs                             # knowledge bases with their info
    curl -s localhost:8000/v1/kbs/docs/chunks/<id>            # one passage (citation links)
    curl -s -X DELETE localhost:8000/v1/kbs/docs

Blocking library calls run in worker threads (plain ``def`` endpoints);
ingestion runs as a background job (:mod:`.jobs`), never in a request.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import OssragError
from ..retrieval.filters import build_filter
from .errors import ApiError
from .jobs import jobs_for, safe_relpath
from .openapi import documented
from .runs import JSON_INT, KB_NAME, open_kb
from .schemas import (
    Chunk,
    DeletedKb,
    IngestJob,
    KbList,
    ModelList,
    SearchResponse,
)
from .state import ServerState

__all__ = [
    "KB_NAME",
    "KB_OR_DEFAULT",
    "SearchRequest",
    "delete_kb",
    "get_chunk",
    "get_job",
    "ingest",
    "list_kbs",
    "list_models",
    "router",
    "search",
]

router = APIRouter(tags=["knowledge bases"])

#: What a ``kb`` field may hold: a name, or nothing (the server's --kb).
KB_OR_DEFAULT = r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})?$"
_URL = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://")  # ASCII only: re.I would let "httpſ://" by
_SPACE = re.compile(r"[ \t\r\n]+")  # what separates URLs in one form value
_STARTED = int(time.time())


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.ossrag
    return state


def _kb_name(name: Any, param: str = "kb") -> str:
    if not isinstance(name, str) or not KB_NAME.match(name):
        raise ApiError(
            400,
            f"invalid knowledge base name {name!r}: use 1-64 letters, digits, "
            "'_' or '-', starting with a letter or digit",
            param=param,
        )
    return name


def _kb_path() -> Any:
    """A path parameter documented with the name rule; _kb_name checks it (with a hint)."""
    return PathParam(json_schema_extra={"pattern": KB_NAME.pattern})


# -- models and knowledge bases --------------------------------------------------------------


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
    state = _state(request)
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
    state = _state(request)
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
    state = _state(request)
    _kb_name(name, "name")
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
    state = _state(request)
    open_kb(state, _kb_name(kb), param="kb")
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


# A hit's id is what GET /v1/kbs/{kb}/chunks/{chunk_id} takes (stateful fuzzing follows it).
_CHUNK_LINK = {
    "operationId": "get_chunk_v1_kbs__kb__chunks__chunk_id__get",
    "parameters": {"kb": "$response.body#/kb", "chunk_id": "$response.body#/hits/0/id"},
}


# -- search ----------------------------------------------------------------------------------


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
    responses=documented(SearchResponse, 400, 404, 409, 501, 503, links={"chunk": _CHUNK_LINK}),
)
def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    name = _kb_name(body.kb or state.settings.kb)
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


# -- ingestion jobs --------------------------------------------------------------------------


async def _stage(upload: UploadFile, into: Path) -> str:
    rel = safe_relpath(upload.filename or "")
    if not rel:
        raise ApiError(400, "an uploaded file has no name", param="files")
    target = into / rel
    target.parent.mkdir(parents=True, exist_ok=True)

    def copy() -> None:
        with open(target, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)

    await run_in_threadpool(copy)
    return rel


def _urls(urls: list[str]) -> list[str]:
    bad = [u for u in urls if not _URL.match(u)]
    if bad:
        raise ApiError(
            400, f"not an http(s) URL: {bad[0]!r} (upload local files instead)", param="urls"
        )
    for url in urls:  # what the fetcher could not even parse fails now, not in the job
        try:
            host = urlsplit(url).hostname
            if not host:
                raise ValueError("no host")
            host.encode("idna")
        except (ValueError, UnicodeError) as exc:
            raise ApiError(
                400, f"invalid URL {url!r}: {exc}", param="urls", code="invalid_source"
            ) from None
    return urls


_KB_FIELD = {
    "type": "string",
    "pattern": KB_OR_DEFAULT,
    "description": "default: the server's --kb",
}
_ONE_URL = r"[Hh][Tt][Tt][Pp][Ss]?://[^ \t\r\n]*"
_URLS = {"type": "array", "items": {"type": "string", "pattern": _URL.pattern}}
# A form value may hold several URLs separated by spaces or line breaks.
_FORM_URLS = {
    "type": "array",
    "items": {
        "type": "string",
        "pattern": (rf"^[ \t\r\n]*({_ONE_URL}([ \t\r\n]+{_ONE_URL})*)?[ \t\r\n]*$"),
    },
}
# The endpoint reads its body itself (a form or JSON), so the document says what it accepts.
_INGEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "kb": _KB_FIELD,
                    "files": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "format": "binary"},
                        "description": "files (their names may hold folders: guide/a.md)",
                    },
                    "urls": {
                        **_FORM_URLS,
                        "description": "pages to fetch (several in one value: "
                        "separated by spaces or line breaks)",
                    },
                },
                "description": "files and/or urls (neither: 400 nothing_to_ingest)",
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["urls"],
                "properties": {"kb": _KB_FIELD, "urls": {**_URLS, "minItems": 1}},
            }
        },
    },
}


@router.post(
    "/v1/ingest",
    status_code=202,
    summary="Upload files (multipart) and/or name URLs; ingested by a background job",
    response_model=None,
    responses=documented(IngestJob, 400, 503, status=202),
    openapi_extra={"requestBody": _INGEST_BODY},
)
async def ingest(request: Request) -> JSONResponse:
    state = _state(request)
    jobs = jobs_for(state)
    kind = request.headers.get("content-type", "")
    staged: dict[str, Path] = {}  # by path in the KB: a name sent twice is one file, the last
    job_id, into = None, None
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        try:
            kb = _kb_name(form.get("kb") or state.settings.kb)
            urls = _urls(
                [
                    u
                    for v in form.getlist("urls")
                    if isinstance(v, str)
                    for u in _SPACE.split(v)
                    if u
                ]
            )
            uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if uploads:
                job_id, into = jobs.staging_dir()
            for upload in uploads:
                assert into is not None
                rel = await _stage(upload, into)
                staged[rel] = into / rel
        except BaseException:
            if into is not None:
                shutil.rmtree(into, ignore_errors=True)
            raise
        finally:
            await form.close()
    else:
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError(
                400, 'send multipart/form-data (kb, files) or JSON {"kb": ..., "urls": [...]}'
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("urls", []), list):
            raise ApiError(400, 'JSON body must be {"kb": NAME, "urls": [URL, ...]}', param="urls")
        given = body.get("kb", "")
        kb = _kb_name(given if given != "" else state.settings.kb)
        urls = _urls([str(u) for u in body.get("urls", [])])
    if not staged and not urls:
        raise ApiError(
            400,
            "nothing to ingest: send files (multipart) and/or urls",
            param="files",
            code="nothing_to_ingest",
        )
    job = jobs.submit(kb, files=list(staged.items()), urls=list(dict.fromkeys(urls)), job_id=job_id)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.get(
    "/v1/jobs/{job_id}",
    summary="An ingestion job's progress, errors and report",
    response_model=None,
    responses=documented(IngestJob, 404),
)
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    job = jobs_for(_state(request)).get(job_id)
    if job is None:
        raise ApiError(
            404,
            f"no job {job_id!r} (finished jobs are remembered until the server restarts)",
            code="job_not_found",
        )
    return job.to_dict()
