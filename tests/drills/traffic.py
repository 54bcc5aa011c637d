"""What the failure drills share: an EHR-side publisher that outlives a broker restart,
clients with exactly one reminder each, the notifier wired to the fake Twilio, and the
counts every drill reports."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from redis.asyncio import Redis

from scheduler.keys import Keys
from shared.broker import delete_topology, event_message
from shared.contracts import (
    ActivityAssigned,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    Event,
    new_envelope,
)
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, PUBLISH_TO, SCHEDULER_QUEUE, Topology
from tests.fakes.twilio_api import FakeTwilio
from tests.scheduler.support import CLINIC, assignment_at, policy_event
from tests.support.infra import delete_redis_namespace, unique_namespace, wait_for
from tests.support.system import ServiceProc

SHARDS = 16  # the scheduler's default shard count; the drills do not change it


def phone(n: int) -> str:
    return f"+1555{n:07d}"


def preferences(n: int) -> ClientPreferencesChanged:
    """Client ``cl-<n>``: SMS only, with consent; quiet hours come from the policy."""
    return ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=f"cl-{n}",
        version=1,
        timezone="UTC",
        channels=(Channel.SMS,),
        contacts=ContactPoints(sms=phone(n)),
        consent=ChannelConsent(sms=True),
    )


def one_reminder(n: int, at: datetime) -> ActivityAssigned:
    """A daily activity that starts and ends on ``at``'s day: one reminder, at ``at``."""
    event = assignment_at(n, at)
    schedule = event.schedule.model_copy(update={"end": event.schedule.start})
    return event.model_copy(update={"schedule": schedule})


class Ehr:
    """Publishes as an EHR should: persistent and confirmed, and retried until confirmed,
    so a broker restart delays its events but never drops them."""

    def __init__(self, amqp_url: str, topology: Topology, concurrency: int = 200) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.published = 0
        self.retries = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._exchanges: dict[str, AbstractExchange] = {}
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None

    @property
    def channel(self) -> AbstractRobustChannel:
        assert self._channel is not None, "use Ehr as an async context manager"
        return self._channel

    async def __aenter__(self) -> Ehr:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        self._channel = await self._connection.channel()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, event: Event, deadline_s: float = 120) -> None:
        tag = event.type_tag()
        message = event_message(event)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline_s
        async with self._slots:
            for exchange in PUBLISH_TO[tag]:
                while True:
                    try:
                        target = await self._exchange(self.topology.exchange(exchange))
                        await target.publish(message, routing_key=tag, timeout=10)
                        break
                    except Exception:  # not confirmed (broker away): publish it again
                        self.retries += 1
                        if loop.time() > give_up:
                            raise
                        await asyncio.sleep(0.5)
            self.published += 1

    async def publish_all(self, events: Iterable[Event]) -> None:
        await asyncio.gather(*(self.publish(e) for e in events))

    async def _exchange(self, name: str) -> AbstractExchange:
        if name not in self._exchanges:
            self._exchanges[name] = await self.channel.get_exchange(name, ensure=False)
        return self._exchanges[name]


async def onboard(ehr: Ehr, clients: Iterable[int]) -> float:
    """The clinic policy and each client's preferences, until both services stored them;
    returns the seconds it took (the drills size their lead times from it)."""
    started = asyncio.get_running_loop().time()
    await ehr.publish(policy_event(spread_minutes=0))
    await ehr.publish_all(preferences(n) for n in clients)
    queues = [ehr.topology.queue(SCHEDULER_QUEUE), ehr.topology.queue(NOTIFIER_DIRECTORY_QUEUE)]
    await wait_for(lambda: queues_empty(ehr.channel, queues), timeout=900, interval=1)
    return asyncio.get_running_loop().time() - started


async def assign(ehr: Ehr, redis_url: str, clients: Iterable[int], at: datetime) -> None:
    """One reminder per client at ``at``; returns when the scheduler (keeping its timers in
    ``redis_url``) has planned them all. Nothing else may fire meanwhile."""
    numbers = list(clients)
    before = await pending_timers(redis_url, ehr.topology)
    await ehr.publish_all(one_reminder(n, at) for n in numbers)
    queue = ehr.topology.queue(SCHEDULER_QUEUE)

    async def planned() -> bool:
        pending = await pending_timers(redis_url, ehr.topology)
        return pending >= before + len(numbers) and await queues_empty(ehr.channel, [queue])

    await wait_for(planned, timeout=900, interval=1)


@asynccontextmanager
async def drill_topology(prefix: str, amqp_url: str, redis_url: str) -> AsyncIterator[Topology]:
    """A unique namespace; its exchanges, queues and Redis keys are removed at the end."""
    topology = Topology(namespace=unique_namespace(prefix))
    try:
        yield topology
    finally:
        await delete_topology(amqp_url, topology)
        await delete_redis_namespace(redis_url, topology.namespace)


@asynccontextmanager
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    twilio = FakeTwilio()
    await twilio.start()
    try:
        yield twilio
    finally:
        await twilio.stop()


def notifier_env(twilio: FakeTwilio, **extra: str) -> dict[str, str]:
    """The notifier sending SMS to the fake Twilio, with no rate limit to speak of."""
    return {
        "NOTIFIER_SMS_PROVIDER": "twilio",
        "NOTIFIER_TWILIO_BASE_URL": twilio.base_url,
        "NOTIFIER_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "NOTIFIER_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "NOTIFIER_SMS_RATE_PER_SECOND": "10000",
        **extra,
    }


def provider_counts(twilio: FakeTwilio, clients: Iterable[int]) -> dict[str, int]:
    """Reminders at the provider by recipient (one reminder per client, so per reminder)."""
    per_number = Counter(m.to for m in twilio.messages)
    expected = {phone(n) for n in clients}
    return {
        "provider_messages": len(twilio.messages),
        "delivered": len(expected & per_number.keys()),
        "provider_duplicates": sum(c - 1 for c in per_number.values()),
        "lost": len(expected - per_number.keys()),
        "unexpected": len(per_number.keys() - expected),
    }


def delivered(twilio: FakeTwilio) -> int:
    return len({m.to for m in twilio.messages})


async def pending_timers(redis_url: str, topology: Topology) -> int:
    """Timers waiting in the scheduler's shards (claimed ones included)."""
    keys = Keys(f"{topology.namespace}:bs:scheduler", SHARDS)
    redis = Redis.from_url(redis_url)
    try:
        return sum([await redis.zcard(shard.due) for shard in keys.shards()])
    finally:
        await redis.aclose()


async def queue_depth(channel: AbstractRobustChannel, name: str) -> int:
    # Not ``robust``: a robust channel answers a passive declare of a queue it declared
    # robustly before from its cache, with the message count of that first time.
    declared = await channel.declare_queue(name, passive=True, robust=False)
    return int(declared.declaration_result.message_count or 0)


async def queues_empty(channel: AbstractRobustChannel, names: Iterable[str]) -> bool:
    return all([await queue_depth(channel, name) == 0 for name in names])


async def metric(http: httpx.AsyncClient, proc: ServiceProc, name: str) -> float:
    """One unlabelled counter or gauge from a service's /metrics."""
    text = (await http.get(f"{proc.base_url}/metrics", timeout=2)).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def log_lines(log_path: Path, event: str) -> int:
    """How many of a service's JSON log lines carry this event."""
    return sum(1 for record in log_records(log_path) if record.get("event") == event)


def errors_logged(procs: dict[str, ServiceProc]) -> dict[str, int]:
    """Error-level log lines per service (unexpected exceptions, failed loops)."""
    return {
        name: sum(1 for record in log_records(p.log_path) if record.get("level") == "error")
        for name, p in procs.items()
    }


def log_records(path: Path) -> list[dict[str, Any]]:
    """A service's JSON log lines, parsed (matching their text would depend on how the
    serialiser spaces them: a compact serialiser once made every count here zero)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line a crashing interpreter wrote, not ours
        if isinstance(record, dict):
            records.append(record)
    return records


def pids(procs: dict[str, ServiceProc]) -> dict[str, Any]:
    return {name: p.proc.pid if p.proc else None for name, p in procs.items()}
