"""``/d/{code}``: the one-tap done link. GET shows a page, only its button's POST records.

Every answer is a small page that no cache, search engine or next site gets to keep
(``no-store``, ``noindex``, ``no-referrer``): the URL is the key to the record.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.links import DIGEST_PATH, DONE_PATH
from shared.logging import get_logger
from tracker import metrics, pages
from tracker.done_links import DigestLinks, DigestLook, LinkState, Look
from tracker.runtime import Runtime

log = get_logger("tracker.links")
LEGACY_DONE_PATH = "/done"  # the long signed tokens of earlier versions
RETRY_AFTER_SECONDS = 60
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    # Inline styles only; the one form posts back here; never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_REFUSED = {
    LinkState.INVALID: (pages.INVALID, 403),
    LinkState.UNKNOWN: (pages.NOT_READY, 404),
    LinkState.EXPIRED: (pages.EXPIRED, 410),
}


def respond(
    method: str, answer: str, body: str, status: int = 200, *, retry: bool = False
) -> HTMLResponse:
    metrics.DONE_LINK_ANSWERS.labels(method, answer).inc()
    extra = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else {}
    return HTMLResponse(body, status_code=status, headers=_HEADERS | extra)


def refused(method: str, look: Look) -> HTMLResponse:
    body, status = _REFUSED[look.state]
    log.info("done link not usable", state=look.state.value, method=method)
    return respond(method, look.state.value, body, status, retry=look.state is LinkState.UNKNOWN)


def done_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get(DONE_PATH + "/{code}", response_class=HTMLResponse)
    async def show(code: str) -> HTMLResponse:
        try:
            look = await runtime.links.look(code)
        except Exception:
            log.exception("done link could not be read")
            return respond("GET", "unavailable", pages.UNAVAILABLE, 503, retry=True)
        if look.record is None:
            return refused("GET", look)
        if look.already_done:
            return respond("GET", "already", pages.ALREADY)
        return respond("GET", "confirm", pages.confirm(look.record.occurrence_date))

    @router.post(DONE_PATH + "/{code}", response_class=HTMLResponse)
    async def confirm(code: str) -> HTMLResponse:
        try:
            look = await runtime.links.confirm(code)
        except Exception:
            log.exception("done link could not be recorded")
            return respond("POST", "unavailable", pages.UNAVAILABLE, 503, retry=True)
        if look.record is None:
            return refused("POST", look)
        if look.already_done:
            return respond("POST", "already", pages.ALREADY)
        return respond("POST", "recorded", pages.RECORDED)

    @router.api_route(
        LEGACY_DONE_PATH + "/{token}", methods=["GET", "POST"], response_class=HTMLResponse
    )
    async def outdated(token: str, request: Request) -> HTMLResponse:
        """Links sent before the short codes: they cannot be honoured (their secret and
        format are gone), so say so plainly instead of "not found"."""
        return respond(request.method, "outdated", pages.OUTDATED, 410)

    digest_routes(router, runtime)
    return router


# -- a digest's page: its reminders, each with its own done button ----------------------


def digest_routes(router: APIRouter, runtime: Runtime) -> None:
    """``/g/{code}``: GET lists a digest's reminders; POST ``?item=N`` records line N's
    completion as its own done link would, and shows the page again."""

    @router.get(DIGEST_PATH + "/{code}", response_class=HTMLResponse)
    async def show_digest(code: str) -> HTMLResponse:
        try:
            look = await DigestLinks(runtime.links).look(code)
        except Exception:
            log.exception("digest link could not be read")
            return respond("GET", "unavailable", pages.UNAVAILABLE, 503, retry=True)
        if look.state is not LinkState.VALID:
            return refused("GET", Look(look.state))
        return respond("GET", "digest", pages.digest(_items(look)))

    @router.post(DIGEST_PATH + "/{code}", response_class=HTMLResponse)
    async def confirm_digest(code: str, item: int = 0) -> HTMLResponse:
        try:
            look, line = await DigestLinks(runtime.links).confirm(code, item)
        except Exception:
            log.exception("digest link could not be recorded")
            return respond("POST", "unavailable", pages.UNAVAILABLE, 503, retry=True)
        if look.state is not LinkState.VALID:
            return refused("POST", Look(look.state))
        answer = "recorded" if line is not None else "digest"
        recorded = line.number if line is not None else None
        return respond("POST", answer, pages.digest(_items(look), recorded))


def _items(look: DigestLook) -> list[pages.DigestItem]:
    return [
        pages.DigestItem(
            number=line.number,
            purpose=line.purpose,
            day=line.look.record.occurrence_date
            if line.look.record and line.look.state is LinkState.VALID
            else None,
            done=line.look.already_done,
            activity=line.activity,
        )
        for line in look.lines
    ]
