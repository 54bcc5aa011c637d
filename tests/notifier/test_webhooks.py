"""Twilio webhooks: signatures, statuses, and inbound keywords."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes.twilio_api import twilio_signature
from tests.notifier.conftest import CLINIC, PHONE, Harness, reminder
from tests.support.infra import wait_for

pytestmark = pytest.mark.integration


async def sent_sms(harness: Harness, client_ref: str) -> None:
    await harness.clinic()
    await harness.client(client_ref)
    await asyncio.sleep(0.3)
    await harness.publish(reminder(client_ref))
    await harness.wait_event("notification.dispatched", reminder_id=f"rem-{client_ref}-0")


async def test_forged_callback_is_refused_and_a_signed_one_becomes_an_event(
    harness: Harness,
) -> None:
    await sent_sms(harness, "cl-cb")
    sms = harness.twilio.messages[0]
    assert await harness.twilio.callback(sms, "delivered", forge=True) == 403
    assert await harness.twilio.callback(sms, "delivered") == 204
    event = await harness.wait_event("delivery.status.changed", provider_message_id=sms.sid)
    assert event["status"] == "delivered"
    assert event["reminder_id"] == "rem-cl-cb-0"
    assert event["channel"] == "sms"
    assert event["clinic_id"] == CLINIC
    assert len(harness.events("delivery.status.changed")) == 1


async def test_stop_opts_out_at_once_and_the_next_reminder_is_suppressed(
    harness: Harness,
) -> None:
    await sent_sms(harness, "cl-stop")
    url = f"{harness.url}/webhooks/twilio/inbound"
    status, body = await harness.twilio.inbound(url, PHONE, "Stop")
    assert status == 200
    assert "<Response" in body
    consent = await harness.wait_event("consent.changed", client_ref="cl-stop")
    assert consent["opted_out"] is True
    assert consent["channel"] == "sms"
    await harness.client("cl-stop", consent={"sms": True, "email": False}, version=2)
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-stop", 1))
    suppressed = await harness.wait_event("notification.suppressed", reminder_id="rem-cl-stop-1")
    assert suppressed["reason"] == "opted_out"
    assert len(harness.twilio.messages) == 1
    # START opts back in
    await harness.twilio.inbound(url, PHONE, "START")
    await wait_for(lambda: len(harness.events("consent.changed", client_ref="cl-stop")) == 2)
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-stop", 2))
    await harness.wait_event("notification.dispatched", reminder_id="rem-cl-stop-2")


async def test_done_reports_completion_of_the_latest_reminded_occurrence(harness: Harness) -> None:
    await sent_sms(harness, "cl-done")
    status, body = await harness.twilio.inbound(
        f"{harness.url}/webhooks/twilio/inbound", PHONE, "done"
    )
    assert status == 200
    assert "Thanks" in body
    done = await harness.wait_event("completion.reported", client_ref="cl-done")
    assert done["assignment_id"] == "asg-cl-done"
    assert done["reminder_id"] == "rem-cl-done-0"
    assert done["source"] == "sms"


async def test_help_answers_with_the_clinic_help_text(harness: Harness) -> None:
    await harness.clinic(help_text="Call us on 555-0100 & ask <anything>.")
    await harness.client("cl-help")
    await asyncio.sleep(0.3)
    status, body = await harness.twilio.inbound(
        f"{harness.url}/webhooks/twilio/inbound", PHONE, "HELP"
    )
    assert status == 200
    assert "<Message>Call us on 555-0100 &amp; ask &lt;anything&gt;.</Message>" in body


async def test_malformed_requests_get_a_clear_4xx(harness: Harness) -> None:
    url = f"{harness.url}/webhooks/twilio/status"
    async with httpx.AsyncClient() as client:
        r = await client.post(url, content=b"{}", headers={"content-type": "application/json"})
        assert r.status_code == 415
        params = {"MessageStatus": "delivered"}
        sig = twilio_signature(harness.twilio.auth_token, url, params)
        r = await client.post(url, data=params, headers={"X-Twilio-Signature": sig})
        assert r.status_code == 400
        assert "MessageSid" in r.text
        r = await client.post(url, data=params)
        assert r.status_code == 403


async def test_email_one_click_unsubscribe(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-unsub", consent={"email": True}, channels=("email",))
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-unsub"))
    await wait_for(lambda: len(harness.smtp.received) == 1)
    link = str(harness.smtp.received[0].message["List-Unsubscribe"]).strip("<>")
    async with httpx.AsyncClient() as client:
        bad = await client.post(link + "x")
        assert bad.status_code == 400
        page = await client.get(link)  # a person (or a link scanner) opening it changes nothing
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert (await client.get(link + "x")).status_code == 400
        ok = await client.post(link, data={"List-Unsubscribe": "One-Click"})
        assert ok.status_code == 200
    consent = await harness.wait_event("consent.changed", client_ref="cl-unsub")
    assert consent["channel"] == "email"
    assert consent["source"] == "unsubscribe_link"
    await asyncio.sleep(0.3)
    await harness.publish(reminder("cl-unsub", 1))
    suppressed = await harness.wait_event("notification.suppressed", reminder_id="rem-cl-unsub-1")
    assert suppressed["reason"] == "opted_out"
