"""The policy console's API against the real RabbitMQ and Redis: a save publishes
``clinic.policy.changed`` to the inbound exchange as the EHR and the CLI do, keeps who
and when, refuses a concurrent edit, and a clinic sees and saves only its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from shared.contracts import ClinicPolicyChanged
from shared.topology import Exchange
from tests.support.infra import wait_for
from tests.tracker.conftest import OPS, Tracker, policy_changed, settled

pytestmark = pytest.mark.integration
A = {"Authorization": "Bearer token-clinic-a"}
B = {"Authorization": "Bearer token-clinic-b"}
OPS_H = {"Authorization": f"Bearer {OPS}"}
URL = "/api/console/policies/pol-1?clinic=clinic-a"


@pytest.fixture
async def inbound(tracker: Tracker) -> list[dict[str, Any]]:
    """What reaches the inbound exchange as clinic.policy.changed (the scheduler's view)."""
    seen: list[dict[str, Any]] = []
    queue: AbstractQueue = await tracker.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(tracker.topology.exchange(Exchange.INBOUND), "clinic.policy.changed")

    async def on_message(message: AbstractIncomingMessage) -> None:
        async with message.process():
            seen.append(json.loads(message.body))

    await queue.consume(on_message)
    return seen


async def with_policy(tracker: Tracker) -> dict[str, Any]:
    await tracker.publish(policy_changed("clinic-a"))
    await settled(tracker, 0.1)
    response = await tracker.http.get(URL, headers=A)
    assert response.status_code == 200, response.text
    return dict(response.json())


def edited(current: dict[str, Any], **caps: int) -> dict[str, Any]:
    policy = dict(current["policy"])
    policy["caps"] = {**policy["caps"], **caps}
    return policy


async def test_a_save_publishes_the_next_version_and_keeps_who_and_when(
    tracker: Tracker, inbound: list[dict[str, Any]]
) -> None:
    current = await with_policy(tracker)
    assert current["latest_version"] == 1
    [ehr] = current["history"]
    assert (ehr["version"], ehr["who"], ehr["summary"]) == (1, "EHR", "first version")

    body = {"policy": edited(current, per_day=2), "base_version": 1, "editor": "Dana"}
    response = await tracker.http.post(URL, json=body, headers=A)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2

    await wait_for(lambda: any(e["policy"]["version"] == 2 for e in inbound))
    event = ClinicPolicyChanged.model_validate(
        next(e for e in inbound if e["policy"]["version"] == 2)
    )
    assert (event.clinic_id, event.policy.caps.per_day) == ("clinic-a", 2)
    await settled(tracker)  # the tracker consumes its own save, as the scheduler does

    after = (await tracker.http.get(URL, headers=A)).json()
    assert (after["version"], after["latest_version"]) == (2, 2)
    assert after["policy"]["caps"]["per_day"] == 2
    newest, oldest = after["history"]
    assert (newest["version"], newest["who"], newest["editor"]) == (2, "clinic clinic-a", "Dana")
    assert newest["summary"] == "caps.per_day 3 → 2"
    assert oldest["who"] == "EHR"
    listed = (await tracker.http.get("/api/console/policies?clinic=clinic-a", headers=A)).json()
    assert [(p["policy_id"], p["version"]) for p in listed["policies"]] == [("pol-1", 2)]


async def test_an_edit_of_an_older_version_is_refused_not_lost(tracker: Tracker) -> None:
    current = await with_policy(tracker)
    first = {"policy": edited(current, per_day=2), "base_version": 1}
    second = {"policy": edited(current, per_day=4, per_week=20), "base_version": 1}
    one, other = await asyncio.gather(
        tracker.http.post(URL, json=first, headers=A),
        tracker.http.post(URL, json=second, headers=OPS_H),
    )
    assert sorted([one.status_code, other.status_code]) == [200, 409]
    refused = one if one.status_code == 409 else other
    assert "version 2 of this policy was saved after the version 1" in refused.json()["detail"]
    # Later, the same stale edit is still refused; from the new version it is taken.
    assert (await tracker.http.post(URL, json=second, headers=A)).status_code == 409
    third = {"policy": edited(current, per_day=4, per_week=20), "base_version": 2}
    saved = await tracker.http.post(URL, json=third, headers=OPS_H)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 3
    history = (await tracker.http.get(URL, headers=A)).json()["history"]
    assert (history[0]["version"], history[0]["who"]) == (3, "ops")


async def test_invalid_values_are_listed_per_field_and_nothing_is_saved(
    tracker: Tracker, inbound: list[dict[str, Any]]
) -> None:
    current = await with_policy(tracker)
    policy = edited(current, per_day=0)
    policy["quiet_hour"] = {}
    policy["default_rule"] = {**policy["default_rule"], "times_of_day": ["9am"]}
    response = await tracker.http.post(URL, json={"policy": policy, "base_version": 1}, headers=A)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors == {
        "caps.per_day": "must be at least 1",
        "quiet_hour": "is not a setting of a policy (misspelt?)",
        "default_rule.times_of_day.0": "must be a time of day such as 09:00",
    }
    await settled(tracker, 0.2)
    assert [e["policy"]["version"] for e in inbound] == [1]
    assert (await tracker.http.get(URL, headers=A)).json()["latest_version"] == 1


async def test_the_preview_plans_an_unsaved_policy(tracker: Tracker) -> None:
    current = await with_policy(tracker)
    policy = edited(current, per_day=1)
    policy["default_rule"] = {"times_of_day": ["09:00"], "nudges": [{"if_not_done_by": "20:00"}]}
    body = {
        "policy": policy,
        "sample": {"timezone": "America/New_York", "activity_kind": "exposure"},
    }
    response = await tracker.http.post("/api/console/policies/preview", json=body, headers=A)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["timezone"] == "America/New_York"
    assert result["counts"]["held_back_by_caps"] >= 6  # the nudges: one message a day
    assert all(i["purpose"] == "nudge" for i in result["items"] if i["held_back"])
    assert all("/d/" in i["sms"] for i in result["items"])
    body["sample"] = {"timezone": "Nowhere/Town", "frequency": "daily", "rrule": "FREQ=DAILY"}
    bad = await tracker.http.post("/api/console/policies/preview", json=body, headers=A)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"sample.timezone"}
    # Unsaved: nothing was stored or published.
    assert (await tracker.http.get(URL, headers=A)).json()["policy"]["caps"]["per_day"] == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/console/policies?clinic=clinic-a"),
        ("GET", "/api/console/policies/pol-1?clinic=clinic-a"),
        ("POST", "/api/console/policies/pol-1?clinic=clinic-a"),
    ],
)
async def test_a_clinic_cannot_read_or_save_another_clinics_policy(
    tracker: Tracker, method: str, path: str
) -> None:
    current = await with_policy(tracker)
    body = {"policy": current["policy"], "base_version": 1}
    response = await tracker.http.request(method, path, headers=B, json=body)
    assert response.status_code == 403
    assert "own clinic" in response.json()["detail"]
    assert (await tracker.http.get(path.partition("?")[0], headers=OPS_H)).status_code in (404, 422)
    history = (await tracker.http.get(URL, headers=A)).json()["history"]
    assert [h["version"] for h in history] == [1]


async def test_the_page_is_served_offline_without_data(tracker: Tracker) -> None:
    page = await tracker.http.get("/console/policies")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no absolute URL
    assert (await tracker.http.get("/api/console/policies?clinic=clinic-a")).status_code == 401
