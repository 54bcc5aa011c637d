"""``/d/{code}``: the one-tap done link. GET shows a page, only its button's POST records.

Pages are in the client's language as well as the tracker can tell: it does not keep the
client's language (the notifier does), so the browser's Accept-Language (the phone's
language) comes first, then the clinic's default language, then English
(``shared.messages.pages.page_language``).

Every answer is a small page that no cache, search engine or next site gets to keep
(``no-store``, ``noindex``, ``no-referrer``): the URL is the key to the record.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.links import DIGEST_PATH, DONE_PATH
from shared.logging import get_logger
from shared.messages.pages import page_language
from shared.messages.phrasing import Notice, PageTexts
from tracker import metrics, pages
from tracker.done_links import DigestLinks, DigestLook, LinkRecord, LinkState, Look
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
_REFUSED: dict[LinkState, tuple[Callable[[PageTexts], Notice], int]] = {
    LinkState.INVALID: (lambda t: t.invalid, 403),
    LinkState.UNKNOWN: (lambda t: t.not_ready, 404),
    LinkState.EXPIRED: (lambda t: t.expired, 410),
}


def respond(
    method: str, answer: str, body: str, status: int = 200, *, retry: bool = False
) -> HTMLResponse:
    metrics.DONE_LINK_ANSWERS.labels(method, answer).inc()
    extra = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else {}
    return HTMLResponse(body, status_code=status, headers=_HEADERS | extra)


def refused(method: str, look: Look, language: str) -> HTMLResponse:
    which, status = _REFUSED[look.state]
    log.info("done link not usable", state=look.state.value, method=method)
    body = pages.notice(language, which)
    return respond(method, look.state.value, body, status, retry=look.state is LinkState.UNKNOWN)


def unavailable(method: str, request: Request) -> HTMLResponse:
    body = pages.notice(browser_language(request), lambda t: t.unavailable)
    return respond(method, "unavailable", body, 503, retry=True)


def browser_language(request: Request, clinic_default: str | None = None) -> str:
    """The page's language (see the module's docstring)."""
    return page_language(None, request.headers.get("accept-language"), clinic_default)


async def link_language(runtime: Runtime, request: Request, record: LinkRecord | None) -> str:
    return browser_language(request, await runtime.links.clinic_language(record))


def done_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get(DONE_PATH + "/{code}", response_class=HTMLResponse)
    async def show(code: str, request: Request) -> HTMLResponse:
        try:
            look = await runtime.links.look(code)
            language = await link_language(runtime, request, look.record)
        except Exception:
            log.exception("done link could not be read")
            return unavailable("GET", request)
        if look.record is None:
            return refused("GET", look, language)
        if look.already_done:
            return respond("GET", "already", pages.notice(language, lambda t: t.already))
        return respond("GET", "confirm", pages.confirm(language, look.record.occurrence_date))

    @router.post(DONE_PATH + "/{code}", response_class=HTMLResponse)
    async def confirm(code: str, request: Request) -> HTMLResponse:
        try:
            look = await runtime.links.confirm(code)
            language = await link_language(runtime, request, look.record)
        except Exception:
            log.exception("done link could not be recorded")
            return unavailable("POST", request)
        if look.record is None:
            return refused("POST", look, language)
        if look.already_done:
            return respond("POST", "already", pages.notice(language, lambda t: t.already))
        return respond("POST", "recorded", pages.notice(language, lambda t: t.recorded))

    @router.api_route(
        LEGACY_DONE_PATH + "/{token}", methods=["GET", "POST"], response_class=HTMLResponse
    )
    async def outdated(token: str, request: Request) -> HTMLResponse:
        """Links sent before the short codes: they cannot be honoured (their secret and
        format are gone), so say so plainly instead of "not found"."""
        body = pages.notice(browser_language(request), lambda t: t.outdated)
        return respond(request.method, "outdated", body, 410)

    digest_routes(router, runtime)
    return router


# -- a digest's page: its reminders, each with its own done button ----------------------


def digest_routes(router: APIRouter, runtime: Runtime) -> None:
    """``/g/{code}``: GET lists a digest's reminders; POST ``?item=N`` records line N's
    completion as its own done link would, and shows the page again."""

    @router.get(DIGEST_PATH + "/{code}", response_class=HTMLResponse)
    async def show_digest(code: str, request: Request) -> HTMLResponse:
        try:
            look = await DigestLinks(runtime.links).look(code)
        except Exception:
            log.exception("digest link could not be read")
            return unavailable("GET", request)
        language = browser_language(request, look.clinic_language)
        if look.state is not LinkState.VALID:
            return refused("GET", Look(look.state), language)
        return respond("GET", "digest", pages.digest(language, _items(look)))

    @router.post(DIGEST_PATH + "/{code}", response_class=HTMLResponse)
    async def confirm_digest(code: str, request: Request, item: int = 0) -> HTMLResponse:
        try:
            look, line = await DigestLinks(runtime.links).confirm(code, item)
        except Exception:
            log.exception("digest link could not be recorded")
            return unavailable("POST", request)
        language = browser_language(request, look.clinic_language)
        if look.state is not LinkState.VALID:
            return refused("POST", Look(look.state), language)
        answer = "recorded" if line is not None else "digest"
        recorded = line.number if line is not None else None
        return respond("POST", answer, pages.digest(language, _items(look), recorded))


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
