"""Drill: 10,000 malformed or hostile EHR events mixed with valid ones.

Every bad one must be dead-lettered with a reason by every queue it reaches, every good
one processed (none dead-lettered), and no service may restart.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel

from shared.contracts.examples import examples
from shared.handling import REASON_HEADER
from shared.topology import QUEUES, Exchange, Topology
from tests.drills.hostile import generate
from tests.drills.reports import report as report_counts
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.system import running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(900),
    # scripts/test.sh runs the drills on two workers: the 20,000-reminder burst on one,
    # the others (mostly waiting on restarts and outages) one after another on the other.
    pytest.mark.xdist_group("others"),
]

COUNT = int(os.environ.get("BS_DRILL_HOSTILE_COUNT", "10000"))


def queues_for(routing_key: str) -> list[str]:
    return [
        base
        for base, spec in QUEUES.items()
        if any(ex is Exchange.INBOUND and key.value == routing_key for ex, key in spec.bindings)
    ]


async def state(channel: AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def valid_ones_dead_lettered(
    channel: AbstractChannel, topology: Topology, bad_bodies: set[bytes]
) -> list[str]:
    """Drain every DLQ; each message must carry a reason and be one of the bad ones."""
    wrongly: list[str] = []
    for base in QUEUES:
        dlq = await channel.declare_queue(topology.dlq(base), passive=True)
        while (message := await dlq.get(fail=False, no_ack=True)) is not None:
            reason = str((message.headers or {}).get(REASON_HEADER, ""))
            assert reason, "dead-lettered without a reason"
            if message.body not in bad_bodies:
                wrongly.append(f"{base}: {reason}")
    return wrongly


async def test_hostile_events_are_dead_lettered_and_valid_ones_processed(
    topology: Topology, rabbit_channel: AbstractChannel, tmp_path: Path
) -> None:
    items = generate(COUNT)
    bad_bodies = {item.body for item in items if not item.valid}
    expected: Counter[str] = Counter(
        base for item in items if not item.valid for base in queues_for(item.routing_key)
    )

    with running_system(topology.namespace, AMQP_URL, REDIS_URL, tmp_path) as system:
        inbound = await rabbit_channel.get_exchange(topology.exchange(Exchange.INBOUND))
        for tag in ("clinic.policy.changed", "client.preferences.changed"):
            body = examples()[tag].model_dump_json().encode()
            await inbound.publish(aio_pika.Message(body), routing_key=tag)
        for item in items:
            await inbound.publish(aio_pika.Message(item.body), routing_key=item.routing_key)

        async def settled() -> bool:
            for base in QUEUES:
                if await state(rabbit_channel, topology.queue(base)) != 0:
                    return False
                if await state(rabbit_channel, topology.dlq(base)) < expected[base]:
                    return False
            return True

        await wait_for(settled, timeout=600, interval=1)
        await asyncio.sleep(2)  # anything wrongly dead-lettered late would show now
        counts = {base: await state(rabbit_channel, topology.dlq(base)) for base in QUEUES}
        wrongly = await valid_ones_dead_lettered(rabbit_channel, topology, bad_bodies)
        alive = system.all_alive()
        restarts = system.restarts()
        healthy = all(
            httpx.get(f"{p.base_url}/healthz").status_code == 200 for p in system.procs.values()
        )
    report = {
        "drill": "hostile_events",
        "events": len(items),
        "valid": len(items) - len(bad_bodies),
        "invalid": len(bad_bodies),
        "expected_dead_letters": dict(expected),
        "dead_letters": counts,
        "valid_dead_lettered": len(wrongly),
        "restarts": restarts,
    }
    report_counts(report)
    assert not wrongly, wrongly[:10]
    assert counts == {base: expected[base] for base in QUEUES}
    assert alive
    assert healthy
    assert all(n == 0 for n in restarts.values())
