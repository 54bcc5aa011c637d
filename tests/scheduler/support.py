"""Events and broker helpers for the scheduler's integration tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.broker import publish_event
from shared.contracts import (
    ActivityAssigned,
    Caps,
    ClientPlan,
    ClinicPolicy,
    ClinicPolicyChanged,
    Event,
    QuietHours,
    ReminderRule,
    new_envelope,
)
from shared.contracts.ehr import Activity, Schedule
from shared.contracts.policy import Messaging
from shared.contracts.vocabulary import ActivityKind, Frequency
from shared.topology import Exchange, Topology

CLINIC = "clinic-1"
POLICY = "pol-1"


def policy_event(version: int = 1, spread_minutes: int = 0) -> ClinicPolicyChanged:
    # Quiet hours far from now, so test reminders are never moved.
    hour = (datetime.now(UTC).hour + 6) % 24
    return ClinicPolicyChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        policy=ClinicPolicy(
            policy_id=POLICY,
            version=version,
            quiet_hours=QuietHours(start=time(hour, 0), end=time((hour + 1) % 24, 0)),
            caps=Caps(per_day=24, per_week=100),
            default_rule=ReminderRule(spread_minutes=spread_minutes),
            messaging=Messaging(clinic_name="Test clinic"),
        ),
    )


def assignment_at(n: int, at: datetime, *, client: str | None = None) -> ActivityAssigned:
    """A daily activity whose reminder is at ``at`` (UTC, to the second) today."""
    local = at.astimezone(UTC)
    return ActivityAssigned(
        **new_envelope(),
        clinic_id=CLINIC,
        assignment_id=f"asg-{n}",
        client_ref=client or f"cl-{n}",
        therapist_ref="th-1",
        activity=Activity(kind=ActivityKind.MOOD_LOG, title="Mood log"),
        schedule=Schedule(
            timezone="UTC",
            start=local.date(),
            frequency=Frequency.DAILY,
            times_of_day=(local.time().replace(microsecond=0),),
        ),
        policy_id=POLICY,
    )


def ignore(_key: str, _plan: ClientPlan) -> None:
    """An ``announce`` for a Replanner run without a broker."""


def soon(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def publish_raw(
    channel: AbstractChannel, topology: Topology, routing_key: str, body: bytes
) -> None:
    exchange = await channel.get_exchange(topology.exchange(Exchange.INBOUND))
    await exchange.publish(
        aio_pika.Message(body, content_type="application/json"), routing_key=routing_key
    )


async def publish(channel: AbstractChannel, topology: Topology, event: Event) -> None:
    await publish_event(channel, topology, event)


class DueCollector:
    """Every event of one type published on the internal exchange (reminder.due unless
    told otherwise), in arrival order."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def ids(self) -> list[str]:
        return [str(r["reminder_id"]) for r in self.received]

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.received.append(json.loads(message.body))


@asynccontextmanager
async def collect_due(
    channel: AbstractChannel, topology: Topology, routing_key: str = "reminder.due"
) -> AsyncIterator[DueCollector]:
    exchange = await channel.declare_exchange(
        topology.exchange(Exchange.INTERNAL), aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=routing_key)
    collector = DueCollector()
    tag = await queue.consume(collector.on_message)
    try:
        yield collector
    finally:
        await queue.cancel(tag)
