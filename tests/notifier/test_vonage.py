"""Vonage's webhooks on the running notifier (HTTP, real RabbitMQ and Redis): a signed
status becomes ``delivery.status.changed`` for the reminder its URL names; a forged,
tampered or unsigned one is refused and announces nothing; an inbound STOP opts the
number out."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from notifier.callback_url import CallbackRef, status_callback_url
from tests.fakes.vonage_api import FakeVonage, VonageSms
from tests.notifier.conftest import CLINIC, PHONE, Harness
from tests.support.infra import wait_for

SECRET = FakeVonage.signature_secret
pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("harness", [{"vonage_signature_secret": SECRET}], indirect=True),
]


def sent(harness: Harness, reminder_id: str, correlation_id: str) -> VonageSms:
    """A message as the notifier sent it through Vonage: its webhook URL names it."""
    url = status_callback_url(
        f"{harness.url}/webhooks/vonage/status", CallbackRef(CLINIC, reminder_id, correlation_id)
    )
    return VonageSms(str(uuid.uuid4()), PHONE[1:], "15005550007", "text", reminder_id, url)


async def test_a_signed_status_becomes_an_event_for_the_reminder(harness: Harness) -> None:
    vonage = FakeVonage()
    reminder_id, correlation = f"rem-{uuid.uuid4()}", str(uuid.uuid4())
    sms = sent(harness, reminder_id, correlation)
    assert await vonage.callback(sms, "delivered") == 204
    event = await harness.wait_event(
        "delivery.status.changed", provider_message_id=sms.message_uuid
    )
    assert event["provider"] == "vonage"
    assert event["status"] == "delivered"
    assert event["reminder_id"] == reminder_id
    assert event["clinic_id"] == CLINIC
    assert event["correlation_id"] == correlation
    error = {"type": "https://developer.vonage.com/api-errors/messages#1320", "title": "Failed"}
    assert await vonage.callback(sms, "undeliverable", error=error) == 204
    await wait_for(lambda: len(harness.events("delivery.status.changed")) == 2)
    last = harness.events("delivery.status.changed", status="undelivered")[0]
    assert last["error_code"] == "1320"


async def test_forged_tampered_or_unsigned_statuses_are_refused(harness: Harness) -> None:
    vonage = FakeVonage()
    sms = sent(harness, f"rem-{uuid.uuid4()}", str(uuid.uuid4()))
    other = "another-signature-secret-0123456789abcdef"
    assert await vonage.callback(sms, "delivered", secret=other) == 403
    assert await vonage.callback(sms, "delivered", tamper=True) == 403  # payload_hash differs
    old = await vonage.post_signed(sms.webhook_url, {"status": "delivered"}, iat=1_700_000_000)
    assert old == 403
    async with aiohttp.ClientSession() as session:
        async with session.post(sms.webhook_url, json={"status": "delivered"}) as response:
            assert response.status == 401
        async with session.post(sms.webhook_url, data="status=delivered") as response:
            assert response.status == 415
    # A well-signed body without what a status needs: a 400 that says what is missing.
    assert await vonage.post_signed(sms.webhook_url, {"status": "delivered"}) == 400
    await asyncio.sleep(0.3)
    assert harness.events("delivery.status.changed") == []


async def test_an_inbound_stop_opts_the_number_out(harness: Harness) -> None:
    await harness.client("cl-vonage-stop")
    await asyncio.sleep(0.3)  # the preferences are stored (the number's owner known)
    vonage = FakeVonage()
    assert await vonage.inbound(f"{harness.url}/webhooks/vonage/inbound", PHONE[1:], "STOP") == 204
    consent = await harness.wait_event("consent.changed", client_ref="cl-vonage-stop")
    assert consent["opted_out"] is True
    assert consent["source"] == "sms_keyword"
