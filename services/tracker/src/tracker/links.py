"""GET /done/{token}: the one-tap "done" link from a reminder."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from shared.contracts import CompletionSource
from shared.logging import get_logger
from shared.tokens import DONE_PATH, TokenError, verify_done_token
from tracker import pages
from tracker.recorder import CompletionInput
from tracker.runtime import TrackerRuntime

log = get_logger("tracker.links")
_STATUS = {"malformed": 400, "signature": 403, "expired": 410}


def done_router(runtime: TrackerRuntime) -> APIRouter:
    router = APIRouter()

    @router.get(DONE_PATH + "/{token}", response_class=HTMLResponse)
    async def done(token: str) -> HTMLResponse:
        secret = runtime.settings.link_secret.get_secret_value()
        try:
            claims = verify_done_token(secret, token)
        except TokenError as exc:
            log.info("done link refused", kind=exc.kind)
            body = pages.EXPIRED if exc.kind == "expired" else pages.INVALID
            return HTMLResponse(body, status_code=_STATUS.get(exc.kind, 400))
        completion = CompletionInput(
            clinic_id=claims.clinic_id,
            assignment_id=claims.assignment_id,
            client_ref=claims.client_ref,
            occurrence_date=claims.occurrence,
            completed_at=datetime.now(UTC),
            source=CompletionSource.LINK,
        )
        caused = {"clinic_id": claims.clinic_id, "correlation_id": f"link:{claims.reminder_id}"}
        try:
            added = await runtime.recorder.record_completion(completion, caused)
        except Exception:
            log.exception("done link could not be recorded")
            return HTMLResponse(pages.UNAVAILABLE, status_code=503)
        return HTMLResponse(pages.RECORDED if added else pages.ALREADY)

    return router
