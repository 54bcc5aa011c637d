"""Keyword replies through Vonage, on the running notifier (HTTP, real RabbitMQ and Redis,
the Vonage-shaped API over HTTP): the reply to HELP, DONE, STOP and START goes out as a
Messages API send from the number the client wrote to, in the client's language, once per
inbound message however often Vonage posts it; a reply Vonage refused is sent when it
posts again; a reply's own statuses announce nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from notifier.app import create_app
from shared.messages.replies import replies
from shared.topology import PUBLISH_TO, Topology
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.vonage_api import FakeVonage, VonageSms
from tests.fakes.webpush_endpoint import FakePushService
from tests.notifier.conftest import Harness, notifier_settings, reminder
from tests.support.infra import wait_for
from tests.support.services import free_port

pytestmark = pytest.mark.integration

# Two clinics that chose the same client ref for different people.
CLINIC = "clinic-7c1e2a90-lakeside-community-mental-health-partnership"
OTHER_CLINIC = "clinic-b4d2f6e1-northgate-family-therapy-and-wellbeing-centre"
CLIENT = "client-3b8f1d6c-5a2e-4c9b-9f7d-2e6a1c0b8d41"
PHONE, OTHER_PHONE = "+4915112345678", "+4915187654321"
CLINIC_NUMBER = "13125550142"  # the Vonage number the client writes to
DEFAULT_NUMBER = "+15005550007"  # the notifier's own Vonage sender


@pytest.fixture
async def vonage() -> AsyncIterator[FakeVonage]:
    fake = FakeVonage()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def harness(
    namespace: str,
    topology: Topology,
    redis: Any,
    rabbit_channel: AbstractChannel,
    peers: tuple[FakeTwilio, FakeSmtp, FakePushService],
    vonage: FakeVonage,
) -> AsyncIterator[Harness]:
    """The notifier with Vonage as its SMS provider, served over HTTP, and an observer of
    what it publishes (conftest's harness, with Vonage instead of Twilio)."""
    twilio, smtp, push = peers
    port = free_port()
    settings = notifier_settings(
        namespace,
        port,
        twilio,
        smtp,
        sms_provider="vonage",
        vonage_base_url=vonage.base_url,
        vonage_api_key=vonage.api_key,
        vonage_api_secret=vonage.api_secret,
        vonage_signature_secret=vonage.signature_secret,
        vonage_from_number=DEFAULT_NUMBER,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout=20)
    h = Harness(settings, topology, rabbit_channel, twilio, smtp, push)
    observer = await rabbit_channel.declare_queue(exclusive=True, auto_delete=True)
    for name in {topology.exchange(x) for xs in PUBLISH_TO.values() for x in xs}:
        await observer.bind(name, routing_key="#")

    async def collect(message: AbstractIncomingMessage) -> None:
        h.seen.append(json.loads(message.body))
        await message.ack()

    await observer.consume(collect)
    try:
        yield h
    finally:
        server.should_exit = True
        await task


def inbound(text: str, *, from_: str = PHONE, message_uuid: str | None = None) -> dict[str, Any]:
    """An inbound SMS as Vonage's Messages API posts it (numbers without the '+')."""
    return {
        "channel": "sms",
        "message_uuid": message_uuid or str(uuid.uuid4()),
        "to": CLINIC_NUMBER,
        "from": from_.lstrip("+"),
        "text": text,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


async def post(harness: Harness, vonage: FakeVonage, payload: dict[str, Any]) -> int:
    return await vonage.post_signed(f"{harness.url}/webhooks/vonage/inbound", payload)


def replies_sent(vonage: FakeVonage) -> list[VonageSms]:
    return [m for m in vonage.messages if "reply=1" in m.webhook_url]


async def onboard(harness: Harness, language: str | None = None) -> None:
    """The client at two clinics that share the ref, each with its own number."""
    await harness.clinic(CLINIC, clinic_name="Lakeside Community Mental Health")
    await harness.clinic(OTHER_CLINIC, clinic_name="Northgate Family Therapy")
    await harness.client(CLIENT, clinic_id=CLINIC, language=language)
    await harness.client(CLIENT, clinic_id=OTHER_CLINIC, contacts={"sms": OTHER_PHONE})
    await asyncio.sleep(0.3)  # the preferences are stored (the numbers' owners known)


async def test_done_is_answered_from_the_number_written_to_once_per_inbound_message(
    harness: Harness, vonage: FakeVonage
) -> None:
    await onboard(harness, language="es-MX")
    await harness.publish(reminder(CLIENT, clinic_id=CLINIC, reminder_id=f"rem-{uuid.uuid4()}"))
    await harness.wait_event("notification.dispatched", clinic_id=CLINIC)
    (sent,) = vonage.messages  # the reminder, through Vonage
    message = inbound("Listo")
    assert await post(harness, vonage, message) == 204
    done = await harness.wait_event("completion.reported", client_ref=CLIENT)
    assert done["clinic_id"] == CLINIC
    (reply,) = replies_sent(vonage)
    assert reply.text == replies("es").done  # the client's language, not the clinic's
    assert reply.to == PHONE[1:]
    assert reply.from_ == CLINIC_NUMBER  # where the client wrote, not the default sender
    assert reply.client_ref == message["message_uuid"]
    assert sent.from_ == DEFAULT_NUMBER[1:]
    # Vonage posts the same message again (our 204 was lost): no second reply.
    assert await post(harness, vonage, message) == 204
    assert await post(harness, vonage, message) == 204
    await asyncio.sleep(0.3)
    assert len(replies_sent(vonage)) == 1
    # A new message is a new reply.
    assert await post(harness, vonage, inbound("ayuda")) == 204
    await wait_for(lambda: len(replies_sent(vonage)) == 2)
    assert replies_sent(vonage)[1].text.startswith("Reply STOP to stop messages.")  # the clinic's


async def test_stop_and_start_are_confirmed_because_vonage_confirms_none(
    harness: Harness, vonage: FakeVonage
) -> None:
    await onboard(harness)
    assert await post(harness, vonage, inbound("STOP")) == 204
    consent = await harness.wait_event("consent.changed", clinic_id=CLINIC)
    assert consent["opted_out"] is True
    await wait_for(lambda: len(replies_sent(vonage)) == 1)
    assert replies_sent(vonage)[0].text == replies("en").stopped
    assert await post(harness, vonage, inbound("Voltar")) == 204  # pt, no language known
    await wait_for(lambda: len(replies_sent(vonage)) == 2)
    assert replies_sent(vonage)[1].text == replies("pt").started
    assert harness.events("consent.changed", clinic_id=CLINIC)[-1]["opted_out"] is False
    # The other clinic's client has another number: untouched.
    assert harness.events("consent.changed", clinic_id=OTHER_CLINIC) == []
    # Words that are no keyword change nothing and get no answer.
    assert await post(harness, vonage, inbound("thanks, see you on Tuesday")) == 204
    await asyncio.sleep(0.3)
    assert len(replies_sent(vonage)) == 2


async def test_a_reply_vonage_refused_is_sent_when_it_posts_the_message_again(
    harness: Harness, vonage: FakeVonage
) -> None:
    await onboard(harness)
    message = inbound("HELP")
    vonage.fail_for(60)
    assert await post(harness, vonage, message) == 204  # the keyword's effect stands
    assert vonage.failed == 1
    assert replies_sent(vonage) == []
    vonage.fail_until = 0
    assert await post(harness, vonage, message) == 204
    (reply,) = replies_sent(vonage)
    assert reply.text == "Reply STOP to stop messages. Questions? Call 555-0100."


async def test_a_reply_s_own_statuses_announce_nothing(
    harness: Harness, vonage: FakeVonage
) -> None:
    await onboard(harness)
    assert await post(harness, vonage, inbound("done")) == 204
    await wait_for(lambda: len(replies_sent(vonage)) == 1)
    (reply,) = replies_sent(vonage)
    assert reply.text == replies("en").done_unknown  # no reminder went to the number yet
    assert reply.webhook_url.startswith(f"{harness.url}/webhooks/vonage/status?")
    assert await vonage.callback(reply, "delivered") == 204
    assert await vonage.callback(reply, "delivered", secret="x" * 40) == 403  # still signed
    await asyncio.sleep(0.3)
    assert harness.events("delivery.status.changed") == []
    assert harness.events("completion.reported") == []
