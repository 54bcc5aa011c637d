"""A FHIR R4 ``Task`` as the inbound event an EHR would have published. Pure.

The Task's status says which event (docs/fhir.md has the table); its id is the
assignment, its ``for`` the client, its ``requester`` the therapist, a ``Timing`` in one of
its inputs the schedule. The clinic is never read from the resource: it is the caller's
(a clinic token speaks only for its clinic). Event ids are derived from the clinic, the
Task's id and its version, so the same version sent twice is recognised downstream as a
repeat, however often a FHIR server retries a notification."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.task import Task
from fhir.resources.R4B.timing import Timing
from pydantic import ValidationError

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityUpdated,
    CompletionSource,
    Schedule,
)
from tracker.fhir import elements
from tracker.fhir.elements import CANONICAL, Window, reference_id
from tracker.fhir.outcome import Unmappable, from_validation
from tracker.fhir.timing import local_day, recurrence
from tracker.settings import FhirClinicDefaults

TASK_INPUT_SYSTEM = f"{CANONICAL}/CodeSystem/task-input"
ACTIVE = frozenset({"requested", "received", "accepted", "ready", "in-progress"})
ENDED = frozenset({"cancelled", "rejected", "failed", "entered-in-error"})

InboundFromFhir = (
    ActivityAssigned | ActivityUpdated | ActivityCancelled | ActivityPaused | ActivityCompleted
)


def parse_task(body: Any) -> Task:
    """The JSON body as an R4 Task, or the elements fhir.resources refused."""
    if not isinstance(body, dict) or body.get("resourceType") != "Task":
        found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise Unmappable.at("Task", f"expected a Task resource, not {found!r}", "invalid")
    try:
        return Task.model_validate(body)
    except ValidationError as exc:
        raise from_validation("Task", exc) from None


def task_event(
    task: Task, clinic_id: str, defaults: FhirClinicDefaults | None, now: datetime
) -> InboundFromFhir | None:
    """The event for this Task version, or None for a draft (not assigned yet)."""
    status = task.status or ""
    if status == "draft":
        return None
    if status not in ACTIVE | ENDED | {"on-hold", "completed"}:
        raise Unmappable.at("Task.status", f"unknown Task status {status!r}", "value")
    task_id = elements.resource_id(task, "Task", "assignment's id")
    ver = elements.version(task, "Task")
    occurred = _instant(task) or now
    kind = "assigned" if status in ACTIVE else "cancelled" if status in ENDED else status
    common = {
        **elements.envelope(clinic_id, f"Task/{task_id}", ver, kind, occurred),
        "assignment_id": task_id,
        "client_ref": reference_id(task.for_fhir, "Task.for", ("Patient",)),
    }
    if status in ACTIVE:
        return _assignment(task, common, ver.number, defaults)
    if status in ENDED:
        return ActivityCancelled(**common, version=ver.number, reason=f"FHIR Task status {status}")
    if status == "on-hold":
        return ActivityPaused(**common, version=ver.number)
    return _completed(task, common, defaults, occurred)


def _instant(task: Task) -> datetime | None:
    for value in (task.meta.lastUpdated if task.meta else None, task.lastModified):
        if isinstance(value, datetime):
            return value
    return None


def _assignment(
    task: Task, common: dict[str, Any], version: int, defaults: FhirClinicDefaults | None
) -> ActivityAssigned | ActivityUpdated:
    fields = {
        **common,
        "version": version,
        "therapist_ref": reference_id(
            task.requester, "Task.requester", ("Practitioner", "PractitionerRole")
        ),
        "activity": elements.activity(task.code, task.description, "Task.code"),
        "schedule": task_schedule(task, defaults),
        "policy_id": elements.policy(task, "Task", defaults),
    }
    if version == 1:
        return ActivityAssigned(**fields)
    return ActivityUpdated(**fields)


def _completed(
    task: Task, common: dict[str, Any], defaults: FhirClinicDefaults | None, fallback: datetime
) -> ActivityCompleted:
    """The occurrence of the local day the Task was done (``executionPeriod.end``, else
    when it last changed)."""
    period = task.executionPeriod
    end = period.end if period else None
    done_at = end if isinstance(end, datetime) else fallback
    tz = elements.zone(task, "Task", defaults)
    return ActivityCompleted(
        **common,
        occurrence_date=done_at.astimezone(tz).date(),
        completed_at=done_at,
        source=CompletionSource.EHR,
    )


def _timing_input(task: Task) -> tuple[int, Timing] | None:
    """The input carrying the schedule: the one coded ``schedule`` in our system, else the
    first with a ``valueTiming``."""
    inputs = task.input or []
    found = [(i, inp.valueTiming) for i, inp in enumerate(inputs) if inp.valueTiming is not None]
    for i, timing in found:
        codings = inputs[i].type.coding or ()
        if any(c.system == TASK_INPUT_SYSTEM and c.code == "schedule" for c in codings):
            return i, timing
    return found[0] if found else None


def task_schedule(task: Task, defaults: FhirClinicDefaults | None) -> Schedule:
    tz = elements.zone(task, "Task", defaults)
    window = _window(task, tz)
    found = _timing_input(task)
    if found is None:
        return elements.one_off(tz, window, "Task.input")
    index, timing = found
    path = f"Task.input[{index}].valueTiming"
    return elements.schedule(tz, recurrence(timing, path, tz), path, window)


def _window(task: Task, tz: ZoneInfo) -> Window:
    """``restriction``: the period the Task is to be done in and how many times."""
    restriction = task.restriction
    period = restriction.period if restriction else None
    return Window(
        start=_start(task, tz),
        end=local_day(period.end if period else None, "Task.restriction.period.end", tz),
        count=restriction.repetitions if restriction else None,
        start_path="Task.restriction.period.start",
        end_path="Task.restriction.period.end",
    )


def _start(task: Task, tz: ZoneInfo) -> date | None:
    window = task.restriction.period if task.restriction else None
    execution = task.executionPeriod
    candidates = (
        ("Task.restriction.period.start", window.start if window else None),
        ("Task.executionPeriod.start", execution.start if execution else None),
        ("Task.authoredOn", task.authoredOn),
    )
    for path, value in candidates:
        day = local_day(value, path, tz)
        if day is not None:
            return day
    return None
