"""The web page at ``/``: static files shipped in the package, behind a strict CSP.

    app.include_router(page.router)        # GET / (index.html), GET /static/<file>

Everything the page needs is in ``server/static/`` (vendored ``marked`` and
``DOMPurify``, see ``static/vendor/README.md``): no CDN, no build step, it
works offline. The Guard leaves ``/`` and ``/static/`` open; the page sends the
bearer key with its API calls when the user gave one.

Every response carries :data:`CSP`: scripts and styles only from this server
(no inline script, no ``eval``), images only from here or ``data:``, requests
only to here, and Trusted Types required for script-capable DOM sinks, so that
the only HTML ever parsed is DOMPurify's output. The sanitiser is the first
line of defence against model output and document text; the policy is the
second, should it ever miss.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from .errors import ApiError

__all__ = [
    "CSP",
    "STATIC",
    "favicon",
    "index",
    "router",
    "static",
]

#: Where the page's files live (installed with the package: see pyproject's package-data).
STATIC = Path(__file__).parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        # Only DOMPurify's policy may turn strings into HTML (innerHTML & co. refuse plain strings).
        "require-trusted-types-for 'script'",
        "trusted-types dompurify",
    ]
)

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# The types the page ships; anything else is served as bytes (nosniff keeps it inert).
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".html": "text/html",
    ".md": "text/markdown",
    ".json": "application/json",
}

router = APIRouter(include_in_schema=False)


def _file(path: Path, *, cache: str) -> FileResponse:
    media = (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    if media.startswith("text/") or media in ("image/svg+xml", "application/json"):
        media += "; charset=utf-8"
    return FileResponse(path, media_type=media, headers={**_HEADERS, "Cache-Control": cache})


@router.get("/")
def index() -> Response:
    # no-cache: a new version of ossrag gets its new page (the files keep their names)
    return _file(STATIC / "index.html", cache="no-cache")


@router.get("/favicon.ico")
def favicon() -> Response:
    return _file(STATIC / "icon.svg", cache="max-age=86400")


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """A file under ``static/``; nothing outside it (``..``, absolute paths, symlinks out)."""
    root = STATIC.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.name.startswith("."):
        raise ApiError(404, f"no such file: /static/{name}", code="not_found")
    return _file(path, cache="no-cache")
