"""Digests through the notifier on the real RabbitMQ and Redis, with the Twilio-shaped
API: several reminders of one client due together go as one SMS naming the count."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifier.compose import LinkConfig
from notifier.decide import Grouped, MemberState, Rules, Send, SendContext, Split, decide
from notifier.handlers import apply_directory_event
from notifier.send_store import Bucket
from shared.contracts import (
    ActivityCompleted,
    Caps,
    ClinicPolicyChanged,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.contracts.internal import DigestItem
from shared.links import digest_code
from shared.settings import secret_values
from tests.notifier.conftest import (
    CLINIC,
    PHONE,
    Harness,
    Rig,
    away_from_now_quiet_hours,
    reminder,
)
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration


def digest_of(client: str, size: int = 3) -> ReminderDue:
    """One reminder.due for ``size`` activities of ``client`` due at the same instant."""
    lead = reminder(client, reminder_id=f"rem-0-{uuid.uuid4().hex}")
    items = tuple(
        DigestItem(
            reminder_id=f"rem-{n}-{uuid.uuid4().hex}",
            assignment_id=f"asg-{client}-{n}",
            assignment_version=1,
            occurrence_date=lead.occurrence_date,
            purpose=lead.purpose,
            activity_kind=lead.activity_kind,
            activity_title="Breathing exercise",
            policy_id=lead.policy_id,
            correlation_id=str(uuid.uuid4()),
        )
        for n in range(1, size)
    )
    return lead.model_copy(update={"digest": items})


def ids(event: ReminderDue) -> list[str]:
    return [event.reminder_id, *(i.reminder_id for i in event.digest)]


def lead_text(body: str) -> str:
    return body.split("https://", maxsplit=1)[0].split("http://", maxsplit=1)[0]


async def clinic(harness: Harness, *, digest: bool = True, per_day: int = 3) -> None:
    policy = example_policy()
    policy = policy.model_copy(
        update={
            "caps": Caps(per_day=per_day, per_week=12),
            "quiet_hours": away_from_now_quiet_hours(),
            "messaging": policy.messaging.model_copy(update={"digest": digest}),
        }
    )
    await harness.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=CLINIC, policy=policy))


async def test_three_reminders_go_as_one_sms_and_each_is_announced_and_told_its_status(
    harness: Harness,
) -> None:
    await clinic(harness)
    await harness.client("cl-dg")
    await asyncio.sleep(0.3)
    event = digest_of("cl-dg")
    await harness.publish(event)
    for rid in ids(event):
        await harness.wait_event("notification.dispatched", reminder_id=rid)
    assert len(harness.twilio.messages) == 1
    sms = harness.twilio.messages[0]
    assert sms.to == PHONE
    assert re.search(r"\b3\b", lead_text(sms.body))
    code = digest_code(secret_values(harness.settings.link_secrets), CLINIC, event.reminder_id)
    assert f"{harness.settings.public_base_url}/g/{code}" in sms.body
    announced = [harness.events("notification.dispatched", reminder_id=r)[0] for r in ids(event)]
    assert {a["provider_message_id"] for a in announced} == {sms.sid}
    assert {a["digest_of"] for a in announced} == {event.reminder_id}
    assert {a["digest_code"] for a in announced} == {code}
    assert len({a["link_code"] for a in announced}) == 3  # each its own done link

    # A redelivery of the digest sends nothing more; each reminder is only re-announced.
    await harness.publish(event)
    await asyncio.sleep(1.0)
    assert len(harness.twilio.messages) == 1

    # The status callback names the reminder the message was sent for: all three hear it.
    assert await harness.twilio.callback(sms, "delivered") == 204
    for rid in ids(event):
        status = await harness.wait_event("delivery.status.changed", reminder_id=rid)
        assert status["status"] == "delivered"


async def test_with_digests_off_each_reminder_is_its_own_sms(harness: Harness) -> None:
    await clinic(harness, digest=False)
    await harness.client("cl-off")
    await asyncio.sleep(0.3)
    event = digest_of("cl-off")
    await harness.publish(event)
    for rid in ids(event):
        sent = await harness.wait_event("notification.dispatched", reminder_id=rid)
        assert sent.get("digest_of") is None
    assert len(harness.twilio.messages) == 3
    assert all("/d/" in m.body and "/g/" not in m.body for m in harness.twilio.messages)


async def test_a_digest_takes_one_cap_slot(harness: Harness) -> None:
    await clinic(harness, per_day=2)
    await harness.client("cl-cap")
    await asyncio.sleep(0.3)
    await harness.publish(digest_of("cl-cap"))
    await wait_for(lambda: len(harness.twilio.messages) == 1)
    second = reminder("cl-cap", 7, assignment_id="asg-cl-cap-7")
    await harness.publish(second)
    await harness.wait_event("notification.dispatched", reminder_id=second.reminder_id)
    third = reminder("cl-cap", 8, assignment_id="asg-cl-cap-8")
    await harness.publish(third)
    capped = await harness.wait_event("notification.suppressed", reminder_id=third.reminder_id)
    assert capped["reason"] == "cap"
    assert len(harness.twilio.messages) == 2


async def test_a_member_done_before_firing_leaves_a_digest_of_two(harness: Harness) -> None:
    await clinic(harness)
    await harness.client("cl-two")
    await asyncio.sleep(0.3)
    event = digest_of("cl-two")
    done = event.digest[0]
    await harness.publish(
        ActivityCompleted(
            **new_envelope(),
            clinic_id=CLINIC,
            assignment_id=done.assignment_id,
            client_ref="cl-two",
            occurrence_date=done.occurrence_date,
            completed_at=datetime.now(UTC),
        )
    )
    await asyncio.sleep(0.3)
    await harness.publish(event)
    suppressed = await harness.wait_event("notification.suppressed", reminder_id=done.reminder_id)
    assert suppressed["reason"] == "completed"
    for rid in (event.reminder_id, event.digest[1].reminder_id):
        await harness.wait_event("notification.dispatched", reminder_id=rid)
    assert len(harness.twilio.messages) == 1
    assert re.search(r"\b2\b", lead_text(harness.twilio.messages[0].body))


async def test_a_member_changed_after_the_load_makes_the_digest_decide_again(rig: Rig) -> None:
    """The reservation right before the provider call checks every reminder the digest
    carries: a completion that arrived since the load answers ``regroup`` (nothing is
    taken); unchanged, it takes every reminder's lease with the key's."""
    await rig.prefs()
    store, dispatcher = rig.runtime.dispatcher.store, rig.runtime.dispatcher
    bucket = Bucket("digest-test", rate=10_000, burst=10_000)
    rules = Rules(dispatcher.links, 600)

    async def reserve(event: ReminderDue) -> tuple[str, Grouped]:
        decision = decide(event, await store.load(event), datetime.now(UTC), rules)
        assert isinstance(decision, Grouped)
        assert isinstance(decision.decision, Send)
        found = await store.reserve(
            decision.key,
            decision.decision,
            token=uuid.uuid4().hex,
            rev=decision.rev,
            circuit="digest-test",
            bucket=bucket,
        )
        return found.outcome, decision

    event = digest_of("cl-d")
    decision = decide(event, await store.load(event), datetime.now(UTC), rules)
    assert isinstance(decision, Grouped)
    item = event.digest[1]
    await apply_directory_event(
        rig.runtime,
        ActivityCompleted(
            **new_envelope(),
            clinic_id=CLINIC,
            assignment_id=item.assignment_id,
            client_ref="cl-d",
            occurrence_date=item.occurrence_date,
            completed_at=datetime.now(UTC),
        ),
    )
    assert isinstance(decision.decision, Send)
    stale = await store.reserve(
        decision.key,
        decision.decision,
        token="t-1",
        rev=decision.rev,
        circuit="digest-test",
        bucket=bucket,
    )
    assert stale.outcome == "regroup"
    assert await store.lease_left(CLINIC, event.client_ref, event.reminder_id) == 0

    outcome, fresh = await reserve(event)  # decided again: two reminders, not three
    assert outcome == "ok"
    send = fresh.decision
    assert isinstance(send, Send)
    assert send.together is not None
    carried = [m.reminder_id for m in send.together.members]
    assert carried == [event.reminder_id, event.digest[0].reminder_id]
    for rid in carried:
        assert await store.lease_left(CLINIC, event.client_ref, rid) > 0
    assert await store.lease_left(CLINIC, event.client_ref, item.reminder_id) == 0


def test_an_encouragement_in_a_digest_is_handled_one_by_one() -> None:
    """What the scheduler never groups, arriving grouped, is not refused: split."""
    event = digest_of("cl-x")
    odd = event.digest[0].model_copy(update={"purpose": ReminderPurpose.ENCOURAGEMENT})
    event = event.model_copy(update={"digest": (odd, event.digest[1])})
    rules = Rules(
        LinkConfig(
            ("s" * 32,), "https://go.example.org", "https://n.example.org", timedelta(hours=72)
        ),
        600,
    )
    members = (MemberState(), MemberState())
    decision = decide(event, SendContext(members=members), datetime.now(UTC), rules)
    assert isinstance(decision, Split)
