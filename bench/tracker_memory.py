"""Redis memory the tracker keeps for one clinic's month. Prints one JSON object.

    uv run python bench/tracker_memory.py [--clients 300] [--days 35]

A month for a clinic of N clients: 1-2 daily activities each, a reminder and a nudge a
day per activity (every one sent: an upper bound, the scheduler skips nudges for done
days), each dispatched then delivered, undelivered, bounced or left at "sent"; ~2 % of
sends fail once before succeeding; ~70 % of occurrences are completed (EHR, link or SMS
reply); ~1 % of clients text STOP and get suppressed SMS afterwards; the escalation
sweep runs once a day. Every event goes through the tracker's own handler function and
use cases into the real Redis under a unique namespace: the same writes as through
RabbitMQ, without the broker in the way.

Then it sums MEMORY USAGE over the namespace's keys (and reads the INFO used_memory
delta, noisy on a shared server), checks that every key is bounded (a TTL, a capped
stream, or one of the small per-deployment indexes) and deletes the namespace.

Two figures per kind of key: ``bytes`` is everything the month wrote; ``resident`` is what
a steady state holds, where a key written once per event (a reminder, a claim, a
provider message's owner) lives only its TTL: its bytes count ``min(1, ttl / days)``
(the simulated month runs in seconds, so Redis has expired nothing yet). Keys that are
rewritten (completions, timelines: trimmed by the simulated clock) count whole. Both are
printed beside the figures measured on the previous key layout (``BEFORE``), per client.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityCompleted,
    Channel,
    ClinicPolicy,
    ClinicPolicyChanged,
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    Event,
    Messaging,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    Schedule,
    new_envelope,
)
from shared.contracts.policy import Escalation
from shared.logging import configure_logging
from tests.support.infra import REDIS_URL, delete_redis_namespace, unique_namespace
from tracker.handlers import handle
from tracker.runtime import Runtime, UseCases
from tracker.settings import TrackerSettings

CLINIC = "clinic-bench"
PROVIDERS = {Channel.SMS: "twilio", Channel.EMAIL: "smtp", Channel.PUSH: "webpush"}
# Keys without a TTL that are still bounded: one set per deployment, one per assignment
# (only while active), one per clinic policy.
SMALL_INDEXES = {"active", "clinics", "policy", "policies", "policy-history"}
# Kinds written once per reminder, message or claim and never refreshed: at a steady
# state only a TTL's worth of them exists.
PER_EVENT = ("r", "reminder", "message", "provider-msg", "once:")
# Measured on the previous key layout (commit e8e2ffa: a hash per reminder and per
# message with readable fields, timeline entries with named fields, completion claims
# as keys of their own) with --clients 300 --days 35: bytes per client.
BEFORE: dict[str, Any] = {
    "layout": "e8e2ffa, --clients 300 --days 35",
    "bytes_per_client": 169_703,
    "resident_bytes_per_client": 149_773,
    "by_kind_per_client": {
        "reminder": 56_646,
        "timeline": 53_725,
        "message": 23_584,
        "provider-msg": 21_799,
        "completions": 5_924,
        "once:completion": 5_799,
        "assignment": 1_011,
        "client": 336,
        "other (counters, streams, indexes)": 879,
    },
}
CONCURRENCY = 64

# -- the month (pure: which events, in which order) ---------------------------------------


@dataclass(frozen=True)
class Assignment:
    assignment_id: str
    client_ref: str
    channel: Channel


def ref(prefix: str, *parts: object) -> str:
    """Ids shaped like the real ones (the scheduler's reminder ids are 36 characters)."""
    raw = "|".join(str(p) for p in parts)
    return f"{prefix}-{hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()}"


def assignments(clients: int, rng: random.Random) -> list[Assignment]:
    result = []
    for c in range(clients):
        client = ref("cl", c)
        channel = rng.choices(list(PROVIDERS), weights=(80, 15, 5))[0]
        for a in range(rng.choice((1, 2))):
            result.append(Assignment(ref("asg", c, a), client, channel))
    return result


def setup(items: list[Assignment], start: date) -> list[Event]:
    policy = ClinicPolicy(
        policy_id="pol-1",
        version=1,
        escalation=Escalation(after_missed=3),
        messaging=Messaging(clinic_name="Bench Clinic"),
    )
    events: list[Event] = [ClinicPolicyChanged(**new_envelope(), clinic_id=CLINIC, policy=policy)]
    for a in items:
        events.append(
            ActivityAssigned(
                **new_envelope(),
                clinic_id=CLINIC,
                assignment_id=a.assignment_id,
                client_ref=a.client_ref,
                therapist_ref="therapist-1",
                activity=Activity(kind="mood_log", title="Mood log"),
                schedule=Schedule(timezone="Europe/Berlin", start=start, frequency="daily"),
                policy_id="pol-1",
            )
        )
    return events


def reminder_chain(
    a: Assignment, day: date, purpose: str, at: datetime, stopped: bool, rng: random.Random
) -> list[Event]:
    """What the notifier and the provider report for a reminder."""
    rid = ref("rem", a.assignment_id, day, purpose)
    common: dict[str, Any] = {
        "clinic_id": CLINIC,
        "reminder_id": rid,
        "client_ref": a.client_ref,
        "assignment_id": a.assignment_id,
        "occurrence_date": day,
        "purpose": purpose,
    }
    events: list[Event] = []
    if stopped and a.channel is Channel.SMS:
        return [*events, NotificationSuppressed(**common, channel="sms", reason="opted_out")]
    provider = PROVIDERS[a.channel]
    if rng.random() < 0.02:
        events.append(
            NotificationFailed(
                **common, channel=a.channel, provider=provider, reason="timeout", permanent=False
            )
        )
    events.append(
        NotificationDispatched(
            **common, channel=a.channel, provider=provider, provider_message_id=f"SM{rid[4:]}"
        )
    )
    outcome, code = rng.choices(
        [("delivered", None), ("undelivered", "30003"), ("bounced", None), (None, None)],
        weights=(95, 2, 1, 2),
    )[0]
    if outcome is not None:
        # Only email bounces; a text or push that never arrives is "undelivered".
        status = (
            "undelivered" if outcome == "bounced" and a.channel is not Channel.EMAIL else outcome
        )
        events.append(
            DeliveryStatusChanged(
                clinic_id=CLINIC,
                provider=provider,
                provider_message_id=f"SM{rid[4:]}",
                reminder_id=rid,
                channel=a.channel,
                status=status,
                error_code=code,
                reported_at=at,
            )
        )
    return events


def completion(a: Assignment, day: date, at: datetime, rng: random.Random) -> Event:
    common = {"clinic_id": CLINIC, "assignment_id": a.assignment_id, "client_ref": a.client_ref}
    source = rng.choices(("ehr", "link", "sms"), weights=(40, 40, 20))[0]
    if source == "ehr":
        rating = rng.randint(3, 10)
        return ActivityCompleted(
            **new_envelope(), **common, occurrence_date=day, completed_at=at, rating=rating
        )
    return CompletionReported(**common, occurrence_date=day, completed_at=at, source=source)


# -- feeding (I/O) -------------------------------------------------------------------------


class Clock:
    """The tracker's clock, moved through the simulated month."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class CountingPublisher:
    def __init__(self) -> None:
        self.published: Counter[str] = Counter()

    async def publish(self, event: Event) -> None:
        self.published[event.type_tag()] += 1


async def limited(jobs: Iterable[Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


async def in_order(cases: UseCases, events: list[Event]) -> None:
    for event in events:
        await handle(cases, event)  # type: ignore[arg-type]  # any tracker input


async def feed_day(
    cases: UseCases, clock: Clock, items: list[Assignment], day: date, state: dict[str, Any]
) -> None:
    rng: random.Random = state["rng"]
    stopped: set[str] = state["stopped"]
    for purpose, hour in (("reminder", 8), ("nudge", 18)):
        clock.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        chains = [
            reminder_chain(a, day, purpose, clock.now, a.client_ref in stopped, rng) for a in items
        ]
        state["reminders"] += len(chains)
        state["events"] += sum(len(c) for c in chains)
        await limited(in_order(cases, c) for c in chains)
        if purpose == "reminder":
            await complete_some(cases, clock, items, day, state)
    await stop_some(cases, items, state)
    clock.now = datetime(day.year, day.month, day.day, 23, tzinfo=UTC)
    await cases.escalations.sweep()


async def complete_some(
    cases: UseCases, clock: Clock, items: list[Assignment], day: date, state: dict[str, Any]
) -> None:
    rng: random.Random = state["rng"]
    clock.now += timedelta(hours=4)
    done = [completion(a, day, clock.now, rng) for a in items if rng.random() < 0.7]
    state["completions"] += len(done)
    state["events"] += len(done)
    await limited(in_order(cases, [e]) for e in done)


async def stop_some(cases: UseCases, items: list[Assignment], state: dict[str, Any]) -> None:
    """About 1 % of clients text STOP over the month."""
    rng: random.Random = state["rng"]
    for a in items:
        if a.channel is not Channel.SMS or a.client_ref in state["stopped"]:
            continue
        if rng.random() < 0.01 / state["days"]:
            state["stopped"].add(a.client_ref)
            stop = ConsentChanged(
                clinic_id=CLINIC,
                client_ref=a.client_ref,
                channel="sms",
                opted_out=True,
                source="sms_keyword",
            )
            await handle(cases, stop)
            state["events"] += 1


# -- measuring (I/O) -----------------------------------------------------------------------


def kind_of(key: str, prefix: str) -> str:
    parts = key[len(prefix) + 1 :].split(":")
    return ":".join(parts[:2]) if parts[0] in ("once", "counts", "stream") else parts[0]


async def measure(redis: Redis, prefix: str, max_len: int, days: int) -> dict[str, Any]:
    keys = [k.decode() async for k in redis.scan_iter(match=f"{prefix}:*", count=2000)]
    by_kind: dict[str, Counter[str]] = {}
    window = days * 86_400
    no_ttl: Counter[str] = Counter()
    streams: dict[str, int] = {}
    for i in range(0, len(keys), 2000):
        chunk = keys[i : i + 2000]
        async with redis.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.memory_usage(key)
                pipe.ttl(key)
            answers = await pipe.execute()
        for key, used, ttl in zip(chunk, answers[::2], answers[1::2], strict=True):
            kind = kind_of(key, prefix)
            row = by_kind.setdefault(kind, Counter())
            row["keys"] += 1
            row["bytes"] += used or 0
            row["resident"] += round((used or 0) * resident_share(kind, ttl, window))
            if ttl == -1:
                no_ttl[kind] += 1
            if kind.startswith("stream"):
                streams[key.rsplit(":", 2)[-2]] = await redis.xlen(key)
    unbounded = {
        k: n for k, n in no_ttl.items() if k not in SMALL_INDEXES and not k.startswith("stream")
    }
    total = sum(row["bytes"] for row in by_kind.values())
    return {
        "keys": len(keys),
        "memory_usage_bytes": total,
        "resident_bytes": sum(row["resident"] for row in by_kind.values()),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]["bytes"])},
        "keys_without_ttl": dict(no_ttl),
        "stream_lengths": streams,
        # Approximate trimming (MAXLEN ~) cuts whole stream nodes of up to 100 entries.
        "bounded": not unbounded and all(n <= max_len + 100 for n in streams.values()),
        "unbounded_kinds": unbounded,
    }


def resident_share(kind: str, ttl: int, window: int) -> float:
    """The part of a key's bytes a steady state holds (see the module's docstring)."""
    if ttl <= 0 or not kind.startswith(PER_EVENT):
        return 1.0
    return min(1.0, ttl / window)


def compared(total: int, resident: int, clients: int, by_kind: dict[str, Any]) -> dict[str, Any]:
    """This layout's figures per client beside the previous one's."""
    after = {k: round(v["bytes"] / clients) for k, v in by_kind.items()}
    return {
        "before": BEFORE,
        "after": {
            "bytes_per_client": round(total / clients),
            "resident_bytes_per_client": round(resident / clients),
            "by_kind_per_client": after,
        },
        "after_over_before": round(total / clients / BEFORE["bytes_per_client"], 2),
        "resident_after_over_before": round(
            resident / clients / BEFORE["resident_bytes_per_client"], 2
        ),
    }


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def main(clients: int, days: int) -> dict[str, Any]:
    configure_logging("bench", "WARNING", "console")
    namespace = unique_namespace("bench-mem")
    settings = TrackerSettings(namespace=namespace, redis_url=REDIS_URL)
    prefix = f"{settings.redis_prefix}:tracker"
    redis = Redis.from_url(REDIS_URL, max_connections=CONCURRENCY * 2)
    clock, publisher = Clock(), CountingPublisher()
    cases = Runtime(settings, clock=clock).open(redis, prefix, publisher)
    rng = random.Random(20_240_601)
    items = assignments(clients, rng)
    first = datetime.now(UTC).date() - timedelta(days=days)
    state: dict[str, Any] = {"rng": rng, "stopped": set(), "days": days}
    state |= {"reminders": 0, "completions": 0, "events": 0}
    try:
        before = await used_memory(redis)
        started = time.perf_counter()
        await limited(in_order(cases, [e]) for e in setup(items, first))
        for d in range(days):
            await feed_day(cases, clock, items, first + timedelta(days=d), state)
        fed_s = time.perf_counter() - started
        delta = await used_memory(redis) - before
        measured = await measure(redis, prefix, settings.stream_max_len, days)
    finally:
        await redis.aclose()
        await delete_redis_namespace(REDIS_URL, namespace)
    total, resident = measured["memory_usage_bytes"], measured["resident_bytes"]
    return {
        "bench": "tracker_memory",
        "clients": clients,
        "assignments": len(items),
        "days": days,
        "reminders": state["reminders"],
        "completions": state["completions"],
        "opted_out_clients": len(state["stopped"]),
        "events": state["events"],
        "published": dict(publisher.published),
        "feed_seconds": round(fed_s, 1),
        "memory_usage_mib": round(total / 2**20, 1),
        "bytes_per_client": round(total / clients),
        "resident_bytes_per_client": round(resident / clients),
        "bytes_per_reminder": round(total / max(state["reminders"], 1)),
        "compared": compared(total, resident, clients, measured["by_kind"]),
        "used_memory_delta_mib": round(delta / 2**20, 1),
        "retention_days": {
            "delivery": settings.delivery_retention_days,
            "delivery_detail": settings.delivery_detail_retention_days,
            "hourly_counters": settings.hourly_counter_retention_days,
            "daily_counters": settings.daily_counter_retention_days,
            "assignments": settings.assignment_retention_days,
        },
        "stream_max_len": settings.stream_max_len,
        **measured,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--days", type=int, default=35)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.clients, args.days))))
