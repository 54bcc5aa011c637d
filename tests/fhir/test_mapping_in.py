"""FHIR R4 Tasks (HL7's published examples and patient-facing variants) as our inbound
events, and what is refused, naming the element. Plain values, no broker."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityKind,
    ActivityPaused,
    ActivityUpdated,
)
from tests.fhir.resources import example, patient_task
from tracker.fhir.elements import ACTIVITY_KIND_SYSTEM, POLICY_EXTENSION, TIMEZONE_EXTENSION
from tracker.fhir.mapping_in import TASK_INPUT_SYSTEM, parse_task, task_event
from tracker.fhir.outcome import Unmappable
from tracker.settings import FhirClinicDefaults

CLINIC = "northside-community-mental-health-services-clinic-7"
DEFAULTS = FhirClinicDefaults(policy_id="default-reminders-v2", timezone="Australia/Brisbane")
NOW = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)


def timing(task: dict[str, Any]) -> dict[str, Any]:
    repeat: dict[str, Any] = task["input"][0]["valueTiming"]["repeat"]
    return repeat


def event(body: dict[str, Any], defaults: FhirClinicDefaults | None = DEFAULTS) -> Any:
    return task_event(parse_task(body), CLINIC, defaults, NOW)


def refusal(body: dict[str, Any], defaults: FhirClinicDefaults | None = DEFAULTS) -> list[str]:
    with pytest.raises(Unmappable) as caught:
        event(body, defaults)
    return [i.expression for i in caught.value.issues]


def test_hl7_task_example1_is_a_one_off_activity_due_on_its_restriction_end() -> None:
    assigned = event(example("task-example1"))
    assert isinstance(assigned, ActivityAssigned)
    assert (assigned.clinic_id, assigned.assignment_id) == (CLINIC, "example1")
    assert (assigned.client_ref, assigned.therapist_ref) == ("example", "example")
    assert assigned.version == 1
    assert (assigned.activity.kind, assigned.activity.title) == (ActivityKind.OTHER, "Lipid Panel")
    schedule = assigned.schedule
    assert schedule.frequency == "once"
    assert (schedule.start, schedule.due) == (date(2016, 10, 31), date(2016, 11, 2))
    assert schedule.timezone == "Australia/Brisbane"
    assert assigned.policy_id == "default-reminders-v2"
    assert assigned.occurred_at == datetime(2016, 10, 30, 23, 45, 5, tzinfo=UTC)  # lastModified


def test_hl7_task_example6_completed_is_the_occurrence_done_that_local_day() -> None:
    done = event(example("task-example6"))
    assert isinstance(done, ActivityCompleted)
    assert done.completed_at == datetime(2016, 10, 31, 8, 45, 5, tzinfo=UTC)
    assert done.occurrence_date == date(2016, 10, 31)  # 18:45 in Brisbane
    assert (done.assignment_id, done.client_ref, done.source) == ("example6", "example", "ehr")


def test_a_patient_task_with_a_timing_becomes_a_daily_rrule_with_its_times() -> None:
    assigned = event(patient_task())
    assert isinstance(assigned, ActivityAssigned)
    assert assigned.activity.kind is ActivityKind.THOUGHT_RECORD
    assert assigned.therapist_ref == "pr-4411"
    assert assigned.policy_id == "cbt-daily-gentle"  # the extension wins over the default
    schedule = assigned.schedule
    assert (schedule.timezone, schedule.rrule) == ("Europe/Berlin", "FREQ=DAILY")
    assert (schedule.start, schedule.end) == (date(2026, 12, 1), date(2026, 12, 28))
    assert schedule.times_of_day == (time(9), time(19))


@pytest.mark.parametrize(
    ("repeat", "rrule"),
    [
        ({"frequency": 1, "period": 1, "periodUnit": "wk"}, "FREQ=WEEKLY"),
        ({"frequency": 1, "period": 2, "periodUnit": "d"}, "FREQ=DAILY;INTERVAL=2"),
        (
            {"frequency": 3, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon", "wed", "fri"]},
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        ),
        (
            {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["tue", "thu"]},
            "FREQ=WEEKLY;BYDAY=TU,TH",
        ),
        ({"frequency": 1, "period": 1, "periodUnit": "d", "count": 10}, "FREQ=DAILY;COUNT=10"),
        ({"frequency": 1, "period": 1, "periodUnit": "mo"}, "FREQ=MONTHLY"),
    ],
)
def test_timing_repeat_maps_to_an_rrule(repeat: dict[str, Any], rrule: str) -> None:
    task = patient_task()
    task["input"][0]["valueTiming"]["repeat"] = {
        "boundsPeriod": {"start": "2026-12-01"},
        **repeat,
    }
    assigned = event(task)
    assert assigned.schedule.rrule == rrule
    assert assigned.schedule.end is None


def test_restriction_repetitions_give_the_count_and_its_period_the_bounds() -> None:
    task = patient_task(restriction={"repetitions": 5, "period": {"start": "2026-12-02"}})
    del timing(task)["boundsPeriod"]
    assigned = event(task)
    assert assigned.schedule.rrule == "FREQ=DAILY;COUNT=5"
    assert assigned.schedule.start == date(2026, 12, 2)


def test_the_status_says_which_event() -> None:
    later = {"versionId": "3", "lastUpdated": "2026-12-05T08:00:00Z"}
    assert isinstance(event(patient_task(meta=later)), ActivityUpdated)
    assert event(patient_task(meta=later)).version == 3
    paused = event(patient_task(meta=later, status="on-hold"))
    assert isinstance(paused, ActivityPaused)
    for status in ("cancelled", "rejected", "failed", "entered-in-error"):
        cancelled = event(patient_task(meta=later, status=status))
        assert isinstance(cancelled, ActivityCancelled)
        assert (cancelled.version, cancelled.reason) == (3, f"FHIR Task status {status}")
    assert event(patient_task(status="draft")) is None


def test_the_same_version_gives_the_same_event_id_and_another_version_another() -> None:
    first, again = event(patient_task()), event(patient_task())
    assert first.event_id == again.event_id
    assert first.correlation_id == "fhir:Task/3f6c2a1e-8d4b-4f0a-9c3e-5b7d9e1f2a4c/_history/1"
    second = event(patient_task(meta={"versionId": "2"}))
    assert second.event_id != first.event_id
    other_clinic = task_event(parse_task(patient_task()), "lakeside-clinic", DEFAULTS, NOW)
    assert other_clinic is not None
    assert other_clinic.event_id != first.event_id  # two clinics may share Task ids


def test_without_meta_the_content_tells_repeats_apart() -> None:
    plain = patient_task()
    del plain["meta"]
    assert event(plain).event_id == event(dict(plain)).event_id
    assert event(plain).version == 1
    changed = patient_task(description="Now with a note")
    del changed["meta"]
    assert event(changed).event_id != event(plain).event_id


def test_an_opaque_version_id_orders_by_last_updated() -> None:
    meta = {"versionId": "MTY4OTk1NjAwMDAwMA", "lastUpdated": "2026-12-05T08:00:00Z"}
    updated = event(patient_task(meta=meta))
    assert updated.version == int(datetime(2026, 12, 5, 8, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ({"periodUnit": "h"}, "Task.input[0].valueTiming.repeat.periodUnit"),
        ({"when": ["MORN"]}, "Task.input[0].valueTiming.repeat.when"),
        ({"frequency": 3}, "Task.input[0].valueTiming.repeat.frequency"),
        ({"period": 1.5}, "Task.input[0].valueTiming.repeat.period"),
        (
            {"boundsPeriod": None, "boundsDuration": {"value": 4, "unit": "wk"}},
            "Task.input[0].valueTiming.repeat.boundsDuration",
        ),
        (
            {"boundsPeriod": {"start": "2026-12"}},
            "Task.input[0].valueTiming.repeat.boundsPeriod.start",
        ),
        ({"frequency": "often"}, "Task.input[0].valueTiming.repeat.frequency"),
    ],
)
def test_an_unmappable_timing_is_refused_naming_the_element(
    change: dict[str, Any], expression: str
) -> None:
    task = patient_task()
    repeat = timing(task)
    repeat.update(change)
    for name in [k for k, v in repeat.items() if v is None]:
        del repeat[name]
    assert refusal(task) == [expression]


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ({"for": {"reference": "Group/family-7"}}, "Task.for.reference"),
        ({"for": None}, "Task.for.reference"),
        ({"requester": {"reference": "Organization/org-1"}}, "Task.requester.reference"),
        ({"id": None}, "Task.id"),
        ({"status": "unheard-of"}, "Task.status"),
        ({"meta": {"versionId": "abc"}}, "Task.meta.versionId"),
        ({"input": []}, "Task.input"),
        ({"unknownElement": 1}, "Task.unknownElement"),
        (
            {"code": {"coding": [{"system": ACTIVITY_KIND_SYSTEM, "code": "homework"}]}},
            "Task.code.coding[0].code",
        ),
        (
            {"extension": [{"url": TIMEZONE_EXTENSION, "valueCode": "Mars/Base"}]},
            "Task.extension[0].valueCode",
        ),
    ],
)
def test_an_unmappable_task_is_refused_naming_the_element(
    change: dict[str, Any], expression: str
) -> None:
    task = {k: v for k, v in patient_task(**change).items() if v is not None}
    assert refusal(task) == [expression]


def test_without_a_time_zone_or_policy_anywhere_the_extension_is_asked_for() -> None:
    task = patient_task(extension=[])
    [expression] = refusal(task, defaults=None)
    assert expression == "Task.extension"
    with pytest.raises(Unmappable, match=TIMEZONE_EXTENSION):
        event(task, None)
    zone_only = FhirClinicDefaults(timezone="America/Chicago")
    with pytest.raises(Unmappable, match=POLICY_EXTENSION):
        event(task, zone_only)


def test_another_resource_type_is_refused() -> None:
    with pytest.raises(Unmappable) as caught:
        parse_task({"resourceType": "Patient", "id": "example"})
    assert [i.expression for i in caught.value.issues] == ["Task"]


def test_a_timing_code_or_bounds_alone_are_understood_and_other_codes_refused() -> None:
    task = patient_task()
    task["input"][0]["valueTiming"] = {"code": {"coding": [{"code": "QOD"}]}}
    task["restriction"] = {"period": {"start": "2026-12-01"}}
    assert event(task).schedule.rrule == "FREQ=DAILY;INTERVAL=2"
    window = patient_task()
    window["input"][0]["valueTiming"] = {
        "repeat": {"boundsPeriod": {"start": "2026-12-01", "end": "2026-12-07"}}
    }
    once = event(window).schedule  # "some time this week": one activity due on its last day
    assert (once.frequency, once.start, once.due) == ("once", date(2026, 12, 1), date(2026, 12, 7))
    task["input"][0]["valueTiming"] = {"code": {"coding": [{"code": "BID"}]}}
    assert refusal(task) == ["Task.input[0].valueTiming.code"]
    task["input"][0]["valueTiming"] = {"event": ["2026-12-04T18:00:00Z"]}
    assert refusal(task) == ["Task.input[0].valueTiming.event"]


def test_an_input_coded_schedule_is_preferred_to_other_timings() -> None:
    task = patient_task()
    weekly = {
        "type": {"coding": [{"system": TASK_INPUT_SYSTEM, "code": "schedule"}]},
        "valueTiming": {"repeat": {"boundsPeriod": {"start": "2026-12-01"}, "periodUnit": "wk"}},
    }
    task["input"].append(weekly)
    assert event(task).schedule.rrule == "FREQ=WEEKLY"
