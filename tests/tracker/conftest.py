"""A tracker running in-process on a unique namespace, and an "EHR" listening to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from fastapi import FastAPI
from pydantic import SecretStr

from shared.broker import publish_event
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ClinicPolicy,
    ClinicPolicyChanged,
    DeliveryStatusChanged,
    Event,
    Messaging,
    NotificationDispatched,
    Schedule,
    new_envelope,
)
from shared.contracts.policy import Escalation
from shared.topology import TRACKER_QUEUE, Exchange, Topology
from tests.support.infra import wait_for
from tests.support.services import running
from tracker.app import create_app
from tracker.runtime import Runtime
from tracker.settings import TrackerSettings

OPS = "ops-token-for-tests"
CLINIC_TOKENS = {"token-clinic-a": "clinic-a", "token-clinic-b": "clinic-b"}
SECRET = "link-secret-for-tests"


@dataclass
class Listener:
    """Collects what the tracker publishes, as the EHR (outbound) and the services see it."""

    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def of(self, event_type: str, exchange: str = "outbound") -> list[dict[str, Any]]:
        return [b for x, t, b in self.messages if t == event_type and x == exchange]

    async def on_message(self, exchange: str, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.messages.append((exchange, message.routing_key or "", json.loads(message.body)))


@dataclass
class Tracker:
    app: FastAPI
    runtime: Runtime
    topology: Topology
    channel: AbstractChannel
    listener: Listener
    http: httpx.AsyncClient

    async def publish(self, event: Event) -> None:
        """Publish as its producer would (EHR to inbound, services to internal)."""
        await publish_event(self.channel, self.topology, event)

    async def publish_raw(self, body: bytes, routing_key: str, exchange: Exchange) -> None:
        x = await self.channel.get_exchange(self.topology.exchange(exchange))
        await x.publish(aio_pika.Message(body), routing_key=routing_key)


def settings_for(namespace: str, **extra: Any) -> TrackerSettings:
    return TrackerSettings(
        namespace=namespace,
        ops_token=SecretStr(OPS),
        clinic_tokens=CLINIC_TOKENS,
        **{
            "link_secrets": (SecretStr(SECRET),),
            "escalation_interval_seconds": 3600,
            "log_format": "console",
            **extra,
        },
    )


@pytest.fixture
async def tracker(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> AsyncIterator[Tracker]:
    async with started(settings_for(topology.namespace), topology, rabbit_channel) as running_:
        yield running_


@asynccontextmanager
async def started(
    settings: TrackerSettings, topology: Topology, rabbit_channel: AbstractChannel
) -> AsyncIterator[Tracker]:
    """A tracker with these settings, and a listener bound before anything is published."""
    app = create_app(settings)
    listener = Listener()
    async with running(app):
        for exchange, keys in (
            (Exchange.OUTBOUND, ["#"]),
            (Exchange.INTERNAL, ["completion.recorded", "reminder.due"]),
        ):
            queue = await rabbit_channel.declare_queue(exclusive=True, auto_delete=True)
            for key in keys:
                await queue.bind(topology.exchange(exchange), routing_key=key)
            name = "outbound" if exchange is Exchange.OUTBOUND else "internal"
            await queue.consume(partial(listener.on_message, name))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracker") as http:
            yield Tracker(app, app.state.runtime, topology, rabbit_channel, listener, http)


def today_utc() -> date:
    return datetime.now(UTC).date()


def assigned(
    assignment_id: str = "asg-1",
    *,
    clinic: str = "clinic-a",
    client: str = "client-1",
    days_ago: int = 7,
    policy_id: str = "pol-1",
) -> ActivityAssigned:
    return ActivityAssigned(
        **new_envelope(),
        clinic_id=clinic,
        assignment_id=assignment_id,
        client_ref=client,
        therapist_ref="therapist-1",
        activity=Activity(kind="mood_log", title="Mood log"),
        schedule=Schedule(
            timezone="UTC", start=today_utc() - timedelta(days=days_ago), frequency="daily"
        ),
        policy_id=policy_id,
    )


def policy_changed(
    clinic: str = "clinic-a", *, after_missed: int | None = 3, encouragement: bool = False
) -> ClinicPolicyChanged:
    return ClinicPolicyChanged(
        **new_envelope(),
        clinic_id=clinic,
        policy=ClinicPolicy(
            policy_id="pol-1",
            version=1,
            escalation=Escalation(after_missed=after_missed),
            messaging=Messaging(clinic_name="Clinic A", encouragement=encouragement),
        ),
    )


def status(reminder_id: str, value: str, clinic: str = "clinic-a") -> DeliveryStatusChanged:
    return DeliveryStatusChanged(
        clinic_id=clinic,
        provider="twilio",
        provider_message_id=f"SM-{reminder_id}",
        reminder_id=reminder_id,
        channel="sms",
        status=value,
        reported_at=datetime.now(UTC),
    )


def dispatched(reminder_id: str, clinic: str = "clinic-a", **extra: Any) -> NotificationDispatched:
    """The notifier's send, naming what the outcome announcement needs (day, purpose...)."""
    return NotificationDispatched.model_validate(
        {
            "clinic_id": clinic,
            "reminder_id": reminder_id,
            "client_ref": "client-1",
            "assignment_id": "asg-1",
            "occurrence_date": today_utc(),
            "purpose": "reminder",
            "channel": "sms",
            "provider": "twilio",
            "provider_message_id": f"SM-{reminder_id}",
            **extra,
        }
    )


async def settled(tracker: Tracker, seconds: float = 0.5) -> None:
    """Let the consumer drain the queue, then a little longer for stray duplicates."""
    channel = tracker.channel
    name = tracker.topology.queue(TRACKER_QUEUE)

    async def empty() -> bool:
        q = await channel.declare_queue(name, passive=True)
        return q.declaration_result.message_count == 0

    await wait_for(empty, timeout=15)
    await asyncio.sleep(seconds)
