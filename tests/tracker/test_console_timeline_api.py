"""The client timeline API against the real RabbitMQ and Redis: the scheduler's plan and
the notifier's, providers' and EHR's events in, every decision out with its reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel

from shared.contracts import (
    ClientPlan,
    ClientPlansChanged,
    CompletionReported,
    Event,
    HeldBackItem,
    NotificationSuppressed,
    PlannedItem,
)
from shared.topology import Topology
from tests.support.infra import wait_for
from tests.tracker.conftest import (
    OPS,
    Tracker,
    dispatched,
    settings_for,
    settled,
    started,
    status,
)

pytestmark = pytest.mark.integration
CLINIC_A = "klinik-fuer-psychotherapie-und-verhaltensmedizin-am-stadtpark-" + uuid.uuid4().hex
CLINIC_B = "praxisgemeinschaft-dr-mueller-und-kolleginnen-" + uuid.uuid4().hex
TOKENS = {"token-a": CLINIC_A, "token-b": CLINIC_B}
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}
CLIENT = str(uuid.uuid4())  # the same ref in both clinics
ASSIGNMENT = str(uuid.uuid4())


@pytest.fixture
async def tracker(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> AsyncIterator[Tracker]:
    settings = settings_for(topology.namespace).model_copy(update={"clinic_tokens": TOKENS})
    async with started(settings, topology, rabbit_channel) as running_:
        yield running_


def today() -> date:
    return datetime.now(UTC).date()


def plans_changed(clinic: str, *plans: ClientPlan) -> ClientPlansChanged:
    return ClientPlansChanged(clinic_id=clinic, plans=plans)


def plan(reminder_id: str, client: str = CLIENT, at: datetime | None = None) -> ClientPlan:
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return ClientPlan(
        client_ref=client,
        cause="activity.assigned",
        correlation_id=str(uuid.uuid4()),
        planned_at=at or datetime.now(UTC),
        upcoming=(
            PlannedItem(
                reminder_id=reminder_id,
                assignment_id=ASSIGNMENT,
                occurrence_date=tomorrow.date(),
                purpose="reminder",
                planned_for=tomorrow,
                slot="0600",
                moved_from=tomorrow - timedelta(hours=2),
            ),
        ),
        held_back=(
            HeldBackItem(
                assignment_id=ASSIGNMENT,
                occurrence_date=tomorrow.date(),
                purpose="nudge",
                would_fire_at=tomorrow + timedelta(hours=12),
                reason="cap_per_week",
            ),
        ),
        horizon_end=tomorrow + timedelta(days=13),
    )


def suppressed(clinic: str, reminder_id: str, reason: str, **extra: Any) -> NotificationSuppressed:
    return NotificationSuppressed(
        clinic_id=clinic,
        reminder_id=reminder_id,
        client_ref=CLIENT,
        assignment_id=ASSIGNMENT,
        occurrence_date=today(),
        purpose="nudge",
        channel="sms",
        reason=reason,
        **extra,
    )


def clients_events(clinic: str, prefix: str) -> list[Event]:
    """A planned-and-moved reminder, a capped one, a quiet-hours one moved, one delivered
    and its completion by an SMS reply."""
    mine = {"client_ref": CLIENT, "assignment_id": ASSIGNMENT}
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=9)
    return [
        plans_changed(clinic, plan(f"{prefix}-planned")),
        suppressed(clinic, f"{prefix}-capped", "cap"),
        suppressed(clinic, f"{prefix}-quiet", "quiet_hours", deferred_until=until),
        dispatched(f"{prefix}-sent", clinic=clinic, **mine),
        status(f"{prefix}-sent", "delivered", clinic=clinic),
        CompletionReported(
            clinic_id=clinic,
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=today(),
            completed_at=datetime.now(UTC),
            source="sms",
            reminder_id=f"{prefix}-sent",
        ),
    ]


async def fed(tracker: Tracker, clinic: str, prefix: str, headers: dict[str, str]) -> None:
    for event in clients_events(clinic, prefix):
        await tracker.publish(event)
    url = f"/api/console/clients/{CLIENT}"

    async def all_there() -> bool:
        rows = (await tracker.http.get(url, headers=headers)).json()["timeline"]
        return {r["kind"] for r in rows} >= {"held_back", "moved", "suppressed", "completed"} | {
            "sent",
            "delivered",
        }

    await wait_for(all_there, timeout=20)


async def test_the_client_shows_every_decision_with_its_reason(tracker: Tracker) -> None:
    await fed(tracker, CLINIC_A, "a", A)
    body = (await tracker.http.get(f"/api/console/clients/{CLIENT}", headers=A)).json()
    assert body["clinic"] == CLINIC_A
    rows = body["timeline"]
    by = {(r["kind"], r["reminder_id"]): r for r in rows}
    capped = by[("suppressed", "a-capped")]
    assert (capped["reason"], capped["words"]) == (
        "cap",
        "Not sent: the client's message cap was reached",
    )
    quiet = by[("moved", "a-quiet")]
    assert quiet["reason"] == "quiet_hours"
    assert quiet["until"] is not None
    planned_move = by[("moved", "a-planned")]
    assert planned_move["from"] is not None
    assert planned_move["slot"] == "0600"
    held = by[("held_back", None)]
    assert held["words"] == "Held back by a cap: the client's weekly message cap was reached"
    sent, delivered = by[("sent", "a-sent")], by[("delivered", "a-sent")]
    assert (sent["channel"], sent["provider"]) == ("sms", "twilio")
    assert delivered["assignment_id"] == ASSIGNMENT  # taken from the reminder's hash
    completed = by[("completed", "a-sent")]
    assert completed["words"] == "Completed: the client replied DONE by text"
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    [upcoming] = body["plan"]["upcoming"]
    assert upcoming["reminder_id"] == "a-planned"
    assert upcoming["moved_from"] is not None
    assert upcoming["why"] == "Planned for the policy's time 06:00; moved by quiet hours"
    [held_back] = body["plan"]["held_back"]
    assert held_back["reason"] == "cap_per_week"

    life = (await tracker.http.get("/api/console/reminders/a-sent", headers=A)).json()
    assert (life["client_ref"], life["outcome"], life["outcome_channel"]) == (
        CLIENT,
        "delivered",
        "sms",
    )
    assert next(r["kind"] for r in life["timeline"]) == "completed"
    assert {r["kind"] for r in life["timeline"]} == {"sent", "delivered", "completed"}
    assert life["channels"] == [{"channel": "sms", "status": "delivered", "provider": "twilio"}]


async def test_two_clinics_with_the_same_client_ref_see_only_their_own(tracker: Tracker) -> None:
    await fed(tracker, CLINIC_A, "a", A)
    await fed(tracker, CLINIC_B, "b", B)
    url = f"/api/console/clients/{CLIENT}"
    for headers, mine, theirs in ((A, "a-", "b-"), (B, "b-", "a-")):
        rows = (await tracker.http.get(url, headers=headers)).json()["timeline"]
        ids = {r["reminder_id"] for r in rows if r["reminder_id"]}
        assert ids
        assert all(i.startswith(mine) for i in ids), ids
        assert not any(i.startswith(theirs) for i in ids)
    refused = await tracker.http.get(url, params={"clinic": CLINIC_B}, headers=A)
    assert refused.status_code == 403
    other = await tracker.http.get("/api/console/reminders/b-sent", headers=A)
    assert other.status_code == 404  # not in clinic A
    refused = await tracker.http.get(
        "/api/console/reminders/b-sent", params={"clinic": CLINIC_B}, headers=A
    )
    assert refused.status_code == 403
    ops = {"Authorization": f"Bearer {OPS}"}
    assert (await tracker.http.get(url, headers=ops)).status_code == 422  # name the clinic
    seen = await tracker.http.get(url, params={"clinic": CLINIC_B}, headers=ops)
    assert {r["reminder_id"] for r in seen.json()["timeline"]} >= {"b-sent", "b-capped"}
    assert (await tracker.http.get(url)).status_code == 401


async def test_an_older_plan_never_replaces_a_newer_one(tracker: Tracker) -> None:
    newer = plan("newer")
    other = str(uuid.uuid4())
    # Batches of one clinic, each client's plan by its own planned_at: a batch that
    # arrives later may hold an older plan (another replica's).
    await tracker.publish(plans_changed(CLINIC_A, newer, plan("theirs", other)))
    older = plan("older", at=newer.planned_at - timedelta(minutes=5))
    await tracker.publish(plans_changed(CLINIC_A, older, plan("theirs-later", other)))
    await settled(tracker)
    body = (await tracker.http.get(f"/api/console/clients/{CLIENT}", headers=A)).json()
    assert [u["reminder_id"] for u in body["plan"]["upcoming"]] == ["newer"]
    assert body["plan"]["planned_at"] == newer.planned_at.isoformat()
    assert {r["reminder_id"] for r in body["timeline"]} == {"newer", None}
    theirs = (await tracker.http.get(f"/api/console/clients/{other}", headers=A)).json()
    assert [u["reminder_id"] for u in theirs["plan"]["upcoming"]] == ["theirs-later"]
