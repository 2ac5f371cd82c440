"""Ingestion over HTTP: ``POST /v1/ingest`` starts a background job, ``GET /v1/jobs/{id}``
follows it.

    curl -s localhost:8000/v1/ingest -F kb=docs -F files=@guide.md -F files=@faq.html
    curl -s localhost:8000/v1/ingest -d '{"kb": "docs", "urls": ["https://example.com/a"]}' \\
         -H 'Content-Type: application/json'
    curl -s localhost:8000/v1/jobs/job-1-...                  # files/chunks done, errors per file

Uploads are staged into the job's folder and URLs checked here, before the job
is submitted; the job itself runs in :mod:`.jobs`, never in a request.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .errors import ApiError
from .jobs import jobs_for, safe_relpath
from .kbs import KB_OR_DEFAULT, app_state, kb_name
from .openapi import documented
from .schemas import IngestJob

__all__ = ["get_job", "ingest", "router"]

router = APIRouter(tags=["knowledge bases"])

_URL = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://")  # ASCII only: re.I would let "httpſ://" by
_SPACE = re.compile(r"[ \t\r\n]+")  # what separates URLs in one form value


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
    state = app_state(request)
    jobs = jobs_for(state)
    kind = request.headers.get("content-type", "")
    staged: dict[str, Path] = {}  # by path in the KB: a name sent twice is one file, the last
    job_id, into = None, None
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        try:
            kb = kb_name(form.get("kb") or state.settings.kb)
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
        kb = kb_name(given if given != "" else state.settings.kb)
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
    job = jobs_for(app_state(request)).get(job_id)
    if job is None:
        raise ApiError(
            404,
            f"no job {job_id!r} (finished jobs are remembered until the server restarts)",
            code="job_not_found",
        )
    return job.to_dict()
