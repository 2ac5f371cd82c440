"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can serve: Milvus answers).

curl -s http://127.0.0.1:8000/healthz      # {"status": "ok"}
curl -s http://127.0.0.1:8000/readyz       # {"status": "ready", "target": "Milvus Lite 3.2.2: ...", ...}
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .._version import __version__
from ..errors import OssragError
from .openapi import documented
from .schemas import Health, Ready, Unavailable

__all__ = [
    "healthz",
    "readyz",
    "router",
]

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", summary="The process is up", response_model=None, responses=documented(Health)
)
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    summary="Milvus answers and the knowledge bases can be listed",
    response_model=None,
    responses={
        **documented(Ready),
        503: {"model": Unavailable, "description": Unavailable.__doc__},
    },
)
def readyz(request: Request) -> JSONResponse:
    state = request.app.state.ossrag
    try:
        kbs = state.kb_names()
        target = state.store.capabilities.describe()
    except OssragError as exc:
        return JSONResponse(
            {"status": "unavailable", "reason": str(exc)},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    busy = [name for name in kbs if state.busy(name)]
    body: dict[str, Any] = {
        "status": "ready",
        "target": target,
        "knowledge_bases": len(kbs),
        "ingesting": busy,
    }
    if state.watch is not None:
        body["watch"] = state.watch.status()
    return JSONResponse(body)
