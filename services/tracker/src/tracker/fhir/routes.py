"""The FHIR endpoints: ``POST /fhir/Task``, ``PUT /fhir/Task/{id}``, the same for
``CarePlan``, and ``POST /fhir/notifications`` (Subscription notifications).

Each resource version becomes the events an EHR would have published, sent to the
inbound exchange as the console sends a policy, so the scheduler, notifier and tracker
take them as they take any EHR's. Nothing is stored here: the event ids, derived from
the resource's version, make a repeat harmless downstream. Answers are
``OperationOutcome`` resources; a resource that cannot be mapped is refused with 422 and
the element named, and nothing of it is published."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from shared.logging import get_logger
from tracker.auth import CurrentViewer
from tracker.fhir.careplan import careplan_events, parse_careplan
from tracker.fhir.mapping_in import InboundFromFhir, parse_task, task_event
from tracker.fhir.notification import notification
from tracker.fhir.outcome import Issue, Unmappable, informational, outcome
from tracker.runtime import Runtime
from tracker.settings import FhirClinicDefaults
from tracker.usecases.publishing import Publisher

log = get_logger("tracker.fhir")
FHIR_JSON = "application/fhir+json"
NOTHING = "nothing to remind of: a draft, or no activity to follow"
Clinic = Annotated[
    str | None, Field(description="The clinic the resource is for (the ops token must name it).")
]
_BODY = {
    "requestBody": {
        "required": True,
        "content": {FHIR_JSON: {"schema": {"type": "object"}}},
    }
}
Reader = Callable[[Any, str, FhirClinicDefaults | None, datetime], list[InboundFromFhir]]


def task_events(
    body: Any, clinic_id: str, defaults: FhirClinicDefaults | None, now: datetime
) -> list[InboundFromFhir]:
    event = task_event(parse_task(body), clinic_id, defaults, now)
    return [] if event is None else [event]


def plan_events(
    body: Any, clinic_id: str, defaults: FhirClinicDefaults | None, now: datetime
) -> list[InboundFromFhir]:
    return careplan_events(parse_careplan(body), clinic_id, defaults, now)


READERS: dict[str, Reader] = {"Task": task_events, "CarePlan": plan_events}


class Refused(Exception):
    def __init__(self, status: int, issues: list[Issue]) -> None:
        super().__init__(status)
        self.status, self.issues = status, issues


def answer(status: int, issues: list[Issue]) -> JSONResponse:
    return JSONResponse(outcome(issues), status, media_type=FHIR_JSON)


def fhir_router(runtime: Runtime, publisher: Publisher) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR"])

    async def one(kind: str, request: Request, clinic_id: str, path_id: str | None) -> JSONResponse:
        try:
            body = await read_json(request, kind, runtime.settings.max_body_bytes)
            events = map_resource(runtime, kind, body, clinic_id, path_id)
            await publish(publisher, events, kind)
        except Refused as exc:
            return answer(exc.status, exc.issues)
        if not events:
            return answer(200, [informational(NOTHING, kind)])
        return answer(201 if path_id is None else 200, [published(e, kind) for e in events])

    @router.post("/Task", response_model=None, status_code=201, openapi_extra=_BODY)
    async def create_task(
        viewer: CurrentViewer, request: Request, clinic: Clinic = None
    ) -> JSONResponse:
        """A Task (JSON) as the event its status says; 422 names what cannot be mapped."""
        return await one("Task", request, viewer.require_clinic(clinic), None)

    @router.put("/Task/{task_id}", response_model=None, openapi_extra=_BODY)
    async def update_task(
        viewer: CurrentViewer, task_id: str, request: Request, clinic: Clinic = None
    ) -> JSONResponse:
        """A new version of the Task; its ``id`` must be the one in the URL."""
        return await one("Task", request, viewer.require_clinic(clinic), task_id)

    @router.post("/CarePlan", response_model=None, status_code=201, openapi_extra=_BODY)
    async def create_careplan(
        viewer: CurrentViewer, request: Request, clinic: Clinic = None
    ) -> JSONResponse:
        """A CarePlan (JSON): an event per activity; 422 names what cannot be mapped."""
        return await one("CarePlan", request, viewer.require_clinic(clinic), None)

    @router.put("/CarePlan/{careplan_id}", response_model=None, openapi_extra=_BODY)
    async def update_careplan(
        viewer: CurrentViewer, careplan_id: str, request: Request, clinic: Clinic = None
    ) -> JSONResponse:
        """A new version of the CarePlan; its ``id`` must be the one in the URL."""
        return await one("CarePlan", request, viewer.require_clinic(clinic), careplan_id)

    @router.post("/notifications", response_model=None, openapi_extra=_BODY)
    async def subscription_notification(
        viewer: CurrentViewer, request: Request, clinic: Clinic = None
    ) -> JSONResponse:
        """A Subscription notification (a ``history`` Bundle): each Task and CarePlan
        entry in order. Those that map are published even when others do not; the answer
        is then 422 naming each entry refused (sending it again repeats nothing)."""
        clinic_id = viewer.require_clinic(clinic)
        try:
            body = await read_json(request, "Bundle", runtime.settings.max_body_bytes)
            events, issues = map_notification(runtime, body, clinic_id)
            await publish(publisher, [event for _, event in events], "Bundle")
        except Refused as exc:
            return answer(exc.status, exc.issues)
        done = [published(e, f"Bundle.entry[{i}].resource") for i, e in events]
        failed = any(i.severity == "error" for i in issues)
        return answer(422 if failed else 200, [*issues, *done])

    return router


async def read_json(request: Request, kind: str, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise Refused(413, [Issue(kind, f"body is {len(body)} bytes, over {limit}", "too-long")])
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, [Issue(kind, "the body is not JSON", "structure")]) from None


def map_resource(
    runtime: Runtime, kind: str, body: Any, clinic_id: str, path_id: str | None
) -> list[InboundFromFhir]:
    """The resource's events; on a PUT its id must be the URL's (FHIR's update rule)."""
    if path_id is not None and isinstance(body, dict) and body.get("id") != path_id:
        message = f"the {kind}'s id {body.get('id')!r} is not {path_id!r} of the URL"
        raise Refused(400, [Issue(f"{kind}.id", message)])
    defaults = runtime.settings.fhir_clinics.get(clinic_id)
    try:
        return READERS[kind](body, clinic_id, defaults, runtime.clock())
    except Unmappable as exc:
        raise Refused(422, list(exc.issues)) from None


def map_notification(
    runtime: Runtime, body: Any, clinic_id: str
) -> tuple[list[tuple[int, InboundFromFhir]], list[Issue]]:
    try:
        found = notification(body)
    except Unmappable as exc:
        raise Refused(422, list(exc.issues)) from None
    defaults = runtime.settings.fhir_clinics.get(clinic_id)
    events: list[tuple[int, InboundFromFhir]] = []
    issues = list(found.issues)
    for index, resource in found.resources:
        read = READERS[resource["resourceType"]]
        try:
            mapped = read(resource, clinic_id, defaults, runtime.clock())
        except Unmappable as exc:
            issues += exc.under(f"Bundle.entry[{index}].resource").issues
            continue
        events += [(index, event) for event in mapped]
    return events, issues


async def publish(publisher: Publisher, events: list[InboundFromFhir], kind: str) -> None:
    """In the order given (a notification's entries are in the order they happened).
    Those already published before a failure are repeats when the resource comes again."""
    for event in events:
        try:
            await publisher.publish(event)
        except Exception:
            log.exception("FHIR resource not published", event_type=event.type)
            raise Refused(
                503,
                [Issue(kind, "could not be published now; send it again", "transient")],
            ) from None


def published(event: InboundFromFhir, expression: str) -> Issue:
    message = f"published {event.type} of {event.assignment_id} (event {event.event_id})"
    return informational(message, expression)
