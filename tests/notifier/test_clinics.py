"""Two clinics choose the same ids (assignment, client, reminder) and share a phone number:
neither sees nor overwrites the other's data, and everything a message causes goes back
to its own clinic under the EHR's correlation id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.contracts import ActivityCancelled, new_envelope
from tests.notifier.conftest import PHONE, Harness, reminder
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration

NORTH, HARBOUR = str(uuid.uuid4()), str(uuid.uuid4())
CLIENT, ASSIGNMENT = "c-1", "a-1"  # the same opaque refs in both clinics


def due(clinic: str, reminder_id: str, **kw: Any) -> Any:
    return reminder(
        CLIENT,
        clinic_id=clinic,
        reminder_id=reminder_id,
        assignment_id=ASSIGNMENT,
        correlation_id=f"ehr-{clinic[:8]}-{uuid.uuid4().hex[:12]}",
        **kw,
    )


async def two_clinics(harness: Harness) -> None:
    await harness.clinic(NORTH, clinic_name="Northside Counselling", help_text="Northside help")
    await harness.clinic(HARBOUR, clinic_name="Harbour Psychology", help_text="Harbour help")
    await harness.client(CLIENT, clinic_id=NORTH)
    await harness.client(CLIENT, clinic_id=HARBOUR)
    await asyncio.sleep(0.3)


async def test_same_ids_in_two_clinics_are_two_reminders_and_two_clients(
    harness: Harness,
) -> None:
    await two_clinics(harness)
    shared_id = "rem-" + uuid.uuid4().hex
    north, harbour = due(NORTH, shared_id), due(HARBOUR, shared_id)
    await harness.publish(north)
    await harness.wait_event("notification.dispatched", clinic_id=NORTH)
    await harness.publish(harbour)
    sent = await harness.wait_event("notification.dispatched", clinic_id=HARBOUR)
    assert sent["reminder_id"] == shared_id
    assert len(harness.twilio.messages) == 2  # not taken for a duplicate of the other's
    first_north, first_harbour = harness.twilio.messages
    assert first_north.body.startswith("Northside Counselling:")
    assert first_harbour.body.startswith("Harbour Psychology:")
    assert "Reply STOP" in first_harbour.body  # the first text of that clinic says how to stop
    dispatched = harness.events("notification.dispatched")
    assert {d["clinic_id"] for d in dispatched} == {NORTH, HARBOUR}
    assert len({d["event_id"] for d in dispatched}) == 2
    assert len({d["link_code"] for d in dispatched}) == 2

    # A cancel in one clinic stops only that clinic's reminder.
    cancel = ActivityCancelled(
        **new_envelope(), clinic_id=NORTH, assignment_id=ASSIGNMENT, client_ref=CLIENT, version=1
    )
    await harness.publish(cancel)
    await asyncio.sleep(0.3)
    second = "rem-" + uuid.uuid4().hex
    await harness.publish(due(NORTH, second))
    await harness.publish(due(HARBOUR, second))
    stopped = await harness.wait_event("notification.suppressed", reminder_id=second)
    assert (stopped["clinic_id"], stopped["reason"]) == (NORTH, "cancelled")
    kept = await harness.wait_event("notification.dispatched", reminder_id=second)
    assert kept["clinic_id"] == HARBOUR


async def test_stop_reaches_every_clinic_of_a_shared_number_and_help_the_right_one(
    harness: Harness,
) -> None:
    await two_clinics(harness)
    url = f"{harness.url}/webhooks/twilio/inbound"
    await harness.publish(due(HARBOUR, "rem-" + uuid.uuid4().hex))
    await harness.wait_event("notification.dispatched", clinic_id=HARBOUR)
    _, body = await harness.twilio.inbound(url, PHONE, "HELP")
    assert "<Message>Harbour help</Message>" in body  # the clinic that texted last
    await harness.twilio.inbound(url, PHONE, "STOP")
    await wait_for(lambda: len(harness.events("consent.changed")) == 2)
    stops = harness.events("consent.changed")
    assert {(c["clinic_id"], c["client_ref"], c["opted_out"]) for c in stops} == {
        (NORTH, CLIENT, True),
        (HARBOUR, CLIENT, True),
    }


async def test_a_changed_number_leaves_its_old_owners(harness: Harness) -> None:
    await two_clinics(harness)
    await harness.client(CLIENT, clinic_id=NORTH, version=2, contacts={"sms": "+4915199999999"})
    await asyncio.sleep(0.3)
    await harness.twilio.inbound(f"{harness.url}/webhooks/twilio/inbound", PHONE, "STOP")
    await harness.wait_event("consent.changed", clinic_id=HARBOUR)
    await asyncio.sleep(0.3)
    assert [c["clinic_id"] for c in harness.events("consent.changed")] == [HARBOUR]


async def test_the_ehr_correlation_id_comes_back_on_callbacks_and_done(harness: Harness) -> None:
    await two_clinics(harness)
    shared_id = "rem-" + uuid.uuid4().hex
    north, harbour = due(NORTH, shared_id), due(HARBOUR, shared_id)
    await harness.publish(north)
    await harness.wait_event("notification.dispatched", clinic_id=NORTH)
    await harness.publish(harbour)
    await harness.wait_event("notification.dispatched", clinic_id=HARBOUR)
    for sms, sent in zip(harness.twilio.messages, (north, harbour), strict=True):
        assert await harness.twilio.callback(sms, "delivered") == 204
        status = await harness.wait_event("delivery.status.changed", provider_message_id=sms.sid)
        assert status["clinic_id"] == sent.clinic_id
        assert status["correlation_id"] == sent.correlation_id
        assert status["reminder_id"] == shared_id
    await harness.twilio.inbound(f"{harness.url}/webhooks/twilio/inbound", PHONE, "DONE")
    done = await harness.wait_event("completion.reported")
    assert done["clinic_id"] == HARBOUR  # the reminder the client just got
    assert done["correlation_id"] == harbour.correlation_id
    assert (done["assignment_id"], done["reminder_id"]) == (ASSIGNMENT, shared_id)
