"""Delivery truth on the real RabbitMQ and Redis (issue 14 item 2): SendGrid's signed
events and RFC 3464 bounces become delivery states the tracker turns into what the EHR
hears, a bounced or complained address gets no more email, and a push subscription the
push service calls gone leaves the directory with a push.revoked."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from notifier.email_events import DSN_PATH, SENDGRID_PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER
from notifier.keys import Keys
from notifier.providers.smtp import REMINDER_HEADER, SENDGRID_HEADER
from shared.contracts import ChannelConsent, ContactPoints, PushSubscription
from tests.notifier.conftest import CLINIC, EMAIL, Harness, reminder
from tests.notifier.test_email_events import Signer
from tests.support.infra import wait_for
from tests.tracker.conftest import settings_for, started

pytestmark = pytest.mark.integration
SIGNER = Signer()
TOKEN = "dsn-" + uuid.uuid4().hex + uuid.uuid4().hex
SETTINGS = {"sendgrid_webhook_public_key": SIGNER.public, "dsn_webhook_token": TOKEN}
with_webhooks = pytest.mark.parametrize("harness", [SETTINGS], indirect=True)
EMAIL_ONLY: dict[str, Any] = {
    "channels": ("email",),
    "consent": ChannelConsent(email=True),
    "contacts": ContactPoints(email=EMAIL),
}


def signed(events: list[dict[str, Any]], signer: Signer = SIGNER) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    return body, {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signer.sign(stamp, body),
        TIMESTAMP_HEADER: stamp,
    }


async def post(harness: Harness, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=harness.url, timeout=10) as http:
        return await http.post(path, content=body, headers=headers)


def optouts(redis: Redis, namespace: str, clinic: str, client: str) -> Any:
    return redis.smembers(Keys(f"{namespace}:bs:notifier").optout(clinic, client))


async def email_sent(harness: Harness, client: str, n: int = 0) -> dict[str, Any]:
    """Send reminder ``n`` by email; the unique args the email carried to SendGrid."""
    count = len(harness.smtp.received)
    await harness.publish(reminder(client, n))
    sent = await harness.wait_event("notification.dispatched", reminder_id=f"rem-{client}-{n}")
    assert sent["channel"] == "email"
    await wait_for(lambda: len(harness.smtp.received) > count)
    mail = harness.smtp.received[-1].message
    args: dict[str, Any] = json.loads(str(mail[SENDGRID_HEADER]))["unique_args"]
    return args


def sendgrid_event(kind: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "email": EMAIL,
        "timestamp": int(time.time()),
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **args,
        **extra,
    }


@with_webhooks
async def test_a_signed_bounce_fails_the_reminder_to_the_ehr_and_stops_the_address(
    harness: Harness, redis: Redis, namespace: str
) -> None:
    async with started(settings_for(namespace), harness.topology, harness.channel) as tracker:
        await harness.clinic()
        await harness.client("cl-bounce", **EMAIL_ONLY)
        await asyncio.sleep(0.3)
        args = await email_sent(harness, "cl-bounce")
        bounce = sendgrid_event(
            "bounce", args, type="bounce", status="5.1.1", reason="550 5.1.1 User unknown"
        )
        body, headers = signed([sendgrid_event("processed", args), bounce])
        unsigned = {"Content-Type": "application/json"}
        assert (await post(harness, SENDGRID_PATH, body, unsigned)).status_code == 401
        forged = signed([bounce], Signer())[1]
        assert (await post(harness, SENDGRID_PATH, body, forged)).status_code == 403
        answer = await post(harness, SENDGRID_PATH, body, headers)
        assert answer.status_code == 200
        assert answer.json() == {"events": 2, "handled": 1}

        status = await harness.wait_event("delivery.status.changed", status="bounced")
        assert (status["reminder_id"], status["channel"]) == ("rem-cl-bounce-0", "email")
        assert status["error_code"] == "bounce:5.1.1"
        assert status["clinic_id"] == CLINIC
        await wait_for(lambda: bool(tracker.listener.of("reminder.failed")))
        (failed,) = tracker.listener.of("reminder.failed")
        assert (failed["reminder_id"], failed["channel"]) == ("rem-cl-bounce-0", "email")
        assert failed["reason"] == "bounce:5.1.1"
        assert await optouts(redis, namespace, CLINIC, "cl-bounce") == {b"email"}

        # SendGrid retries a POST it saw fail: the events already handled are skipped.
        assert (await post(harness, SENDGRID_PATH, body, headers)).json()["handled"] == 0

        # No more email to that address...
        await harness.publish(reminder("cl-bounce", 1))
        held = await harness.wait_event("notification.suppressed", reminder_id="rem-cl-bounce-1")
        assert held["reason"] == "opted_out"
        # ...until the EHR sends the client a new address.
        new = {**EMAIL_ONLY, "contacts": ContactPoints(email="new.address@example-isp.net")}
        await harness.client("cl-bounce", version=2, **new)
        await wait_for(lambda: _empty(redis, namespace, "cl-bounce"))
        assert (await email_sent(harness, "cl-bounce", 2))["bs_reminder_id"] == "rem-cl-bounce-2"


async def _empty(redis: Redis, namespace: str, client: str) -> bool:
    return not await optouts(redis, namespace, CLINIC, client)


@with_webhooks
async def test_a_spam_complaint_opts_out_every_client_with_that_address(
    harness: Harness, redis: Redis, namespace: str
) -> None:
    other_clinic = "riverside-behavioural-health-partnership-of-greater-manchester"
    await harness.clinic()
    await harness.clinic(other_clinic)
    await harness.client("cl-spam", **EMAIL_ONLY)
    await harness.client("cl-spam", clinic_id=other_clinic, **EMAIL_ONLY)
    await asyncio.sleep(0.3)
    args = await email_sent(harness, "cl-spam")
    body, headers = signed([sendgrid_event("spamreport", args)])
    assert (await post(harness, SENDGRID_PATH, body, headers)).status_code == 200

    status = await harness.wait_event("delivery.status.changed", status="complained")
    assert status["reminder_id"] == "rem-cl-spam-0"
    await wait_for(lambda: len(harness.events("consent.changed", source="email_complaint")) == 2)
    consents = harness.events("consent.changed", source="email_complaint")
    assert {(c["clinic_id"], c["client_ref"]) for c in consents} == {
        (CLINIC, "cl-spam"),
        (other_clinic, "cl-spam"),
    }
    assert all(c["channel"] == "email" and c["opted_out"] for c in consents)
    for clinic in (CLINIC, other_clinic):
        assert await optouts(redis, namespace, clinic, "cl-spam") == {b"email"}


@with_webhooks
async def test_a_dsn_posted_with_the_token_becomes_a_bounce(harness: Harness) -> None:
    await harness.clinic()
    await harness.client("cl-dsn", **EMAIL_ONLY)
    await asyncio.sleep(0.3)
    await email_sent(harness, "cl-dsn")
    original = harness.smtp.received[-1].message
    returned = "".join(
        f"{name}: {original[name]}\n" for name in ("From", "To", "Message-ID", REMINDER_HEADER)
    )
    report = (
        "From: MAILER-DAEMON@relay.example-isp.net\nTo: reminders@example.org\n"
        "MIME-Version: 1.0\nSubject: Undelivered Mail Returned to Sender\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b1\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example-isp.net\n\n"
        f"Final-Recipient: rfc822; {EMAIL}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        f"--b1\nContent-Type: text/rfc822-headers\n\n{returned}\n--b1--\n"
    ).encode()
    plain = {"Content-Type": "message/rfc822"}
    assert (await post(harness, DSN_PATH, report, plain)).status_code == 401
    wrong = {**plain, "Authorization": "Bearer " + "x" * 40}
    assert (await post(harness, DSN_PATH, report, wrong)).status_code == 401
    good = {**plain, "Authorization": f"Bearer {TOKEN}"}
    refused = await post(harness, DSN_PATH, b"Subject: hello\n\nnot a report", good)
    assert refused.status_code == 422
    assert "multipart/report" in refused.json()["detail"]
    answer = await post(harness, DSN_PATH, report, good)
    assert answer.status_code == 200
    status = await harness.wait_event("delivery.status.changed", status="bounced")
    assert (status["reminder_id"], status["error_code"]) == ("rem-cl-dsn-0", "dsn:5.1.1")


async def test_a_gone_push_subscription_is_removed_and_announced(
    harness: Harness, redis: Redis, namespace: str
) -> None:
    from tests.notifier.test_webpush import AUTH, browser_key
    from tests.tracker.conftest import OPS

    harness.push.gone.add("sub-gone")
    sub = PushSubscription(
        endpoint=harness.push.endpoint("sub-gone"), p256dh=browser_key()[1], auth=AUTH
    )
    async with started(settings_for(namespace), harness.topology, harness.channel) as tracker:
        await harness.clinic()
        await harness.client(
            "cl-gone",
            channels=("push",),
            contacts=ContactPoints(push=sub),
            consent=ChannelConsent(push=True),
        )
        await asyncio.sleep(0.3)
        await harness.publish(reminder("cl-gone"))
        revoked = await harness.wait_event("push.revoked", reminder_id="rem-cl-gone-0")
        assert (revoked["client_ref"], revoked["status_code"], revoked["provider"]) == (
            "cl-gone",
            410,
            "webpush",
        )
        failed = await harness.wait_event("notification.failed", reminder_id="rem-cl-gone-0")
        assert (failed["channel"], failed["permanent"]) == ("push", True)
        raw = await redis.hget(Keys(f"{namespace}:bs:notifier").client(CLINIC, "cl-gone"), "data")
        assert raw is not None
        assert json.loads(raw)["contacts"]["push"] is None

        # The EHR hears the failure with its reason; ops see the revocation with opt-outs.
        await wait_for(lambda: bool(tracker.listener.of("reminder.failed")))
        (told,) = tracker.listener.of("reminder.failed")
        assert (told["channel"], told["reason"]) == ("push", "push subscription gone (410)")
        ops = {"Authorization": f"Bearer {OPS}"}

        async def counted() -> bool:
            overview = (await tracker.http.get("/api/overview", headers=ops)).json()
            return bool(overview["opt_outs"] == {"push": 1})

        await wait_for(counted)
        # The client's timeline says the channel stopped, and why (no endpoint).
        url = f"/api/console/clients/cl-gone?clinic={CLINIC}"

        async def on_timeline() -> list[dict[str, Any]]:
            rows = (await tracker.http.get(url, headers=ops)).json()["timeline"]
            return [r for r in rows if r["kind"] == "channel_off"]

        async def stopped_shown() -> bool:
            return bool(await on_timeline())

        await wait_for(stopped_shown)
        (stopped,) = await on_timeline()
        assert (stopped["channel"], stopped["reason"]) == ("push", "push_revoked")
        assert stopped["words"] == (
            "Channel stopped: the push subscription ended (the browser or device dropped it)"
        )

        # The next reminder has no push channel left: nothing is posted to the push service.
        await harness.publish(reminder("cl-gone", 1))
        skipped = await harness.wait_event("notification.suppressed", reminder_id="rem-cl-gone-1")
        assert skipped["reason"] == "no_contact"
        assert len(harness.events("push.revoked")) == 1
