"""SMS failover through the dispatcher (real Redis, the Twilio- and Vonage-shaped local
APIs over HTTP): an outage of the first provider sends through the second in the same
handling, never twice; an ambiguous timeout does not fail over; a recipient's permanent
failure still moves to the next channel; the clinic's order and sender are honoured."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.app import build
from notifier.handlers import apply_directory_event
from notifier.providers.base import ProviderError
from notifier.providers.registry import build_providers
from notifier.runtime import Runtime
from notifier.settings import NotifierSettings
from shared.contracts import (
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    Event,
    ReminderDue,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.contracts.policy import QuietHours, Senders
from shared.errors import PermanentError, TransientError
from shared.service import create_http_app
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.vonage_api import FakeVonage
from tests.notifier.conftest import Recording, reminder
from tests.support.infra import AMQP_URL, REDIS_URL
from tests.support.services import running

pytestmark = pytest.mark.integration

CLINIC = "clinic-3f9d0c1e-northside-community-counselling"
PHONE, VONAGE_PHONE = "+4915112345678", "4915112345678"
CLINIC_NUMBER = "+13125550100"


@dataclass
class Failover:
    runtime: Runtime
    twilio: FakeTwilio
    vonage: FakeVonage
    email: Recording
    published: list[Event]

    async def client(self, client_ref: str) -> None:
        prefs = ClientPreferencesChanged(
            **new_envelope(),
            clinic_id=CLINIC,
            client_ref=client_ref,
            version=1,
            timezone="UTC",
            channels=(Channel.SMS, Channel.EMAIL),
            contacts=ContactPoints(sms=PHONE, email="client@example.org"),
            consent=ChannelConsent(sms=True, email=True),
        )
        await apply_directory_event(self.runtime, prefs)

    async def senders(self, senders: Senders) -> None:
        policy = example_policy()
        messaging = policy.messaging.model_copy(update={"senders": senders})
        # Quiet hours half a day away (the client is in UTC): the example's 21:00-08:00
        # would hold these sends back whenever the suite runs in the evening.
        now = datetime.now(UTC)
        quiet = QuietHours(
            start=(now + timedelta(hours=10)).time().replace(second=0, microsecond=0),
            end=(now + timedelta(hours=12)).time().replace(second=0, microsecond=0),
        )
        policy = policy.model_copy(update={"messaging": messaging, "quiet_hours": quiet})
        assert await self.runtime.directory.save_policy(CLINIC, policy)

    def due(self, client_ref: str) -> ReminderDue:
        return reminder(client_ref, clinic_id=CLINIC, reminder_id=f"rem-{uuid.uuid4()}")

    def providers_of(self, kind: str) -> list[str]:
        return [getattr(e, "provider", "") for e in self.published if e.type_tag() == kind]


@pytest.fixture
async def failover(
    namespace: str, topology: Any, redis: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Failover]:
    twilio, vonage = FakeTwilio(), FakeVonage()
    await twilio.start()
    await vonage.start()
    values: dict[str, Any] = {
        "namespace": namespace,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "sms_provider": "twilio",
        "sms_failover_providers": ("vonage",),
        "twilio_base_url": twilio.base_url,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "vonage_base_url": vonage.base_url,
        "vonage_api_key": vonage.api_key,
        "vonage_api_secret": vonage.api_secret,
        "webhook_base_url": "https://notify.northside-counselling.example",
        "sms_rate_per_second": 1000,
        "provider_timeout_seconds": 1.0,
        "circuit_failure_threshold": 2,
        **getattr(request, "param", {}),
    }
    settings = NotifierSettings(**values)
    email = Recording("email")
    providers = {**build_providers(settings), Channel.EMAIL: (email,)}
    service, runtime = build(settings, providers)
    try:
        async with running(create_http_app(service)):
            published: list[Event] = []

            async def record(event: Event) -> None:
                published.append(event)

            runtime.dispatcher.publish = record
            yield Failover(runtime, twilio, vonage, email, published)
    finally:
        await vonage.stop()
        await twilio.stop()


async def test_a_503_sends_through_the_second_provider_at_once_and_only_once(
    failover: Failover,
) -> None:
    await failover.client("cl-1")
    due = failover.due("cl-1")
    failover.twilio.fail_next = 1
    await failover.runtime.dispatcher.handle(due)  # no retry tier: sent in this handling
    assert [m.to for m in failover.vonage.messages] == [VONAGE_PHONE]
    assert failover.twilio.messages == []
    assert failover.providers_of("notification.dispatched") == ["vonage"]
    await failover.runtime.dispatcher.handle(due)  # a redelivery: announced, not resent
    await failover.runtime.dispatcher.handle(due)
    assert len(failover.vonage.messages) == 1
    assert failover.twilio.requests == 1


@pytest.mark.parametrize("failover", [{"circuit_open_seconds": 1}], indirect=True)
async def test_an_open_circuit_skips_the_first_provider_until_it_closes(
    failover: Failover,
) -> None:
    clients = [f"cl-2-{n}" for n in range(6)]  # one each: the caps count per client
    for client in clients:
        await failover.client(client)
    failover.twilio.fail_for(60)
    for client in clients[:2]:  # two 503s open twilio's circuit
        await failover.runtime.dispatcher.handle(failover.due(client))
    asked = failover.twilio.requests
    for client in clients[2:5]:
        await failover.runtime.dispatcher.handle(failover.due(client))
    assert failover.twilio.requests == asked  # refused by the circuit, not asked
    assert len(failover.vonage.messages) == 5
    breaker = failover.runtime.dispatcher.breaker
    assert await breaker.open_for_seconds("twilio") > 0
    failover.twilio.fail_until = 0  # twilio recovers; its circuit closes a second later
    await asyncio.sleep(1.1)
    await failover.runtime.dispatcher.handle(failover.due(clients[5]))
    assert len(failover.twilio.messages) == 1
    assert len(failover.vonage.messages) == 5


async def test_an_ambiguous_timeout_is_retried_later_not_failed_over(
    failover: Failover,
) -> None:
    """Twilio may have accepted a message it did not answer in time: sending it through
    Vonage at once could make two."""
    await failover.client("cl-3")
    failover.twilio.hang_next, failover.twilio.hang_seconds = 1, 3
    with pytest.raises(TransientError, match="twilio timed out"):
        await failover.runtime.dispatcher.handle(failover.due("cl-3"))
    assert failover.vonage.requests == 0


async def test_both_providers_down_waits_in_the_retry_tiers(failover: Failover) -> None:
    await failover.client("cl-4")
    failover.twilio.fail_next = 1
    failover.vonage.fail_for(60)
    with pytest.raises(TransientError, match="vonage 503"):
        await failover.runtime.dispatcher.handle(failover.due("cl-4"))
    assert failover.email.sent == []  # an outage is no reason to change channel


@pytest.mark.parametrize("failover", [{"twilio_base_url": "http://127.0.0.1:9"}], indirect=True)
async def test_a_provider_that_takes_no_connection_is_failed_over(failover: Failover) -> None:
    await failover.client("cl-5")
    await failover.runtime.dispatcher.handle(failover.due("cl-5"))
    assert len(failover.vonage.messages) == 1


async def test_the_clinic_order_and_number_are_used_and_a_bad_number_changes_channel(
    failover: Failover,
) -> None:
    await failover.senders(Senders(sms_providers=("vonage",), sms_from=CLINIC_NUMBER))
    await failover.client("cl-6")
    await failover.runtime.dispatcher.handle(failover.due("cl-6"))
    assert [m.from_ for m in failover.vonage.messages] == [CLINIC_NUMBER[1:]]
    assert failover.twilio.requests == 0
    failover.vonage.invalid.add(VONAGE_PHONE)  # permanent for this recipient: next channel
    await failover.runtime.dispatcher.handle(failover.due("cl-6"))
    assert len(failover.email.sent) == 1
    assert failover.twilio.requests == 0  # not the next provider: the recipient is the problem


async def test_twilio_sends_as_the_clinic_messaging_service(failover: Failover) -> None:
    sid = "MG" + "4f" * 16
    await failover.senders(Senders(sms_messaging_service_sid=sid))
    await failover.client("cl-7")
    await failover.runtime.dispatcher.handle(failover.due("cl-7"))
    assert len(failover.twilio.messages) == 1
    assert failover.twilio.messages[0].from_ == ""  # Twilio picks the service's number


async def test_every_channel_failing_permanently_still_fails(failover: Failover) -> None:
    await failover.client("cl-8")
    failover.twilio.invalid.add(PHONE)
    failover.email.fail = ProviderError("recipient refused", permanent=True)
    with pytest.raises(PermanentError):
        await failover.runtime.dispatcher.handle(failover.due("cl-8"))
    assert failover.vonage.requests == 0
