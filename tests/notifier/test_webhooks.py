"""Twilio webhooks: signatures, statuses, and inbound keywords."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from notifier.callback_url import CallbackRef, callback_ref, status_callback_url
from notifier.keys import Keys
from tests.fakes.twilio_api import SentSms, twilio_signature
from tests.notifier.conftest import CLINIC, PHONE, Harness, reminder
from tests.support.infra import wait_for

integration = pytest.mark.integration
BASE = "https://notify.example-clinic.org/webhooks/twilio/status"


def test_the_callback_url_names_the_reminder_and_is_signed_as_given() -> None:
    ref = CallbackRef(str(uuid.uuid4()), "rem-" + uuid.uuid4().hex, str(uuid.uuid4()))
    url = status_callback_url(BASE, ref)
    query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    assert callback_ref(query) == ref
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    signature = twilio_signature("a-token", url, params)
    assert RequestValidator("a-token").validate(url, params, signature)
    # Refs need no quoting: no HTTP client re-encodes them on the way (or the signature breaks).
    odd = CallbackRef("clinic:north.1", "rem_2026-11-23:a", "free form id")
    odd_url = status_callback_url(BASE + "?x=1", odd)
    assert odd_url == BASE + "?x=1&clinic=clinic:north.1&reminder=rem_2026-11-23:a"
    assert callback_ref({"clinic": "a/b", "reminder": "r"}) is None
    assert callback_ref({}) is None


def test_the_callback_url_says_how_many_reminders_its_message_carried() -> None:
    clinic, client, reminder_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    for carries in (1, 3):
        ref = CallbackRef(clinic, reminder_id, None, client, carries)
        url = status_callback_url(BASE, ref)
        assert url.endswith(f"&client={client}&n={carries}")
        query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
        assert callback_ref(query) == ref
    # Not a plain count: unknown, so the webhook looks the send record up.
    for odd in ("", "x", "-1", "1.0", "\u0661"):
        query = {"clinic": clinic, "reminder": reminder_id, "client": client, "n": odd}
        parsed = callback_ref(query)
        assert parsed is not None
        assert parsed.carries is None


async def sent_sms(harness: Harness, client_ref: str) -> None:
    await harness.clinic()
    await harness.client(client_ref)
    await asyncio.sleep(0.3)
    await harness.publish(reminder(client_ref))
    await harness.wait_event("notification.dispatched", reminder_id=f"rem-{client_ref}-0")


@integration
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


@integration
async def test_a_send_keeps_no_message_map_and_a_previous_release_s_map_is_still_read(
    harness: Harness, redis: Any, namespace: str
) -> None:
    await sent_sms(harness, "cl-map")
    keys = Keys(f"{namespace}:bs:notifier")
    sms = harness.twilio.messages[0]
    assert not await redis.exists(keys.message("twilio", sms.sid))
    # A message the previous release sent: its URL names nothing, its map does.
    bare = f"{harness.url}/webhooks/twilio/status"
    old = SentSms("SM" + uuid.uuid4().hex, PHONE, sms.from_, "", bare)
    mapped = {"reminder_id": "rem-old-1", "clinic_id": CLINIC, "correlation_id": "corr-old-1"}
    await redis.set(keys.message("twilio", old.sid), json.dumps(mapped))
    assert await harness.twilio.callback(old, "delivered") == 204
    event = await harness.wait_event("delivery.status.changed", provider_message_id=old.sid)
    assert (event["clinic_id"], event["reminder_id"]) == (CLINIC, "rem-old-1")
    assert event["correlation_id"] == "corr-old-1"
    # Nothing known about it at all: published as before, under "system".
    lost = SentSms("SM" + uuid.uuid4().hex, "+15005550006", sms.from_, "", bare)
    assert await harness.twilio.callback(lost, "failed", error_code="30003") == 204
    event = await harness.wait_event("delivery.status.changed", provider_message_id=lost.sid)
    assert (event["clinic_id"], event["reminder_id"]) == ("system", None)


@integration
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


@integration
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


@integration
async def test_help_answers_with_the_clinic_help_text(harness: Harness) -> None:
    await harness.clinic(help_text="Call us on 555-0100 & ask <anything>.")
    await harness.client("cl-help")
    await asyncio.sleep(0.3)
    status, body = await harness.twilio.inbound(
        f"{harness.url}/webhooks/twilio/inbound", PHONE, "HELP"
    )
    assert status == 200
    assert "<Message>Call us on 555-0100 &amp; ask &lt;anything&gt;.</Message>" in body


@integration
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


@integration
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
