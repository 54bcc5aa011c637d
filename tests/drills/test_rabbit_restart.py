"""Drill: the RabbitMQ node is restarted while assignments keep coming and reminders fire.

The services run against a RabbitMQ node of their own. An EHR keeps assigning (one
client a tick, each reminder due half a minute later) and the node is stopped and
started in the middle of it, while reminders are due: the scheduler cannot publish them,
the notifier cannot report its sends, the EHR cannot publish. The services must
reconnect by themselves (same PIDs, no restarts) and every reminder must reach the
provider, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from shared.topology import QUEUES
from tests.drills.reports import report as report_counts
from tests.drills.traffic import (
    Ehr,
    delivered,
    drill_topology,
    errors_logged,
    fake_twilio,
    notifier_env,
    onboard,
    one_reminder,
    pids,
    provider_counts,
)
from tests.scheduler.support import soon
from tests.support.infra import REDIS_URL, wait_for
from tests.support.servers import DedicatedRabbit, dedicated_rabbit, free_rabbit_port
from tests.support.system import running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    # scripts/test.sh runs the drills on two workers: the 20,000-reminder burst on one,
    # the others (mostly waiting on restarts and outages) one after another on the other.
    pytest.mark.xdist_group("others"),
]

COUNT = int(os.environ.get("BS_DRILL_RABBIT_COUNT", "300"))
PER_SECOND = 5.0
LEAD = 30.0  # each reminder is due this long after its assignment is published
RESTART_AFTER = LEAD + 5  # seconds into the flow: reminders are being fired then


async def keep_assigning(ehr: Ehr, clients: range) -> None:
    """A steady flow; a publish the broker cannot confirm is retried (see ``Ehr``)."""
    for n in clients:
        await ehr.publish(one_reminder(n, soon(LEAD)))
        await asyncio.sleep(1 / PER_SECOND)


async def restart_in_the_middle(rabbit: DedicatedRabbit, ehr: Ehr) -> dict[str, float]:
    await asyncio.sleep(RESTART_AFTER)
    published = ehr.published - COUNT - 1  # the policy and preferences came first
    started = time.monotonic()
    await asyncio.to_thread(rabbit.restart)  # stop (connections are closed), then start
    return {
        "assigned_before_restart": published,
        "restart_seconds": round(time.monotonic() - started, 1),
    }


async def consumers(ehr: Ehr) -> dict[str, int]:
    counts = {}
    for base in QUEUES:
        name = ehr.topology.queue(base)
        declared = await ehr.channel.declare_queue(name, passive=True, robust=False)
        counts[base] = int(declared.declaration_result.consumer_count or 0)
    return counts


async def test_services_reconnect_after_a_rabbitmq_restart_and_lose_nothing(
    tmp_path: Path,
) -> None:
    with dedicated_rabbit(free_rabbit_port()) as rabbit:
        async with (
            fake_twilio() as twilio,
            drill_topology("drill-rabbit", rabbit.url, REDIS_URL) as topology,
            Ehr(rabbit.url, topology) as ehr,
        ):
            env = {
                "scheduler": {"SCHEDULER_LEASE_SECONDS": "10"},
                "notifier": notifier_env(twilio),
            }
            ns = topology.namespace
            with running_system(ns, rabbit.url, REDIS_URL, tmp_path, env=env) as system:
                started_pids = pids(system.procs)
                await onboard(ehr, range(COUNT))
                flow = asyncio.create_task(keep_assigning(ehr, range(COUNT)))
                restart = await restart_in_the_middle(rabbit, ehr)
                await flow
                with contextlib.suppress(AssertionError):  # the report shows what is missing
                    await wait_for(lambda: delivered(twilio) >= COUNT, LEAD + 240, 0.5)
                await asyncio.sleep(10)  # a duplicate would arrive by now
                consuming = await consumers(ehr)
                same_pids = pids(system.procs) == started_pids
                errors = errors_logged(system.procs)
                alive, restarts = system.all_alive(), system.restarts()
    counts = provider_counts(twilio, range(COUNT))
    report = {
        "drill": "rabbitmq_restart_under_traffic",
        "assignments": COUNT,
        **restart,
        "ehr_publish_retries": ehr.retries,
        **counts,
        "consumers_after": consuming,
        "same_pids": same_pids,
        "errors_logged": errors,
        "restarts": restarts,
    }
    report_counts(report)
    assert counts["lost"] == 0
    assert counts["provider_duplicates"] == 0
    assert all(n >= 1 for n in consuming.values())
    assert same_pids
    assert alive
    assert all(n == 0 for n in restarts.values())
