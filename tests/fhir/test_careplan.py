"""FHIR R4 CarePlans (HL7's published examples and a therapy plan) as one inbound event
per activity, and what is refused, naming the element. Plain values, no broker."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityKind,
    ActivityPaused,
    ActivityUpdated,
)
from tests.fhir.resources import example, patient_careplan
from tracker.fhir.careplan import careplan_events, parse_careplan
from tracker.fhir.mapping_in import InboundFromFhir
from tracker.fhir.outcome import Unmappable
from tracker.settings import FhirClinicDefaults

CLINIC = "northside-community-mental-health-services-clinic-7"
DEFAULTS = FhirClinicDefaults(policy_id="default-reminders-v2", timezone="Europe/London")
NOW = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)
PLAN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def events(body: dict[str, Any]) -> list[InboundFromFhir]:
    return careplan_events(parse_careplan(body), CLINIC, DEFAULTS, NOW)


def refusal(body: dict[str, Any]) -> list[str]:
    with pytest.raises(Unmappable) as caught:
        events(body)
    return [i.expression for i in caught.value.issues]


def test_hl7_careplan_example_with_its_activity_completed_stops_that_activity() -> None:
    [stopped] = events(example("careplan-example"))
    assert isinstance(stopped, ActivityCancelled)
    assert (stopped.assignment_id, stopped.client_ref) == ("example.0", "example")
    assert stopped.reason == "FHIR CarePlan activity status completed"


def test_hl7_pregnancy_plan_needs_an_author_and_then_is_one_off_activities() -> None:
    plan = example("careplan-example-pregnancy")
    assert refusal(plan) == ["CarePlan.author.reference"]
    plan["author"] = {"reference": "Practitioner/example"}
    visits = events(plan)  # the first activity is a reference, not read here
    assert [e.assignment_id for e in visits] == ["preg.1", "preg.2", "preg.3"]
    first = visits[0]
    assert isinstance(first, ActivityAssigned)  # a plan without meta: its first version
    assert first.schedule.frequency == "once"
    assert (first.schedule.start, first.schedule.due) == (date(2013, 2, 14), date(2013, 2, 28))


def test_a_therapy_plan_gives_an_event_per_activity_by_its_status() -> None:
    mood, breathing = events(patient_careplan())
    assert isinstance(mood, ActivityUpdated)  # version 2 of the plan
    assert (mood.assignment_id, mood.version) == (f"{PLAN}.mood", 2)
    assert mood.therapist_ref == "role-therapist-4411"
    assert (mood.activity.kind, mood.activity.title) == (ActivityKind.MOOD_LOG, "Evening mood log")
    assert mood.schedule.rrule == "FREQ=DAILY"
    assert mood.schedule.times_of_day == (time(20),)
    assert (mood.schedule.start, mood.schedule.end) == (date(2026, 12, 1), date(2027, 1, 31))
    assert mood.schedule.timezone == "America/New_York"
    assert mood.policy_id == "default-reminders-v2"
    assert isinstance(breathing, ActivityPaused)
    assert mood.event_id != breathing.event_id
    assert [e.event_id for e in events(patient_careplan())] == [mood.event_id, breathing.event_id]


def test_the_plans_own_status_pauses_or_stops_every_activity() -> None:
    held = events(patient_careplan(status="on-hold"))
    assert all(isinstance(e, ActivityPaused) for e in held)
    revoked = events(patient_careplan(status="revoked"))
    assert all(isinstance(e, ActivityCancelled) for e in revoked)
    assert events(patient_careplan(status="draft")) == []


def test_an_unmappable_activity_is_refused_naming_the_element() -> None:
    plan = patient_careplan()
    plan["activity"][0]["detail"]["scheduledTiming"]["repeat"]["periodUnit"] = "min"
    assert refusal(plan) == ["CarePlan.activity[0].detail.scheduledTiming.repeat.periodUnit"]
    worded = patient_careplan()
    del worded["activity"][0]["detail"]["scheduledTiming"]
    worded["activity"][0]["detail"]["scheduledString"] = "most evenings"
    assert refusal(worded) == ["CarePlan.activity[0].detail.scheduledString"]
    assert refusal(patient_careplan(subject={"reference": "Group/g-1"})) == [
        "CarePlan.subject.reference"
    ]
