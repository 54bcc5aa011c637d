"""Periodic work of every replica: roll the planning horizon, report the backlog.

Besides the per-replica ``scheduler.backlog.reported`` event, the backlog is exported as
gauges by one replica at a time (the holder of ``<prefix>:scheduler:backlog-reporter``,
a lease it renews every round): every replica reads the same shared Redis, and gauges
that each reported the global count would add up to replicas x the truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from scheduler.announce import Cause
from scheduler.metrics import BACKLOG_REPORTER, OLDEST_OVERDUE, OVERDUE, PENDING
from scheduler.replan import Replanner
from scheduler.retention import forget_if_idle
from scheduler.store import RedisClient, TimerStore
from shared.contracts import SchedulerBacklogReported
from shared.errors import TransientError
from shared.logging import get_logger
from shared.service import redis_text

log = get_logger("scheduler.upkeep")
ROLL_BATCH = 200


async def roll_horizon(replanner: Replanner, every: float) -> None:
    """Re-plan clients whose horizon is due to move. Replicas may race for the same
    client; the commit's revision check makes that harmless."""
    store = replanner.store
    while True:
        await asyncio.sleep(every)
        try:
            for shard in range(store.keys.shard_count):
                await _roll_shard(replanner, shard)
        except Exception:
            log.exception("horizon roll failed")


async def _roll_shard(replanner: Replanner, shard: int) -> None:
    while clients := await replanner.store.clients_to_roll(shard, datetime.now(UTC), ROLL_BATCH):
        for key in clients:
            try:
                if await forget_if_idle(replanner, key, datetime.now(UTC)):
                    continue  # nothing left to plan (``retention.py``)
                await replanner.replan(key, Cause.rolled(key))
            except TransientError:
                log.warning("roll deferred", client=key)
        if len(clients) < ROLL_BATCH:
            return


Publish = Callable[[SchedulerBacklogReported], Awaitable[None]]


async def report_backlog(store: TimerStore, publish: Publish, replica: str, every: float) -> None:
    lease_key = f"{store.keys.base}:backlog-reporter"
    lease_ms = int(max(every, 1.0) * 3000)  # three missed rounds hand the lease over
    while True:
        try:
            pending, overdue, next_due = await store.backlog()
            # Before publishing: in a broker outage the gauges must still show the backlog.
            reporting = await holds_lease(store.redis, lease_key, replica, lease_ms)
            export_backlog(reporting, pending, overdue, next_due)
            await publish(
                SchedulerBacklogReported(
                    clinic_id="system",
                    replica=replica,
                    pending_timers=pending,
                    overdue=overdue,
                    next_due_at=next_due,
                )
            )
        except Exception:
            log.exception("backlog report failed")
        await asyncio.sleep(every)


async def holds_lease(redis: RedisClient, key: str, replica: str, lease_ms: int) -> bool:
    """Take the lease if free, renew it if ours. A renewal racing the lease's expiry can
    leave two reporters for one round: the sum is off once, never for long."""
    if await redis.set(key, replica, nx=True, px=lease_ms):
        return True
    holder = await redis.get(key)
    if holder is not None and redis_text(holder) == replica:
        await redis.pexpire(key, lease_ms)
        return True
    return False


def export_backlog(reporting: bool, pending: int, overdue: int, next_due: datetime | None) -> None:
    """The gauges as this replica should report them (0 unless it is the reporter)."""
    oldest = 0.0
    if next_due is not None:
        oldest = max(0.0, (datetime.now(UTC) - next_due).total_seconds())
    BACKLOG_REPORTER.set(1 if reporting else 0)
    PENDING.set(pending if reporting else 0)
    OVERDUE.set(overdue if reporting else 0)
    OLDEST_OVERDUE.set(oldest if reporting else 0.0)
