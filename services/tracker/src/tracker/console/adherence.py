"""Adherence for clinicians: a clinic's clients over a week (escalated first) and one
client's calendar. Counts and rates from the tracker's own adherence rules."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from shared.contracts import ClinicPolicy
from tracker.auth import CurrentViewer
from tracker.console.assets import page
from tracker.decide.assignments import local_today
from tracker.decide.clinic_adherence import (
    by_attention,
    calendar,
    calendar_counts,
    client_week,
    week_start,
)
from tracker.records import AssignmentRecord
from tracker.runtime import Runtime
from tracker.store import TrackerStore

MAX_WEEKS = 12


def adherence_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["console: adherence"])

    @router.get("/console/adherence", include_in_schema=False)
    async def adherence_page() -> HTMLResponse:
        return page("adherence.html")

    @router.get("/api/console/adherence")
    async def clinic_adherence(
        viewer: CurrentViewer,
        clinic: str | None = None,
        week: Annotated[
            date | None, Query(description="Any day of the week (default: this one).")
        ] = None,
    ) -> dict[str, Any]:
        """Each client's week: due, done, missed, rate and current streak, per activity and
        overall; clients whose misses reached the clinic's threshold first."""
        clinic_id = viewer.require_clinic(clinic)
        store, now = runtime.store, runtime.clock()
        monday = week_start(week or now.date())
        clients = await store.clinic_clients(clinic_id, now)
        views = await store.client_views(clinic_id, clients)
        policies = await _policies(store, clinic_id, [r for v in views.values() for r in v.records])
        rows = [
            client_week(client, view.records, view.completions, policies, monday=monday, now=now)
            for client, view in views.items()
        ]
        return {
            "clinic": clinic_id,
            "week_start": monday.isoformat(),
            "week_end": (monday + timedelta(days=6)).isoformat(),
            "clients": by_attention(r for r in rows if r is not None),
        }

    @router.get("/api/console/adherence/{client_ref}")
    async def client_calendar(
        viewer: CurrentViewer,
        client_ref: str,
        clinic: str | None = None,
        weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 4,
    ) -> dict[str, Any]:
        """Per activity, per day of the last ``weeks`` weeks (this one included): done,
        missed, not due, paused or upcoming."""
        clinic_id = viewer.require_clinic(clinic)
        store, now = runtime.store, runtime.clock()
        view = await store.client_view(clinic_id, client_ref)
        if not view.records:
            raise HTTPException(404, f"clinic {clinic_id} has no client {client_ref!r}")
        timezone = next((r.schedule.timezone for r in view.records if r.schedule), "UTC")
        today = local_today(now, timezone)
        first = week_start(today) - timedelta(weeks=weeks - 1)
        last = week_start(today) + timedelta(days=6)
        activities = []
        for record in sorted(view.records, key=lambda r: (r.activity_kind, r.assignment_id)):
            cells = calendar(
                record, view.completions.get(record.assignment_id, {}), first, last, now
            )
            activities.append(
                {
                    "assignment_id": record.assignment_id,
                    "activity_kind": record.activity_kind,
                    "activity_title": record.activity_title,
                    "status": record.status,
                    "counts": calendar_counts(cells),
                    "days": cells,
                }
            )
        return {
            "clinic": clinic_id,
            "client_ref": client_ref,
            "timezone": timezone,
            "today": today.isoformat(),
            "first": first.isoformat(),
            "last": last.isoformat(),
            "activities": activities,
        }

    return router


async def _policies(
    store: TrackerStore, clinic_id: str, records: list[AssignmentRecord]
) -> dict[str | None, ClinicPolicy | None]:
    """Each policy the records name, read once (its escalation threshold)."""
    found: dict[str | None, ClinicPolicy | None] = {}
    for record in records:
        if record.policy_id not in found:
            found[record.policy_id] = await store.policy(clinic_id, record.policy_id)
    return found
