"""App factory: settings in, a runnable HTTP app (with the broker in its lifespan) out."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Awaitable
from datetime import timedelta

from fastapi import FastAPI
from redis.asyncio.cluster import RedisCluster

from scheduler import handlers
from scheduler.firing import Firer, listen_for_wakes
from scheduler.keys import Keys
from scheduler.replan import Replanner
from scheduler.settings import SchedulerSettings
from scheduler.store import RedisClient, TimerStore
from scheduler.upkeep import report_backlog, roll_horizon
from shared.contracts import ReminderDue, SchedulerBacklogReported
from shared.service import Service, create_http_app
from shared.topology import SCHEDULER_QUEUE

NAME = "scheduler"


def replica_name(settings: SchedulerSettings) -> str:
    return settings.replica or f"{socket.gethostname()[:40]}-{os.getpid()}".replace("_", "-")


def create_service(settings: SchedulerSettings | None = None) -> Service:
    cfg = settings or SchedulerSettings()
    service = Service(
        name=NAME,
        settings=cfg,
        consumes=(SCHEDULER_QUEUE,),
        publishes=(ReminderDue, SchedulerBacklogReported),
    )
    runtime = handlers.Runtime()
    handlers.register(service, runtime)

    async def start(svc: Service) -> None:
        wake = asyncio.Event()
        store = TimerStore(await store_redis(svc, cfg), Keys(svc.key(), cfg.shard_count))
        runtime.replanner = Replanner(
            store,
            horizon=timedelta(days=cfg.horizon_days),
            roll_after=timedelta(hours=cfg.roll_after_hours),
            wake_within=timedelta(seconds=cfg.max_sleep_seconds),
            wake=wake,
        )
        firer = Firer(
            store,
            svc.publisher.publish,
            lease_seconds=cfg.lease_seconds,
            batch=cfg.claim_batch,
            concurrency=cfg.publish_concurrency,
            max_sleep=cfg.max_sleep_seconds,
            wake=wake,
            parallel=cfg.fire_parallel_shards,
        )
        svc.spawn(after_broker_start(svc, fire(firer)), "firing")
        svc.spawn(listen_for_wakes(store, wake), "wakes")
        svc.spawn(roll_horizon(runtime.replanner, cfg.roll_check_seconds), "roll")
        backlog = report_backlog(
            store, svc.publisher.publish, replica_name(cfg), cfg.backlog_interval_seconds
        )
        svc.spawn(after_broker_start(svc, backlog), "backlog")

    service.on_start.append(start)
    return service


async def store_redis(service: Service, cfg: SchedulerSettings) -> RedisClient:
    """The service's Redis, or a cluster client on the same URL (closed at shutdown)."""
    if not cfg.redis_cluster:
        return service.redis
    cluster = RedisCluster.from_url(cfg.redis_url)
    await cluster.initialize()

    async def close(_: Service) -> None:
        await cluster.aclose()

    service.on_stop.append(close)
    return cluster


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


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    return create_http_app(create_service(settings))
