"""Drill: Redis (AOF, fsync always) is restarted twice, with SIGTERM and with SIGKILL,
while reminders wait in it as pending timers.

The services run against a Redis of their own and keep running throughout (same PIDs,
no restarts). Every pending timer is still there after each restart and fires at its
time; clients assigned after the restarts are planned and reminded too, so the
services' Redis clients reconnected by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.drills.reports import report as report_counts
from tests.drills.traffic import (
    Ehr,
    assign,
    delivered,
    drill_topology,
    errors_logged,
    fake_twilio,
    notifier_env,
    onboard,
    pending_timers,
    pids,
    provider_counts,
)
from tests.scheduler.support import soon
from tests.support.infra import AMQP_URL, wait_for
from tests.support.servers import DedicatedRedis, dedicated_redis, wait_port
from tests.support.services import free_port
from tests.support.system import System, running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    # scripts/test.sh runs the drills on two workers: the 20,000-reminder burst on one,
    # the others (mostly waiting on restarts and outages) one after another on the other.
    pytest.mark.xdist_group("others"),
]

COUNT = int(os.environ.get("BS_DRILL_REDIS_COUNT", "500"))
LATE = max(COUNT // 10, 1)  # clients assigned after the restarts
# Time the two restarts have before the first reminders are due.
RESTART_MARGIN = 45.0


async def restart(redis: DedicatedRedis, ehr: Ehr, how: str) -> dict[str, float]:
    """Restart Redis (``term``: SIGTERM, ``kill``: SIGKILL); timers before and after."""
    before = await pending_timers(redis.url, ehr.topology)
    started = time.monotonic()
    if how == "term":
        redis.stop()
    else:
        redis.kill()
        wait_port(redis.port, up=False, timeout=15)
    await asyncio.sleep(2)  # the services notice: their connections are gone
    redis.start()
    return {
        f"pending_before_{how}": before,
        f"pending_after_{how}": await pending_timers(redis.url, ehr.topology),
        f"{how}_restart_seconds": round(time.monotonic() - started, 1),
    }


async def healthy(system: System) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        codes = [
            (await http.get(f"{p.base_url}/healthz")).status_code for p in system.procs.values()
        ]
    return all(code == 200 for code in codes)


async def test_pending_timers_survive_redis_restarts_and_fire(tmp_path: Path) -> None:
    everyone = range(COUNT + LATE)
    with dedicated_redis(free_port(), aof=True) as redis:
        async with (
            fake_twilio() as twilio,
            drill_topology("drill-redis", AMQP_URL, redis.url) as topology,
            Ehr(AMQP_URL, topology) as ehr,
        ):
            env = {"notifier": notifier_env(twilio)}
            ns = topology.namespace
            with running_system(ns, AMQP_URL, redis.url, tmp_path, env=env) as system:
                started_pids = pids(system.procs)
                onboarding = await onboard(ehr, everyone)
                at = soon(1.5 * onboarding + RESTART_MARGIN)
                await assign(ehr, redis.url, range(COUNT), at)
                timers = await restart(redis, ehr, "term")
                timers |= await restart(redis, ehr, "kill")
                await assign(ehr, redis.url, range(COUNT, COUNT + LATE), soon(10))
                with contextlib.suppress(AssertionError):  # the report shows what is missing
                    await wait_for(lambda: delivered(twilio) >= len(everyone), 300, 0.5)
                await asyncio.sleep(5)  # a duplicate would arrive by now
                pending = await pending_timers(redis.url, topology)
                same_pids = pids(system.procs) == started_pids
                errors = errors_logged(system.procs)
                alive, restarts, ok = system.all_alive(), system.restarts(), await healthy(system)
    counts = provider_counts(twilio, everyone)
    report = {
        "drill": "redis_restart_with_aof",
        "reminders": COUNT,
        "assigned_after_restarts": LATE,
        **timers,
        **counts,
        "pending_after": pending,
        "same_pids": same_pids,
        "errors_logged": errors,
        "restarts": restarts,
    }
    report_counts(report)
    assert timers["pending_after_term"] == timers["pending_before_term"] == COUNT
    assert timers["pending_after_kill"] == timers["pending_before_kill"] == COUNT
    assert counts["lost"] == 0
    assert counts["provider_duplicates"] == 0
    assert pending == 0
    assert same_pids
    assert alive
    assert ok
    assert all(n == 0 for n in restarts.values())
