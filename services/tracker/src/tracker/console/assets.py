"""What every console page shares: the script and style sheet, and how a page is served.

Pages are static HTML (no data in them, so they may be cached nowhere and shown to
anyone); each asks the JSON API with the viewer's token, kept in sessionStorage under the
dashboard's key, so one sign-in opens every page. Everything is served from here: the
console works offline, with no CDN.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

# Scripts and styles only from this origin; no frames, no forms posting elsewhere.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def static_text(name: str) -> str:
    return files("tracker").joinpath(f"static/{name}").read_text()


def page(name: str) -> HTMLResponse:
    """A console page from ``static/``: read once per request (small, and never stale)."""
    return HTMLResponse(static_text(name), headers=PAGE_HEADERS)


def assets_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    script, style = static_text("console.js"), static_text("console.css")

    @router.get("/console/console.js")
    async def console_js() -> Response:
        return Response(script, media_type="text/javascript", headers=PAGE_HEADERS)

    @router.get("/console/console.css")
    async def console_css() -> Response:
        return Response(style, media_type="text/css", headers=PAGE_HEADERS)

    return router
