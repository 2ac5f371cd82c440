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
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import OssragError
from ..retrieval.filters import build_filter
from .errors import ApiError
from .jobs import jobs_for, safe_relpath
from .runs import open_kb
from .state import ServerState

__all__ = [
    "KB_NAME",
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

KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # the store's rule, checked early
_STARTED = int(time.time())


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.ossrag
    return state


def _kb_name(name: Any, param: str = "kb") -> str:
    if not isinstance(name, str) or not KB_NAME.match(name):
        raise ApiError(400, f"invalid knowledge base name {name!r}: use 1-64 letters, digits, "
                       "'_' or '-', starting with a letter or digit", param=param)
    return name


# -- models and knowledge bases --------------------------------------------------------------

def _kb_entry(state: ServerState, name: str) -> dict[str, Any]:
    try:
        info = state.kb(name).info()
    except OssragError as exc:  # listed even when its info cannot be read
        return {"rows": None, "sources": None, "embedder": None, "ingesting": state.busy(name),
                "error": str(exc)}
    entry: dict[str, Any] = {"rows": info.rows, "sources": info.sources, "embedder": info.embedder,
                             "ingesting": state.busy(name)}
    description = getattr(info, "description", None)
    if description:
        entry["description"] = description
    return entry


@router.get("/v1/models", summary="The knowledge bases, as model ids")
def list_models(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": _STARTED, "owned_by": "ossrag",
         "ossrag": _kb_entry(state, name)}
        for name in state.kb_names()
    ]}


@router.get("/v1/kbs", summary="The knowledge bases with their size, embedder and index")
def list_kbs(request: Request) -> dict[str, Any]:
    state = _state(request)
    data = []
    for name in state.kb_names():
        try:
            info = state.kb(name).info()
            data.append({"name": name, "object": "kb", "rows": info.rows, "sources": info.sources,
                         "embedder": info.embedder, "dim": info.dim, "bm25": info.bm25,
                         "index": info.index, "ingesting": state.busy(name)})
        except OssragError as exc:
            data.append({"name": name, "object": "kb", "error": str(exc),
                         "ingesting": state.busy(name)})
    return {"object": "list", "data": data}


@router.delete("/v1/kbs/{name}", summary="Delete a knowledge base and everything in it")
def delete_kb(name: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    _kb_name(name, "name")
    if state.busy(name):
        raise ApiError(409, f"knowledge base {name!r} is being ingested; delete it when the job "
                       "is done", code="kb_ingesting")
    if not state.store.exists(name):
        raise ApiError(404, f"no knowledge base named {name!r}", param="name", code="kb_not_found")
    state.store.drop(name)
    state.forget(name)
    shutil.rmtree(jobs_for(state).root / "kbs" / name, ignore_errors=True)
    return {"id": name, "object": "kb", "deleted": True}


@router.get("/v1/kbs/{kb}/chunks/{chunk_id}", summary="One passage (what citation URLs point at)")
def get_chunk(kb: str, chunk_id: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    open_kb(state, _kb_name(kb), param="kb")
    found = state.store.get_chunks(kb, [chunk_id])
    if not found:
        raise ApiError(404, f"no chunk {chunk_id!r} in knowledge base {kb!r} (re-ingesting a "
                       "changed file gives its passages new ids)", code="chunk_not_found")
    hit = found[0]
    return {"id": hit.id, "object": "chunk", "kb": kb, "source": hit.source, "origin": hit.origin,
            "heading": hit.heading, "chunk_index": hit.chunk_index, "text": hit.text,
            "metadata": hit.metadata}


# -- search ----------------------------------------------------------------------------------

class SearchRequest(BaseModel):
    """``ossrag search``'s options as JSON (unknown fields are refused: a typo must not pass)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    kb: str | None = Field(default=None, description="default: the server's --kb")
    k: int | None = Field(default=None, ge=1, le=200)
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    filter: str = Field(default="", description='a Milvus expression, e.g. chunk_index < 3')
    source: str | None = Field(default=None, description="glob on the source path, e.g. faq/*")
    meta: dict[str, str] | None = Field(default=None, description="metadata equalities")
    fusion: Literal["weighted", "rrf"] | None = None
    dense_weight: float | None = Field(default=None, ge=0, le=1)
    rrf_k: int | None = Field(default=None, ge=0)
    candidates: int | None = Field(default=None, ge=0)
    min_score: float | None = None
    mmr: bool = False
    mmr_lambda: float | None = Field(default=None, ge=0, le=1)
    expand: int = Field(default=0, ge=0, le=5)


@router.post("/v1/search",
             summary="Search a knowledge base (the shape of `ossrag search QUERY --json`)")
def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    name = _kb_name(body.kb or state.settings.kb)
    kb = open_kb(state, name, param="kb")
    options = body.model_dump(exclude={"query", "kb", "k", "mode", "filter", "source", "meta"},
                              exclude_none=True)
    options = {k: v for k, v in options.items() if not (k in ("mmr", "expand") and not v)}
    hits = kb.search(body.query, k=body.k or state.settings.top_k,
                     mode=body.mode or state.settings.mode,
                     filter=build_filter(body.filter, body.source, body.meta), **options)
    mode = kb.search_mode(body.mode or state.settings.mode)
    return {"query": body.query, "kb": name, "mode": mode,
            "hits": [h.to_dict() for h in hits]}


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
    bad = [u for u in urls if not re.match(r"https?://", u, re.I)]
    if bad:
        raise ApiError(400, f"not an http(s) URL: {bad[0]!r} (upload local files instead)",
                       param="urls")
    return urls


@router.post("/v1/ingest", status_code=202,
             summary="Upload files (multipart) and/or name URLs; ingested by a background job")
async def ingest(request: Request) -> JSONResponse:
    state = _state(request)
    jobs = jobs_for(state)
    kind = request.headers.get("content-type", "")
    staged: list[tuple[str, Path]] = []
    job_id, into = None, None
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        try:
            kb = _kb_name(form.get("kb") or state.settings.kb)
            urls = _urls([u for v in form.getlist("urls") if isinstance(v, str) for u in v.split()])
            uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if uploads:
                job_id, into = jobs.staging_dir()
            for upload in uploads:
                assert into is not None
                rel = await _stage(upload, into)
                staged.append((rel, into / rel))
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
            raise ApiError(400, "send multipart/form-data (kb, files) or JSON "
                           '{"kb": ..., "urls": [...]}') from exc
        if not isinstance(body, dict) or not isinstance(body.get("urls", []), list):
            raise ApiError(400, 'JSON body must be {"kb": NAME, "urls": [URL, ...]}', param="urls")
        kb = _kb_name(body.get("kb") or state.settings.kb)
        urls = _urls([str(u) for u in body.get("urls", [])])
    if not staged and not urls:
        raise ApiError(400, "nothing to ingest: send files (multipart) and/or urls",
                       param="files")
    job = jobs.submit(kb, files=staged, urls=urls, job_id=job_id)
    return JSONResponse(job.to_dict(), status_code=202,
                        headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/v1/jobs/{job_id}", summary="An ingestion job's progress, errors and report")
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    job = jobs_for(_state(request)).get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} (finished jobs are remembered until the server "
                       "restarts)", code="job_not_found")
    return job.to_dict()
