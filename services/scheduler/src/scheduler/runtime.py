"""The scheduler's collaborators, built when the service starts (Redis is connected then)
and closed when it stops: the same shape as the notifier's and the tracker's runtimes."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta

from scheduler.announce import Announcer
from scheduler.firing import Firer, listen_for_wakes
from scheduler.keys import Keys
from scheduler.replan import Replanner
from scheduler.settings import SchedulerSettings
from scheduler.store import TimerStore
from scheduler.upkeep import report_backlog, roll_horizon
from shared.ordering import InOrder
from shared.service import Service


def replica_name(settings: SchedulerSettings) -> str:
    return settings.replica or f"{socket.gethostname()[:40]}-{os.getpid()}".replace("_", "-")


@dataclass
class Runtime:
    settings: SchedulerSettings
    # Events of one client are applied in the order they arrived (a pause, then its resume).
    order: InOrder = field(default_factory=InOrder)
    _replanner: Replanner | None = None
    _announcer: Announcer | None = None

    @property
    def replanner(self) -> Replanner:
        if self._replanner is None:
            raise RuntimeError("the scheduler has not started")
        return self._replanner

    async def start(self, service: Service) -> None:
        cfg = self.settings
        wake = asyncio.Event()
        store = TimerStore(service.store, Keys(service.key(), cfg.shard_count))
        self._announcer = Announcer(service.publisher.publish, cfg.plan_announce_seconds)
        self._replanner = Replanner(
            store,
            horizon=timedelta(days=cfg.horizon_days),
            roll_after=timedelta(hours=cfg.roll_after_hours),
            wake_within=timedelta(seconds=cfg.max_sleep_seconds),
            wake=wake,
            announce=self._announcer.add,
        )
        firer = Firer(
            store,
            service.publisher.publish,
            lease_seconds=cfg.lease_seconds,
            batch=cfg.claim_batch,
            concurrency=cfg.publish_concurrency,
            max_sleep=cfg.max_sleep_seconds,
            wake=wake,
            parallel=cfg.fire_parallel_shards,
            ahead_ms=cfg.fire_ahead_ms,
        )
        service.spawn(after_broker_start(service, fire(firer)), "firing")
        # Cancelled before the broker stops, it publishes what is still waiting then.
        service.spawn(after_broker_start(service, self._announcer.run()), "announce")
        service.spawn(listen_for_wakes(store, wake), "wakes")
        service.spawn(roll_horizon(self._replanner, cfg.roll_check_seconds), "roll")
        backlog = report_backlog(
            store, service.publisher.publish, replica_name(cfg), cfg.backlog_interval_seconds
        )
        service.spawn(after_broker_start(service, backlog), "backlog")

    async def stop(self, _: Service) -> None:
        """Nothing of its own to close: the service closes its store (a cluster client
        when ``SCHEDULER_REDIS_CLUSTER`` is set)."""


async def fire(firer: Firer) -> None:
    # What is alive once the service is up lives as long as the process. Frozen, the
    # collector no longer walks it: a full collection otherwise stalls firing ~50 ms.
    gc.collect()
    gc.freeze()
    await firer.run()


async def after_broker_start(service: Service, loop: Awaitable[None]) -> None:
    """Start hooks run before the broker connects; publishing loops wait for it."""
    while not service.broker.running:  # noqa: ASYNC110 (FastStream offers no event)
        await asyncio.sleep(0.05)
    await loop
