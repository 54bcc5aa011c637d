"""The notifier running in-process (HTTP on a free port, real RabbitMQ and Redis), with
real protocol peers for Twilio, SMTP and Web Push, and an observer of what it publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import aio_pika
import pytest
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from py_vapid import Vapid01
from py_vapid.utils import b64urlencode

from notifier.app import build, create_app
from notifier.handlers import apply_directory_event
from notifier.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from notifier.runtime import Runtime
from notifier.settings import NotifierSettings
from shared.broker import publish_event
from shared.contracts import (
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Event,
    QuietHours,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.service import create_http_app
from shared.topology import NOTIFIER_REMINDERS_QUEUE, PUBLISH_TO, Topology
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.webpush_endpoint import FakePushService
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.services import free_port, running

CLINIC = "clinic-n1"
PHONE = "+4915112345678"
EMAIL = "client@example.org"
TITLE = "Exposure step: bus ride"


def vapid_private_key() -> str:
    vapid = Vapid01()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return str(b64urlencode(raw))


def away_from_now_quiet_hours() -> QuietHours:
    """A one-hour window two hours from now (UTC), so 'now' is never quiet."""
    now = datetime.now(UTC)
    start = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    return QuietHours(start=start, end=end)


@dataclass
class Harness:
    settings: NotifierSettings
    topology: Topology
    channel: AbstractChannel
    twilio: FakeTwilio
    smtp: FakeSmtp
    push: FakePushService
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.settings.webhook_base_url

    async def publish(self, event: Event) -> None:
        await publish_event(self.channel, self.topology, event)

    async def publish_raw(self, routing_key: str, body: bytes) -> None:
        name = self.topology.exchange(PUBLISH_TO[routing_key][0])
        exchange = await self.channel.get_exchange(name)
        await exchange.publish(aio_pika.Message(body, content_type="application/json"), routing_key)

    def events(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.seen
            if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_event(self, type_: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        await wait_for(lambda: bool(self.events(type_, **match)), timeout=timeout)
        return self.events(type_, **match)[0]

    async def dead_letters(self, base: str = NOTIFIER_REMINDERS_QUEUE) -> list[Any]:
        queue = await self.channel.get_queue(self.topology.dlq(base), ensure=False)
        out = []
        while (msg := await queue.get(no_ack=True, fail=False)) is not None:
            out.append(msg)
        return out

    async def client(self, client_ref: str, **kw: Any) -> ClientPreferencesChanged:
        data: dict[str, Any] = {
            **new_envelope(),
            "clinic_id": CLINIC,
            "client_ref": client_ref,
            "version": 1,
            "timezone": "UTC",
            "contacts": ContactPoints(sms=PHONE, email=EMAIL),
            "consent": ChannelConsent(sms=True, email=True),
            "quiet_hours": away_from_now_quiet_hours(),
        }
        data.update(kw)
        prefs = ClientPreferencesChanged.model_validate(data)
        await self.publish(prefs)
        return prefs

    async def clinic(self, clinic_id: str = CLINIC, **messaging: Any) -> None:
        policy = example_policy()
        policy = policy.model_copy(
            update={
                "quiet_hours": away_from_now_quiet_hours(),
                "messaging": policy.messaging.model_copy(update=messaging),
            }
        )
        await self.publish(
            ClinicPolicyChanged(**new_envelope(), clinic_id=clinic_id, policy=policy)
        )


def reminder(client_ref: str, n: int = 0, **kw: Any) -> ReminderDue:
    data: dict[str, Any] = {
        "clinic_id": CLINIC,
        "reminder_id": f"rem-{client_ref}-{n}",
        "assignment_id": f"asg-{client_ref}",
        "assignment_version": 1,
        "client_ref": client_ref,
        "occurrence_date": date.today(),
        "purpose": ReminderPurpose.REMINDER,
        "planned_for": datetime.now(UTC),
        "activity_kind": ActivityKind.EXPOSURE,
        "activity_title": TITLE,
        "policy_id": example_policy().policy_id,
    }
    data.update(kw)
    return ReminderDue.model_validate(data)


@pytest.fixture
async def peers() -> AsyncIterator[tuple[FakeTwilio, FakeSmtp, FakePushService]]:
    twilio, push = FakeTwilio(), FakePushService()
    smtp = FakeSmtp(free_port())
    await twilio.start()
    await push.start()
    smtp.start()
    try:
        yield twilio, smtp, push
    finally:
        smtp.stop()
        await push.stop()
        await twilio.stop()


def notifier_settings(
    namespace: str, port: int, twilio: FakeTwilio, smtp: FakeSmtp, **kw: Any
) -> NotifierSettings:
    values: dict[str, Any] = {
        "namespace": namespace,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "http_port": port,
        "webhook_base_url": f"http://127.0.0.1:{port}",
        "sms_provider": "twilio",
        "email_provider": "smtp",
        "push_provider": "webpush",
        "twilio_base_url": twilio.base_url,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "smtp_port": smtp.port,
        "vapid_private_key": vapid_private_key(),
        "sms_rate_per_second": 50,
        "provider_timeout_seconds": 1.0,
        "retry_max_attempts": 6,
    }
    values.update(kw)
    return NotifierSettings(**values)


@pytest.fixture
async def harness(
    namespace: str,
    topology: Topology,
    redis: Any,
    rabbit_channel: AbstractChannel,
    peers: tuple[FakeTwilio, FakeSmtp, FakePushService],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Harness]:
    twilio, smtp, _ = peers
    port = free_port()
    extra = getattr(request, "param", {})
    settings = notifier_settings(namespace, port, twilio, smtp, **extra)
    async with serving(settings, topology, rabbit_channel, peers) as h:
        yield h


@asynccontextmanager
async def serving(
    settings: NotifierSettings,
    topology: Topology,
    rabbit_channel: AbstractChannel,
    peers: tuple[FakeTwilio, FakeSmtp, FakePushService],
) -> AsyncIterator[Harness]:
    """The notifier app with ``settings`` served in-process, observed until it stops."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.http_port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout=20)
    h = Harness(settings, topology, rabbit_channel, *peers)
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


@dataclass
class Recording:
    name: str
    fail: ProviderError | None = None
    sent: list[OutboundMessage] = field(default_factory=list)
    # When set, a send waits for it (and sets ``calling`` first): a provider mid-call.
    gate: asyncio.Event | None = None
    calling: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def rate_key(self) -> str:
        return f"rec:{self.name}"

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.gate is not None:
            self.calling.set()
            await self.gate.wait()
        if self.fail:
            raise self.fail
        self.sent.append(message)
        return SendResult(f"{self.name}-{len(self.sent)}")

    async def aclose(self) -> None:
        return None


@dataclass
class Rig:
    runtime: Runtime
    sms: Recording
    email: Recording
    published: list[Event]

    async def prefs(self, **kw: Any) -> ClientPreferencesChanged:
        data: dict[str, Any] = {
            **new_envelope(),
            "clinic_id": CLINIC,
            "client_ref": "cl-d",
            "version": 1,
            "timezone": "UTC",
            "contacts": ContactPoints(sms=PHONE, email=EMAIL),
            "consent": ChannelConsent(sms=True, email=True),
        }
        data.update(kw)
        prefs = ClientPreferencesChanged.model_validate(data)
        await apply_directory_event(self.runtime, prefs)
        return prefs


@pytest.fixture
async def rig(namespace: str, topology: Any, redis: Any) -> AsyncIterator[Rig]:
    sms, email = Recording("sms"), Recording("email")
    providers: dict[Channel, Provider] = {
        Channel.SMS: sms,
        Channel.EMAIL: email,
        Channel.PUSH: Recording("push"),
    }
    settings = NotifierSettings(
        namespace=namespace,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        circuit_failure_threshold=2,
        sms_rate_per_second=1000,
        rate_wait_max_seconds=0.2,
    )
    service, runtime = build(settings, providers)
    async with running(create_http_app(service)):
        published: list[Event] = []

        async def record(event: Event) -> None:
            published.append(event)

        runtime.dispatcher.publish = record
        yield Rig(runtime, sms, email, published)


__all__ = [
    "CLINIC",
    "EMAIL",
    "PHONE",
    "TITLE",
    "Channel",
    "Harness",
    "Recording",
    "Rig",
    "reminder",
    "time",
]
