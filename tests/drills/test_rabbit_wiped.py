"""Drill: the RabbitMQ node comes back *empty* (its data directory lost) under running services.

Unlike a restart, nothing of the topology survives: no exchanges, no queues, no
bindings. The services must heal without a restart (same PIDs): FastStream's robust
connection re-declares each consuming queue when it reconnects, and each service's
topology check (``*_TOPOLOGY_CHECK_SECONDS``) declares the exchanges, retry tiers and
dead-letter queues again. Then reminders must flow end to end, and bad input must be
dead-lettered with its reason. Clients onboarded before the loss stay known: that lives
in Redis, not in the broker. (Messages that sat in queues when the data was lost are
gone with it; this drill sends none across the loss.)
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aio_pika
import pytest

from shared.handling import REASON_HEADER
from shared.topology import QUEUES, RETRY_TIERS, SCHEDULER_QUEUE, TRACKER_QUEUE, Topology
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
from tests.support.infra import REDIS_URL, rabbit_presence, wait_for
from tests.support.servers import DedicatedRabbit, dedicated_rabbit, free_rabbit_port
from tests.support.system import running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.xdist_group("others"),
]

COUNT = 100
CHECK_SECONDS = "2"
LEAD = 20.0


def wipe(rabbit: DedicatedRabbit) -> None:
    """Stop the node, lose its data directory, start it again: an empty node."""
    rabbit.stop()
    shutil.rmtree(rabbit.dir / "mnesia")
    rabbit.start()


async def topology_state(url: str, topology: Topology) -> dict[str, int]:
    """Consumers per consuming queue (-1 when the queue is missing), and how many DLQs,
    retry tiers and exchanges exist."""
    consuming = [topology.queue(base) for base in QUEUES]
    dlqs = [topology.dlq(base) for base in QUEUES]
    tiers = [topology.retry_queue(tier) for tier in RETRY_TIERS]
    exchanges = [topology.exchange("bs.ehr.inbound"), topology.dead_letter_exchange]
    found = await rabbit_presence(url, [*consuming, *dlqs, *tiers], exchanges)

    def present(names: list[str]) -> int:
        return sum(found[name] is not None for name in names)

    state: dict[str, int] = {}
    for base, name in zip(QUEUES, consuming, strict=True):
        consumers = found[name]
        state[base] = -1 if consumers is None else consumers
    return {
        **state,
        "dlqs": present(dlqs),
        "retry_tiers": present(tiers),
        "exchanges": present(exchanges),
    }


def healed(state: dict[str, int]) -> bool:
    return (
        all(state[base] >= 1 for base in QUEUES)
        and state["dlqs"] == len(QUEUES)
        and state["retry_tiers"] == len(RETRY_TIERS)
        and state["exchanges"] == 2
    )


async def test_services_heal_after_rabbitmq_comes_back_empty(tmp_path: Path) -> None:
    with dedicated_rabbit(free_rabbit_port()) as rabbit:
        async with (
            fake_twilio() as twilio,
            drill_topology("drill-wiped", rabbit.url, REDIS_URL) as topology,
        ):
            env = {
                "scheduler": {"SCHEDULER_TOPOLOGY_CHECK_SECONDS": CHECK_SECONDS},
                "notifier": notifier_env(twilio, NOTIFIER_TOPOLOGY_CHECK_SECONDS=CHECK_SECONDS),
                "tracker": {"TRACKER_TOPOLOGY_CHECK_SECONDS": CHECK_SECONDS},
            }
            ns = topology.namespace
            with running_system(ns, rabbit.url, REDIS_URL, tmp_path, env=env) as system:
                started_pids = pids(system.procs)
                async with Ehr(rabbit.url, topology) as ehr:
                    await onboard(ehr, range(COUNT))

                started = time.monotonic()
                await asyncio.to_thread(wipe, rabbit)
                wiped_seconds = round(time.monotonic() - started, 1)
                right_after = await topology_state(rabbit.url, topology)

                async def is_healed() -> bool:
                    return healed(await topology_state(rabbit.url, topology))

                await wait_for(is_healed, timeout=120, interval=0.5)
                healed_seconds = round(time.monotonic() - started - wiped_seconds, 1)
                state = await topology_state(rabbit.url, topology)

                async with Ehr(rabbit.url, topology) as ehr:
                    await ehr.publish_all(one_reminder(n, soon(LEAD)) for n in range(COUNT))
                    inbound = await ehr.channel.get_exchange(topology.exchange("bs.ehr.inbound"))
                    await inbound.publish(aio_pika.Message(b"not json"), "activity.assigned")
                    await wait_for(lambda: delivered(twilio) >= COUNT, LEAD + 120, 0.5)
                    await asyncio.sleep(5)  # a duplicate would arrive by now
                    reasons = {}
                    for base in (SCHEDULER_QUEUE, TRACKER_QUEUE):
                        dlq = await ehr.channel.declare_queue(topology.dlq(base), passive=True)
                        dead = await dlq.get(timeout=10)
                        reasons[base] = str((dead.headers or {}).get(REASON_HEADER))
                        await dead.ack()
                same_pids = pids(system.procs) == started_pids
                errors = errors_logged(system.procs)
                alive, restarts = system.all_alive(), system.restarts()
    counts = provider_counts(twilio, range(COUNT))
    report = {
        "drill": "rabbitmq_back_empty",
        "clients": COUNT,
        "stop_wipe_start_seconds": wiped_seconds,
        "right_after_start": right_after,
        "healed_seconds_after_start": healed_seconds,
        "after_healing": state,
        "reminders_after": COUNT,
        **counts,
        "dead_letter_reasons": reasons,
        "same_pids": same_pids,
        "errors_logged": errors,
        "restarts": restarts,
    }
    report_counts(report)
    assert counts["lost"] == 0
    assert counts["provider_duplicates"] == 0
    assert all("not valid JSON" in reason for reason in reasons.values())
    assert same_pids
    assert alive
    assert all(n == 0 for n in restarts.values())
