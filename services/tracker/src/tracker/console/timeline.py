"""The console's client page: a client's activities, upcoming reminders and the life of
each reminder (planned, moved, held back, suppressed, sent, delivered, failed,
completed, escalated), with reasons in words. The rows are assembled in
``tracker.decide.timeline``; this module loads and checks who may see them.

The tracker holds no phone number, email address or message text (the notifier keeps
them), so there is nothing here to reveal.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse

from shared.contracts import ClientPlan, utcnow
from tracker.auth import CurrentViewer
from tracker.console.assets import page
from tracker.decide.delivery import NO_CHANNEL
from tracker.decide.timeline import activity_rows, plan_rows, reminder_view, timeline_rows
from tracker.runtime import Runtime

REF = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"  # shared.contracts.fields.Ref
CHANNELS = ("sms", "email", "push", NO_CHANNEL)
NOT_ALLOWED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or an unknown one."},
    403: {"description": "A clinic token asking for another clinic."},
    422: {"description": "The ops token must name the clinic; a malformed ref."},
}
ClientRef = Annotated[str, Path(pattern=REF, description="The EHR's client ref.")]
ReminderId = Annotated[str, Path(pattern=REF, description="The reminder's id.")]
Clinic = Annotated[
    str | None, Query(description="The clinic (the ops token must name it; a clinic token's own).")
]
Limit = Annotated[int, Query(ge=1, le=5000, description="Timeline entries, newest first.")]


def timeline_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/console/clients", include_in_schema=False)
    async def clients_page() -> HTMLResponse:
        return page("client.html")

    @router.get(
        "/api/console/clients/{client_ref}",
        tags=["console"],
        summary="A client's activities, upcoming reminders and timeline",
        response_description="Activities with their status; the scheduler's upcoming and "
        "held-back reminders (from its latest plan) with why at that time; every timeline "
        "entry newest first with its reason in words. Ids, times and reasons only: no "
        "contact point or message text (the notifier keeps those).",
        responses=NOT_ALLOWED,
    )
    async def client(
        viewer: CurrentViewer, client_ref: ClientRef, clinic: Clinic = None, limit: Limit = 300
    ) -> dict[str, Any]:
        scope = viewer.require_clinic(clinic)
        store = runtime.store
        view = await store.client_view(scope, client_ref)
        plan, entries = await store.plan_and_timeline(scope, client_ref, limit)
        return {
            "clinic": scope,
            "client_ref": client_ref,
            "activities": activity_rows(view.records, view.completions),
            "plan": plan_rows(_plan(plan), utcnow()),
            "timeline": timeline_rows(entries),
            "found": bool(view.records or plan or entries),
        }

    @router.get(
        "/api/console/reminders/{reminder_id}",
        tags=["console"],
        summary="One reminder's life",
        response_description="What is known of the reminder (client, assignment, day, "
        "purpose), its outcome and reason, each channel's state and provider, its planned "
        "time if still ahead, and its timeline entries newest first.",
        responses={**NOT_ALLOWED, 404: {"description": "No such reminder (or past retention)."}},
    )
    async def reminder(
        viewer: CurrentViewer, reminder_id: ReminderId, clinic: Clinic = None
    ) -> dict[str, Any]:
        scope = viewer.require_clinic(clinic)
        store = runtime.store
        meta, messages = await store.reminder_console(scope, reminder_id, CHANNELS)
        if not meta and not any(messages.values()):
            raise HTTPException(404, "no such reminder in this clinic (or past its retention)")
        rows: list[dict[str, Any]] = []
        planned = None
        client_ref = meta.get("client_ref")
        if client_ref:
            limit = store.retention.timeline_max_len
            plan, entries = await store.plan_and_timeline(scope, client_ref, limit)
            rows = timeline_rows(entries)
            upcoming = plan_rows(_plan(plan), utcnow())["upcoming"]
            planned = next((p for p in upcoming if p["reminder_id"] == reminder_id), None)
        return {"clinic": scope, **reminder_view(reminder_id, meta, messages, rows, planned)}

    return router


def _plan(raw: str | None) -> ClientPlan | None:
    return ClientPlan.model_validate_json(raw) if raw else None
