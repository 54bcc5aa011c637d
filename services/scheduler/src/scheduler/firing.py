"""The firing loop: claim due timers shard by shard, publish with confirms, then ack
(with the shard's next claim).

No leader and no fixed polling: each replica sleeps until the earliest due time it saw
(at most ``max_sleep``) and wakes early when a replica adds an earlier timer.

One client's reminders due at the same instant in one claim are published as one event
(a digest, see ``digests.py``) and acked together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from scheduler.digests import as_digest, grouped
from scheduler.metrics import DROPPED, FIRED, LATENESS
from scheduler.store import Acks, Claimed, TimerStore
from shared.contracts import ReminderDue, derived_event_id
from shared.contracts.vocabulary import ActivityKind
from shared.logging import get_logger
from shared.planning.ids import TimerMember
from shared.tracing import continued

log = get_logger("scheduler.firing")

Publish = Callable[[ReminderDue], Awaitable[None]]


def reminder_event(member: TimerMember, info: bytes) -> tuple[ReminderDue, str | None]:
    """The reminder.due to publish, and the traceparent of its assignment (if traced)."""
    data = json.loads(info)
    event = ReminderDue(
        # A re-fire after a crash carries the same id as the first attempt.
        event_id=derived_event_id(member.reminder_id),
        clinic_id=member.clinic_id,
        correlation_id=data["r"],
        reminder_id=member.reminder_id,
        assignment_id=member.assignment_id,
        assignment_version=data["v"],
        client_ref=data["c"],
        occurrence_date=member.occurrence,
        purpose=member.purpose,
        planned_for=member.fire_at,
        activity_kind=ActivityKind(data["k"]),
        activity_title=data["t"],
        policy_id=data["p"],
    )
    return event, data.get("tp")


class Firer:
    def __init__(
        self,
        store: TimerStore,
        publish: Publish,
        *,
        lease_seconds: float,
        batch: int,
        concurrency: int,
        max_sleep: float,
        wake: asyncio.Event,
        parallel: int = 8,
        ahead_ms: int = 0,
    ) -> None:
        self.store = store
        # Timers are claimed this long before they are due (``SCHEDULER_FIRE_AHEAD_MS``).
        self.ahead_ms = ahead_ms
        self.publish = publish
        self.lease_ms = int(lease_seconds * 1000)
        self.batch = batch
        self.max_sleep = max_sleep
        self.wake = wake
        self.parallel = parallel
        self._slots = asyncio.Semaphore(concurrency)
        self._next_due: dict[int, float] = {}  # shard -> loop time of its next timer
        self._acks: dict[int, Acks] = {}  # shard -> published, acked by its next claim
        self.ack_within = min(1.0, lease_seconds / 3)

    async def run(self) -> None:
        try:
            while True:
                if self.wake.is_set():  # an earlier timer was added: look at every shard
                    self._next_due.clear()
                self.wake.clear()  # before the pass: a wake that comes during it is kept
                try:
                    delay = await self.fire_once()
                except Exception:  # Redis or broker outage: keep the loop alive
                    log.exception("firing pass failed")
                    delay = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=delay)
        finally:
            with contextlib.suppress(Exception):  # Redis gone: the leases run out instead
                await self.flush()

    async def flush(self) -> None:
        """Ack what was published and not acked yet (at shutdown: nothing fires twice)."""
        for shard, (lease, members) in list(self._acks.items()):
            await self.store.ack(shard, lease, members)
            del self._acks[shard]

    async def fire_once(self) -> float:
        """Drain every shard whose next timer is due, as last seen (every shard at first,
        and each at least every ``max_sleep``), ``parallel`` at a time; returns how long to
        sleep. Shards with nothing due are not claimed: at a steady trickle that would
        cost a Redis round trip per shard for every reminder sent."""
        loop = asyncio.get_running_loop()
        count = self.store.keys.shard_count
        start = random.randrange(count)  # noqa: S311 (spreads replicas, not crypto)
        order = [(start + i) % count for i in range(count)]
        lanes = asyncio.Semaphore(self.parallel)

        async def lane(shard: int) -> None:
            async with lanes:
                wait = await self._drain(shard)
            self._next_due[shard] = loop.time() + wait

        now = loop.time()
        await asyncio.gather(*(lane(n) for n in order if self._next_due.get(n, now) <= now))
        return max(0.0, min(self._next_due.values(), default=now) - loop.time())

    async def _drain(self, shard: int) -> float:
        """Fire everything due in one shard; returns how long until it needs a look again:
        its next timer, or sooner to ack what it published (at most ``max_sleep``).

        What a batch published is acked by the shard's next claim, in the same Lua call:
        at a steady trickle that halves the Redis calls per reminder."""
        while True:
            claimed = await self.store.claim(
                shard, self.batch, self.lease_ms, self._acks.get(shard), ahead_ms=self.ahead_ms
            )
            self._acks.pop(shard, None)
            if claimed.members and (done := await self._fire(claimed)):
                self._acks[shard] = (claimed.lease_ms, done)
            # A batch left whole to leases that end within the fire-ahead: looked at again
            # when the first of them ends (``next_look_ms``), not in a loop.
            if claimed.scanned < self.batch or not claimed.members:
                break
        wait = self.max_sleep
        if claimed.next_look_ms is not None:
            wait = (claimed.next_look_ms - claimed.redis_now_ms) / 1000
        if shard in self._acks:
            wait = min(wait, self.ack_within)  # well before those leases run out
        return min(self.max_sleep, max(0.0, wait))

    async def _fire(self, claimed: Claimed) -> list[str]:
        """The members that are done with (published, or nothing to publish). One
        client's reminders due at the same instant are published as one event (see
        ``digests``), and are done with together."""
        done: list[str] = []
        raws: list[str] = []
        events: list[tuple[ReminderDue, str | None]] = []
        for raw, info in zip(claimed.members, claimed.infos, strict=True):
            if (read := _read(raw, info)) is None:
                done.append(raw)  # nothing to publish: finished with
            else:
                raws.append(raw)
                events.append(read)
        groups = grouped([event for event, _ in events])
        results = await asyncio.gather(*(self._one([events[i] for i in g]) for g in groups))
        for group, ok in zip(groups, results, strict=True):
            if ok:
                done.extend(raws[i] for i in group)
        return done

    async def _one(self, group: list[tuple[ReminderDue, str | None]]) -> bool:
        """True when the group is published (one event for all of it)."""
        event, trace = group[0] if len(group) == 1 else _digest(group)
        async with self._slots:
            try:
                # The loop is no message handler: without this, the publish would start a
                # trace of its own instead of continuing the assignment's.
                with continued(trace):
                    await self.publish(event)
            except Exception:  # not confirmed: the lease runs out and it fires again
                log.exception("publish failed", reminder_id=event.reminder_id)
                return False
        FIRED.inc(len(group))
        # Fired ahead (``ahead_ms``) counts as on time: 0, not a negative lateness.
        LATENESS.observe(max(0.0, (datetime.now(UTC) - event.planned_for).total_seconds()))
        return True


def _read(raw: str, info: bytes | None) -> tuple[ReminderDue, str | None] | None:
    """The timer's event, or None when there is nothing to publish."""
    if info is None:
        return None  # its assignment is gone: nothing to send, just drop the timer
    try:
        return reminder_event(TimerMember.decode(raw), info)
    except (ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
        # It would fail the same way on every retry: drop it rather than re-lease it
        # forever. The member holds only ids, no personal data.
        log.exception("unreadable timer dropped", member=raw[:200])
        DROPPED.inc()
        return None


def _digest(group: list[tuple[ReminderDue, str | None]]) -> tuple[ReminderDue, str | None]:
    """The group's one event, traced as its lead's assignment."""
    event = as_digest([e for e, _ in group])
    return event, next(t for e, t in group if e.reminder_id == event.reminder_id)


async def listen_for_wakes(store: TimerStore, wake: asyncio.Event) -> None:
    """Other replicas announce earlier timers on a pub/sub channel."""
    while True:
        try:
            async with store.redis.pubsub() as pubsub:
                await pubsub.subscribe(store.keys.wake_channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        wake.set()
        except Exception:
            log.exception("wake listener failed; resubscribing")
            await asyncio.sleep(1)
