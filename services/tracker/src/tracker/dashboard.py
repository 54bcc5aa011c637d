"""The ops dashboard: an offline HTML page and the JSON API behind it."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from tracker.auth import CurrentViewer, Viewer
from tracker.overview import merge_latest, summarize
from tracker.runtime import Runtime
from tracker.store import hours_back

MAX_HOURS = 24 * 35  # the hourly counters' retention


def dashboard_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    html = files("tracker").joinpath("static/dashboard.html").read_text()

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @router.get("/dashboard", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        # The page itself holds no data; it asks the API with the viewer's token.
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @router.get(
        "/api/whoami",
        tags=["dashboard"],
        response_description='Who the token is: {"scope": "ops" or "clinic", "clinics": '
        "[...]} (every clinic with recorded deliveries for ops, its own for a clinic).",
        responses={401: {"description": "No token, or an unknown one."}},
    )
    async def whoami(viewer: CurrentViewer) -> dict[str, Any]:
        clinics = await runtime.store.clinics() if viewer.is_ops else [viewer.clinic_id]
        return {"scope": "ops" if viewer.is_ops else "clinic", "clinics": clinics}

    @router.get(
        "/api/overview",
        tags=["dashboard"],
        response_description="Everything the dashboard shows for the last `hours`: totals, "
        "series per hour, by channel, provider and clinic, failure reasons, latest failures "
        "and opt-outs (ids and scrubbed reasons only); queues and scheduler backlog for ops "
        "(null for a clinic token).",
        responses={
            401: {"description": "No token, or an unknown one."},
            403: {"description": "A clinic token asking for another clinic."},
        },
    )
    async def overview(
        viewer: CurrentViewer,
        clinic: str | None = None,
        hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 24,
    ) -> dict[str, Any]:
        return await build_overview(runtime, viewer, viewer.clinic_scope(clinic), hours)

    return router


async def build_overview(
    runtime: Runtime, viewer: Viewer, clinic: str | None, hours: int
) -> dict[str, Any]:
    store = runtime.store
    now = datetime.now(UTC)
    buckets = hours_back(now, hours)
    clinics = [clinic] if clinic else await store.clinics()
    per_clinic = {c: await store.hourly_counts(c, buckets) for c in clinics}
    result = summarize(buckets, per_clinic)
    result["failures"] = merge_latest([await store.latest("failures", c, 50) for c in clinics], 50)
    result["recent_opt_outs"] = merge_latest(
        [await store.latest("optouts", c, 20) for c in clinics], 20
    )
    # Queues and timers are shared by every clinic: operations staff only.
    result["queues"] = await runtime.queues.snapshot() if viewer.is_ops else None
    result["backlog"] = await store.backlogs() if viewer.is_ops else None
    result |= {
        "clinic": clinic,
        "hours": hours,
        "generated_at": now.isoformat(),
        "scope": "ops" if viewer.is_ops else "clinic",
    }
    return result
