"""Caps count what was sent, per client and local day / ISO week, across every activity
and purpose: the period rule on plain values, the reservation (``lua.RESERVE``) and its
give-back (``lua.SETTLE``) on the real Redis, and a property test of whole sequences
through the dispatcher."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from notifier.caps import Period, period
from notifier.decide import Send
from notifier.handlers import apply_directory_event
from notifier.keys import Keys
from notifier.send_store import Bucket, SendStore
from shared.contracts import (
    Caps,
    Channel,
    ClinicPolicyChanged,
    CompletionRecorded,
    CompletionSource,
    QuietHours,
    ReminderPurpose,
    new_envelope,
)
from shared.contracts.examples import example_policy
from tests.notifier.conftest import Rig, reminder

integration = pytest.mark.integration

START = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)  # a Friday: the days cross an ISO week


def test_the_period_is_the_clients_local_day_and_iso_week() -> None:
    late_sunday_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert period(late_sunday_utc, "UTC") == Period("2026-11-22", "2026-W47")
    assert period(late_sunday_utc, "Pacific/Auckland") == Period("2026-11-23", "2026-W48")
    assert period(late_sunday_utc, "America/Los_Angeles") == Period("2026-11-22", "2026-W47")
    assert period(datetime(2027, 1, 1, 12, tzinfo=UTC), "UTC").week == "2026-W53"


@dataclass
class Book:
    """The cap part of a send's reservation, one reminder at a time."""

    store: SendStore

    async def reserve(self, clinic: str, client: str, rid: str, at: Period, caps: Caps) -> bool:
        due = reminder(client, clinic_id=clinic, reminder_id=rid)
        send = Send((Channel.SMS,), {}, None, caps, at)
        bucket = Bucket("caps-test", rate=10_000, burst=10_000)
        found = await self.store.reserve(
            due, send, token=rid, rev=0, circuit="caps-test", bucket=bucket
        )
        await self.store.settle(due, rid)  # the lease only: the slot stays held
        return found.outcome == "ok"

    async def release(self, clinic: str, client: str, rid: str) -> None:
        due = reminder(client, clinic_id=clinic, reminder_id=rid)
        await self.store.settle(due, None, give_back=True)


@integration
async def test_reservations_are_idempotent_capped_and_given_back(
    redis: Redis, namespace: str
) -> None:
    keys = Keys(f"{namespace}:bs:notifier")
    book = Book(SendStore(redis, keys, lease_seconds=60, ttl_seconds=3600))
    clinic, client = str(uuid.uuid4()), str(uuid.uuid4())
    caps = Caps(per_day=2, per_week=3)
    monday, tuesday = Period("2026-11-16", "2026-W47"), Period("2026-11-17", "2026-W47")
    assert await book.reserve(clinic, client, "rem-a", monday, caps)
    assert await book.reserve(clinic, client, "rem-a", monday, caps)  # a redelivery
    assert await book.reserve(clinic, client, "rem-b", monday, caps)
    assert not await book.reserve(clinic, client, "rem-c", monday, caps)  # day full
    assert await book.reserve(clinic, client, "rem-a", tuesday, caps)  # held since Monday
    assert await book.reserve(clinic, client, "rem-c", tuesday, caps)
    assert not await book.reserve(clinic, client, "rem-d", tuesday, caps)  # week full
    assert await book.reserve(str(uuid.uuid4()), client, "rem-d", tuesday, caps)  # other clinic
    await book.release(clinic, client, "rem-c")  # nothing was sent after all
    assert await book.reserve(clinic, client, "rem-d", tuesday, caps)
    await book.release(clinic, client, "rem-unknown")  # no slot held: nothing happens
    assert not await book.reserve(clinic, client, "rem-e", tuesday, caps)


@dataclass(frozen=True)
class Step:
    kind: str  # "send", "again" (a redelivery of an earlier reminder), "done", "policy"
    assignment: int
    purpose: ReminderPurpose
    hours: int  # after START
    caps: tuple[int, int] = (3, 12)


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(["send", "send", "send", "again", "done", "policy"]),
        assignment=st.integers(0, 2),
        purpose=st.sampled_from(list(ReminderPurpose)),
        hours=st.integers(0, 80),  # four local days, crossing midnight in every zone
        caps=st.tuples(st.integers(1, 3), st.integers(3, 8)),
    ),
    min_size=1,
    max_size=30,
)
zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Pacific/Auckland"])


@integration
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps, zone=zones)
async def test_property_no_client_gets_more_than_the_caps(
    rig: Rig, sequence: list[Step], zone: str
) -> None:
    clinic, client = str(uuid.uuid4()), str(uuid.uuid4())
    assignments = [str(uuid.uuid4()) for _ in range(3)]
    # Quiet hours at 03:00-03:01 local: every send below is at half past an hour.
    quiet = QuietHours(start=time(3, 0), end=time(3, 1))
    await rig.prefs(clinic_id=clinic, client_ref=client, timezone=zone, quiet_hours=quiet)
    sent: list[tuple[datetime, Caps]] = []
    issued: list[Any] = []
    caps, version = Caps(per_day=3, per_week=12), 0

    async def set_caps(new: Caps) -> None:
        nonlocal caps, version
        caps, version = new, version + 1
        policy = example_policy().model_copy(
            update={"caps": new, "version": version, "quiet_hours": quiet}
        )
        event = ClinicPolicyChanged(**new_envelope(), clinic_id=clinic, policy=policy)
        await apply_directory_event(rig.runtime, event)

    await set_caps(caps)
    for step in sorted(sequence, key=lambda s: s.hours):
        now = START + timedelta(hours=step.hours)
        day = now.astimezone(ZoneInfo(zone)).date()
        if step.kind == "policy":
            await set_caps(Caps(per_day=step.caps[0], per_week=step.caps[1]))
            continue
        if step.kind == "done":
            await _complete(rig, clinic, client, assignments[step.assignment], day)
            continue
        if step.kind == "again" and issued:
            due = issued[step.assignment % len(issued)]
        else:
            due = reminder(
                client,
                clinic_id=clinic,
                reminder_id="rem-" + uuid.uuid4().hex,
                assignment_id=assignments[step.assignment],
                purpose=step.purpose,
                occurrence_date=day,
            )
            issued.append(due)
        before = len(rig.sms.sent)
        await rig.runtime.dispatcher.handle(due, now=now)
        if len(rig.sms.sent) > before:
            sent.append((now, caps))
    _assert_within_caps(sent, zone)


async def _complete(rig: Rig, clinic: str, client: str, assignment: str, day: date) -> None:
    event = CompletionRecorded(
        **new_envelope(),
        clinic_id=clinic,
        assignment_id=assignment,
        client_ref=client,
        occurrence_date=day,
        completed_at=datetime.now(UTC),
        source=CompletionSource.SMS,
    )
    await apply_directory_event(rig.runtime, event)


def _assert_within_caps(sent: list[tuple[datetime, Caps]], zone: str) -> None:
    """Each send found fewer than the caps in force already sent that day and week."""
    for n, (at, caps) in enumerate(sent):
        here = period(at, zone)
        earlier = [period(t, zone) for t, _ in sent[:n]]
        assert sum(p.day == here.day for p in earlier) < caps.per_day, (n, here)
        assert sum(p.week == here.week for p in earlier) < caps.per_week, (n, here)
