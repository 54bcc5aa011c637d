"""The notifier against real RabbitMQ and Redis and real protocol peers."""

from __future__ import annotations

import asyncio

import pytest

from shared.contracts import ChannelConsent, ContactPoints, PushSubscription, ReminderPurpose
from shared.handling import REASON_HEADER
from shared.messages.catalogue import CATALOGUE
from shared.messages.sms_text import OPT_OUT_TEXT, measure
from tests.notifier.conftest import EMAIL, PHONE, TITLE, Harness, reminder
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration


async def test_email_arrives_plain_and_html_with_list_unsubscribe(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-mail", consent=ChannelConsent(email=True), channels=("email",))
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-mail"))
    sent = await harness.wait_event("notification.dispatched", reminder_id="rem-cl-mail-0")
    assert sent["channel"] == "email"
    await wait_for(lambda: len(harness.smtp.received) == 1)
    mail = harness.smtp.received[0]
    assert mail.rcpt_tos == [EMAIL]
    msg = mail.message
    assert msg["List-Unsubscribe"].startswith(f"<{harness.url}/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain_part is not None
    assert html_part is not None
    text, html = plain_part.get_content(), html_part.get_content()
    assert "Riverside Counselling" in text
    # One of the English reminder phrasings (which one rotates per client and day).
    leads = CATALOGUE["en"].phrasings[ReminderPurpose.REMINDER]
    assert any(p.lead.split("{{")[0] in text for p in leads)
    assert f"{harness.settings.public_base_url}/d/" in html
    assert f"{harness.settings.public_base_url}/d/" in text
    for part in (text, html, str(msg["Subject"])):
        assert TITLE not in part


async def test_sms_first_message_carries_opt_out_and_redelivery_sends_once(
    harness: Harness,
) -> None:
    await harness.clinic()
    await harness.client("cl-sms")
    await asyncio.sleep(0.3)
    due = reminder("cl-sms")
    await harness.publish(due)
    await harness.publish(due)  # a redelivery of the same reminder
    await harness.wait_event("notification.dispatched", reminder_id=due.reminder_id)
    await harness.publish(reminder("cl-sms", 1))
    await harness.wait_event("notification.dispatched", reminder_id="rem-cl-sms-1")
    await asyncio.sleep(1.0)
    # At most re-announced (same event id), never sent twice.
    announced = harness.events("notification.dispatched", reminder_id=due.reminder_id)
    assert len({e["event_id"] for e in announced}) == 1
    assert [m.to for m in harness.twilio.messages] == [PHONE, PHONE]
    first, second = harness.twilio.messages
    assert OPT_OUT_TEXT in first.body
    assert OPT_OUT_TEXT not in second.body
    code = announced[0]["link_code"]
    assert f"{harness.settings.public_base_url}/d/{code}" in first.body  # the whole link
    assert measure(first.body).segments <= 2
    assert measure(second.body).segments == 1
    assert TITLE not in first.body
    assert first.status_callback == (
        f"{harness.url}/webhooks/twilio/status?clinic={due.clinic_id}"
        f"&reminder={due.reminder_id}&correlation={due.correlation_id}&client={due.client_ref}"
        "&n=1"  # one reminder in the message: its status callback needs no lookup
    )


async def test_provider_503_for_a_while_is_retried_later_and_sent_once(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-503")
    await asyncio.sleep(0.3)
    harness.twilio.fail_next = 2
    await harness.publish(reminder("cl-503"))
    await harness.wait_event("notification.dispatched", reminder_id="rem-cl-503-0", timeout=30)
    failed = harness.events("notification.failed", reminder_id="rem-cl-503-0")
    assert len(failed) == 2
    assert not any(f["permanent"] for f in failed)
    assert len(harness.twilio.messages) == 1
    assert harness.twilio.requests == 3


async def test_timeout_is_transient(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-slow")
    await asyncio.sleep(0.3)
    harness.twilio.hang_next, harness.twilio.hang_seconds = 1, 3.0
    await harness.publish(reminder("cl-slow"))
    await harness.wait_event("notification.dispatched", reminder_id="rem-cl-slow-0", timeout=30)
    assert "timed out" in harness.events("notification.failed")[0]["reason"]
    assert len(harness.twilio.messages) == 1


async def test_invalid_number_fails_over_to_email(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-bad")
    await asyncio.sleep(0.3)
    harness.twilio.invalid.add(PHONE)
    await harness.publish(reminder("cl-bad"))
    sent = await harness.wait_event("notification.dispatched", reminder_id="rem-cl-bad-0")
    assert sent["channel"] == "email"
    failed = harness.events("notification.failed", reminder_id="rem-cl-bad-0")
    assert failed[0]["permanent"] is True
    assert "21211" in failed[0]["reason"]
    assert len(harness.smtp.received) == 1


async def test_push_reaches_the_push_service(harness: Harness) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from py_vapid.utils import b64urlencode

    key = ec.generate_private_key(ec.SECP256R1())
    p256dh = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    sub = PushSubscription(
        endpoint=harness.push.endpoint("sub1"), p256dh=b64urlencode(p256dh), auth="c2VjcmV0YXV0aDE2"
    )
    await harness.clinic()
    await harness.client(
        "cl-push", contacts=ContactPoints(push=sub), consent=ChannelConsent(push=True)
    )
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-push"))
    sent = await harness.wait_event("notification.dispatched", reminder_id="rem-cl-push-0")
    assert sent["channel"] == "push"
    assert len(harness.push.received) == 1
    push = harness.push.received[0]
    assert push.headers["Content-Encoding"] == "aes128gcm"
    shown = push.payload(key, sub.auth)
    assert shown["url"].startswith(f"{harness.settings.public_base_url}/d/")  # opened on a tap
    assert shown["url"].rsplit("/", 1)[1] == sent["link_code"]
    assert shown["title"] == "Riverside Counselling"
    assert TITLE not in shown["title"] + shown["body"]


async def test_bad_input_goes_to_the_dead_letter_queue_with_a_reason(harness: Harness) -> None:
    await harness.publish_raw("reminder.due", b'{"type": "reminder.due", "clinic_id": "c"}')
    await harness.publish_raw("reminder.due", b"not json")
    got: list[object] = []

    async def two() -> bool:
        got.extend(await harness.dead_letters())
        return len(got) >= 2

    await wait_for(two, timeout=15)
    reasons = [str(m.headers[REASON_HEADER]) for m in got]  # type: ignore[attr-defined]
    assert any("reminder_id" in r for r in reasons)
    assert any("not valid JSON" in r for r in reasons)
