"""The FHIR endpoints against the real RabbitMQ and Redis: a Task posted, put or notified
reaches the inbound exchange as the event an EHR would publish, for the caller's clinic
only; what cannot be mapped is refused with an OperationOutcome naming the element."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from shared.contracts import ActivityAssigned, ActivityCompleted, ActivityPaused
from tests.fhir.conftest import (
    AS_LAKESIDE,
    AS_NORTHSIDE,
    AS_OPS,
    FHIR_JSON,
    LAKESIDE,
    NORTHSIDE,
    Inbound,
)
from tests.fhir.resources import patient_careplan, patient_task
from tests.support.infra import wait_for
from tests.tracker.conftest import Tracker

pytestmark = pytest.mark.integration
TASK_ID = "3f6c2a1e-8d4b-4f0a-9c3e-5b7d9e1f2a4c"


def expressions(body: dict[str, Any]) -> list[str]:
    outcome = OperationOutcome.model_validate(body)  # a valid R4 OperationOutcome
    return [
        str(e)
        for issue in outcome.issue
        if issue.severity == "error"
        for e in issue.expression or ()
    ]


async def test_a_posted_task_is_published_as_activity_assigned_for_the_callers_clinic(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    response = await fhir_tracker.http.post(
        "/fhir/Task", json=patient_task(), headers={**AS_NORTHSIDE, **FHIR_JSON}
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    [issue] = OperationOutcome.model_validate(response.json()).issue
    assert issue.severity == "information"
    assert "published activity.assigned" in (issue.diagnostics or "")

    await wait_for(lambda: len(inbound.of("activity.assigned")) == 1)
    event = ActivityAssigned.model_validate(inbound.of("activity.assigned")[0])
    assert (event.clinic_id, event.assignment_id) == (NORTHSIDE, TASK_ID)
    assert event.client_ref == "7d1e4b2a-3c5f-4e6a-8b9c-0d1e2f3a4b5c"
    assert (event.policy_id, event.schedule.rrule) == ("cbt-daily-gentle", "FREQ=DAILY")


async def test_the_same_task_version_twice_is_the_same_event_and_clinics_stay_apart(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    for headers in (AS_NORTHSIDE, AS_NORTHSIDE, AS_LAKESIDE):  # the same Task id in both
        response = await fhir_tracker.http.post("/fhir/Task", json=patient_task(), headers=headers)
        assert response.status_code == 201, response.text
    await wait_for(lambda: len(inbound.of("activity.assigned")) == 3)
    northside = [e for e in inbound.events if e["clinic_id"] == NORTHSIDE]
    lakeside = [e for e in inbound.events if e["clinic_id"] == LAKESIDE]
    assert len({e["event_id"] for e in northside}) == 1  # a repeat downstream, not a second
    assert lakeside[0]["event_id"] != northside[0]["event_id"]


async def test_a_put_task_changes_status_and_must_name_its_own_id(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    on_hold = patient_task(status="on-hold", meta={"versionId": "2"})
    url = f"/fhir/Task/{TASK_ID}"
    response = await fhir_tracker.http.put(url, json=on_hold, headers=AS_NORTHSIDE)
    assert response.status_code == 200, response.text
    await wait_for(lambda: len(inbound.of("activity.paused")) == 1)
    paused = ActivityPaused.model_validate(inbound.of("activity.paused")[0])
    assert (paused.assignment_id, paused.version) == (TASK_ID, 2)

    elsewhere = await fhir_tracker.http.put(
        "/fhir/Task/other-id", json=on_hold, headers=AS_NORTHSIDE
    )
    assert elsewhere.status_code == 400
    assert expressions(elsewhere.json()) == ["Task.id"]


async def test_an_unmappable_task_is_refused_naming_the_element_and_nothing_is_published(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    task = patient_task()
    task["input"][0]["valueTiming"]["repeat"]["periodUnit"] = "h"
    response = await fhir_tracker.http.post("/fhir/Task", json=task, headers=AS_NORTHSIDE)
    assert response.status_code == 422
    assert expressions(response.json()) == ["Task.input[0].valueTiming.repeat.periodUnit"]
    not_json = await fhir_tracker.http.post(
        "/fhir/Task", content=b"<Task/>", headers={**AS_NORTHSIDE, **FHIR_JSON}
    )
    assert not_json.status_code == 400
    await asyncio.sleep(0.3)
    assert inbound.events == []


async def test_a_clinic_token_speaks_only_for_its_clinic_and_ops_must_name_one(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    http = fhir_tracker.http
    other = await http.post(
        f"/fhir/Task?clinic={NORTHSIDE}", json=patient_task(), headers=AS_LAKESIDE
    )
    assert other.status_code == 403
    assert (await http.post("/fhir/Task", json=patient_task(), headers=AS_OPS)).status_code == 422
    assert (await http.post("/fhir/Task", json=patient_task())).status_code == 401
    named = await http.post(f"/fhir/Task?clinic={LAKESIDE}", json=patient_task(), headers=AS_OPS)
    assert named.status_code == 201
    await wait_for(lambda: len(inbound.events) == 1)
    assert inbound.events[0]["clinic_id"] == LAKESIDE


def history_bundle(*tasks: dict[str, Any]) -> dict[str, Any]:
    """An R4B Subscription notification (backport IG shape): the status, then the Tasks."""
    status = {
        "resourceType": "SubscriptionStatus",
        "id": "e80b2e12-d843-4d30-ad6b-67f4bc848efb",
        "status": "active",
        "type": "event-notification",
        "eventsSinceSubscriptionStart": "42",
        "notificationEvent": [
            {"eventNumber": str(41 + i), "focus": {"reference": f"{t['resourceType']}/{t['id']}"}}
            for i, t in enumerate(tasks)
        ],
        "subscription": {"reference": "https://ehr.northside.example/fhir/Subscription/tasks"},
        "topic": "https://ehr.northside.example/fhir/SubscriptionTopic/patient-tasks",
    }
    entries = [{"fullUrl": "urn:uuid:e80b2e12-d843-4d30-ad6b-67f4bc848efb", "resource": status}]
    for task in tasks:
        path = f"{task['resourceType']}/{task['id']}"
        entries.append(
            {
                "fullUrl": f"https://ehr.northside.example/fhir/{path}",
                "resource": task,
                "request": {"method": "PUT", "url": path},
                "response": {"status": "200"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": "a0f1df2c-ede9-4528-9ac2-1d1b36df27b2",
        "type": "history",
        "timestamp": "2026-12-03T19:30:00Z",
        "entry": entries,
    }


async def test_a_history_bundle_publishes_each_task_in_order_and_names_the_refused_entry(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    assigned = patient_task(id="0b8e7c6d-5a4f-4e3d-9c2b-1a0f9e8d7c6b")
    done = patient_task(
        status="completed",
        meta={"versionId": "4"},
        executionPeriod={"end": "2026-12-02T20:15:00+01:00"},
    )
    hourly = copy.deepcopy(patient_task(id="5e4d3c2b-1a09-4f8e-8d7c-6b5a4f3e2d1c"))
    hourly["input"][0]["valueTiming"]["repeat"]["periodUnit"] = "h"
    bundle = history_bundle(assigned, done, hourly)

    response = await fhir_tracker.http.post(
        "/fhir/notifications", json=bundle, headers=AS_NORTHSIDE
    )
    assert response.status_code == 422, response.text
    assert expressions(response.json()) == [
        "Bundle.entry[3].resource.input[0].valueTiming.repeat.periodUnit"
    ]
    await wait_for(lambda: len(inbound.events) == 2)
    assert [e["type"] for e in inbound.events] == ["activity.assigned", "activity.completed"]
    completed = ActivityCompleted.model_validate(inbound.events[1])
    assert (completed.assignment_id, str(completed.occurrence_date)) == (TASK_ID, "2026-12-02")

    # The server sends the notification again: the same events, recognised as repeats.
    fixed = history_bundle(assigned, done)
    again = await fhir_tracker.http.post("/fhir/notifications", json=fixed, headers=AS_NORTHSIDE)
    assert again.status_code == 200, again.text
    await wait_for(lambda: len(inbound.events) == 4)
    assert [e["event_id"] for e in inbound.events[2:]] == [
        e["event_id"] for e in inbound.events[:2]
    ]


async def test_a_bundle_that_is_not_a_notification_is_refused(fhir_tracker: Tracker) -> None:
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    response = await fhir_tracker.http.post(
        "/fhir/notifications", json=searchset, headers=AS_NORTHSIDE
    )
    assert response.status_code == 422
    assert expressions(response.json()) == ["Bundle.type"]
    heartbeat = history_bundle()
    ok = await fhir_tracker.http.post("/fhir/notifications", json=heartbeat, headers=AS_NORTHSIDE)
    assert ok.status_code == 200


async def test_a_careplan_is_published_as_an_event_per_activity(
    fhir_tracker: Tracker, inbound: Inbound
) -> None:
    plan = patient_careplan()
    url = f"/fhir/CarePlan/{plan['id']}"
    response = await fhir_tracker.http.put(url, json=plan, headers=AS_NORTHSIDE)
    assert response.status_code == 200, response.text
    assert len(OperationOutcome.model_validate(response.json()).issue) == 2
    await wait_for(lambda: len(inbound.events) == 2)
    assert [(e["type"], e["assignment_id"]) for e in inbound.events] == [
        ("activity.updated", f"{plan['id']}.mood"),
        ("activity.paused", f"{plan['id']}.breathing"),
    ]
    bundle = history_bundle(patient_careplan(status="revoked", meta={"versionId": "3"}))
    notified = await fhir_tracker.http.post(
        "/fhir/notifications", json=bundle, headers=AS_NORTHSIDE
    )
    assert notified.status_code == 200, notified.text
    await wait_for(lambda: len(inbound.of("activity.cancelled")) == 2)
