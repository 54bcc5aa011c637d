"""Periodic work of every replica: roll the planning horizon, report the backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from scheduler.firing import PENDING
from scheduler.replan import Replanner
from scheduler.store import TimerStore
from shared.contracts import SchedulerBacklogReported
from shared.errors import TransientError
from shared.logging import get_logger

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
                await replanner.replan(key)
            except TransientError:
                log.warning("roll deferred", client=key)
        if len(clients) < ROLL_BATCH:
            return


Publish = Callable[[SchedulerBacklogReported], Awaitable[None]]


async def report_backlog(store: TimerStore, publish: Publish, replica: str, every: float) -> None:
    while True:
        try:
            pending, overdue, next_due = await store.backlog()
            PENDING.set(pending)
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
