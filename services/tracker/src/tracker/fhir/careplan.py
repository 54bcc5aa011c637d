"""A FHIR R4 ``CarePlan`` as one inbound event per activity. Pure.

Each ``activity.detail`` is an assignment ``<CarePlan.id>.<activity.id or its index>``:
its status (or the plan's, when the plan is on hold or over) says which event, its
``scheduledTiming`` the schedule, its ``code`` the activity. The plan's ``subject`` is
the client and its ``author`` the therapist. An activity given by ``reference`` (to a Task
or a request) is not read here: send that resource instead. Removing an activity from
the plan does not stop its reminders; setting its status to ``cancelled`` or ``stopped``
does (without state of our own, a missing activity cannot be told from one never sent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.careplan import CarePlan, CarePlanActivityDetail
from pydantic import ValidationError

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityPaused,
    ActivityUpdated,
    Schedule,
)
from tracker.fhir import elements
from tracker.fhir.elements import REF, Version, Window, reference_id
from tracker.fhir.mapping_in import InboundFromFhir
from tracker.fhir.outcome import Unmappable, from_validation
from tracker.fhir.timing import local_day, recurrence
from tracker.settings import FhirClinicDefaults

ACTIVE = frozenset({"not-started", "scheduled", "in-progress"})
ENDED = frozenset({"completed", "cancelled", "stopped", "entered-in-error"})
PLAN_ENDED = frozenset({"revoked", "completed", "entered-in-error"})


def parse_careplan(body: Any) -> CarePlan:
    if not isinstance(body, dict) or body.get("resourceType") != "CarePlan":
        found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise Unmappable.at("CarePlan", f"expected a CarePlan resource, not {found!r}", "invalid")
    try:
        return CarePlan.model_validate(body)
    except ValidationError as exc:
        raise from_validation("CarePlan", exc) from None


def careplan_events(
    plan: CarePlan, clinic_id: str, defaults: FhirClinicDefaults | None, now: datetime
) -> list[InboundFromFhir]:
    """An event per activity with a detail, in the plan's order (none for a draft)."""
    status = plan.status or ""
    if status == "draft":
        return []
    if status not in {"active", "on-hold"} | PLAN_ENDED:
        raise Unmappable.at("CarePlan.status", f"a {status!r} CarePlan cannot be followed")
    reader = _Reader(plan, clinic_id, defaults, now)
    return [
        reader.event(i, detail)
        for i, activity in enumerate(plan.activity or ())
        if (detail := activity.detail) is not None and not detail.doNotPerform
    ]


class _Reader:
    """What every activity of one plan shares: the client, version and envelope parts."""

    def __init__(
        self,
        plan: CarePlan,
        clinic_id: str,
        defaults: FhirClinicDefaults | None,
        now: datetime,
    ) -> None:
        self.plan, self.clinic_id, self.defaults = plan, clinic_id, defaults
        self.plan_id = elements.resource_id(plan, "CarePlan", "first part of its assignments' ids")
        self.version: Version = elements.version(plan, "CarePlan")
        updated = plan.meta.lastUpdated if plan.meta else None
        self.occurred = updated if isinstance(updated, datetime) else now
        self.client = reference_id(plan.subject, "CarePlan.subject", ("Patient",))

    def event(self, index: int, detail: CarePlanActivityDetail) -> InboundFromFhir:
        at = f"CarePlan.activity[{index}]"
        key = self._key(index, at)
        status = self._status(detail, at)
        kind = "assigned" if status in ACTIVE else "cancelled" if status in ENDED else status
        source = f"CarePlan/{self.plan_id}#{key}"
        common = {
            **elements.envelope(self.clinic_id, source, self.version, kind, self.occurred),
            "assignment_id": f"{self.plan_id}.{key}",
            "client_ref": self.client,
            "version": self.version.number,
        }
        if status in ENDED:
            return ActivityCancelled(**common, reason=f"FHIR CarePlan activity status {status}")
        if status == "on-hold":
            return ActivityPaused(**common)
        return self._assignment(detail, f"{at}.detail", common)

    def _key(self, index: int, at: str) -> str:
        activity = (self.plan.activity or [])[index]
        key = activity.id or str(index)
        if not REF.match(f"{self.plan_id}.{key}"):
            raise Unmappable.at(f"{at}.id", f"{key!r} cannot be part of an assignment id")
        return key

    def _status(self, detail: CarePlanActivityDetail, at: str) -> str:
        """The plan's state wins when it stops or pauses everything."""
        plan_status = self.plan.status or ""
        if plan_status in PLAN_ENDED:
            return "stopped"
        if plan_status == "on-hold":
            return "on-hold"
        status = detail.status or ""
        if status not in ACTIVE | ENDED | {"on-hold"}:
            raise Unmappable.at(f"{at}.detail.status", f"an activity {status!r} cannot be followed")
        return status

    def _assignment(
        self, detail: CarePlanActivityDetail, at: str, common: dict[str, Any]
    ) -> ActivityAssigned | ActivityUpdated:
        fields = {
            **common,
            "therapist_ref": reference_id(
                self.plan.author, "CarePlan.author", ("Practitioner", "PractitionerRole")
            ),
            "activity": elements.activity(detail.code, detail.description, f"{at}.code"),
            "schedule": self._schedule(detail, at),
            "policy_id": elements.policy(self.plan, "CarePlan", self.defaults),
        }
        if self.version.number == 1:
            return ActivityAssigned(**fields)
        return ActivityUpdated(**fields)

    def _schedule(self, detail: CarePlanActivityDetail, at: str) -> Schedule:
        tz = elements.zone(self.plan, "CarePlan", self.defaults)
        if detail.scheduledString:
            raise Unmappable.at(
                f"{at}.scheduledString",
                "a schedule in words cannot be followed: give scheduledTiming",
                "not-supported",
            )
        if detail.scheduledTiming is not None:
            path = f"{at}.scheduledTiming"
            rec = recurrence(detail.scheduledTiming, path, tz)
            return elements.schedule(tz, rec, path, self._window(tz))
        if detail.scheduledPeriod is not None:
            period = detail.scheduledPeriod
            window = Window(
                start=local_day(period.start, f"{at}.scheduledPeriod.start", tz),
                end=local_day(period.end, f"{at}.scheduledPeriod.end", tz),
                end_path=f"{at}.scheduledPeriod.end",
            )
            return elements.one_off(tz, window, f"{at}.scheduledPeriod")
        return elements.one_off(tz, self._window(tz), f"{at}.scheduledTiming")

    def _window(self, tz: ZoneInfo) -> Window:
        period = self.plan.period
        start = local_day(period.start if period else None, "CarePlan.period.start", tz)
        return Window(
            start=start or local_day(self.plan.created, "CarePlan.created", tz),
            end=local_day(period.end if period else None, "CarePlan.period.end", tz),
            start_path="CarePlan.period.start",
            end_path="CarePlan.period.end",
        )
