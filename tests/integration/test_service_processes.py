"""Each service runs as its own process: connects, declares its topology, consumes,
dead-letters bad input with a reason, and exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel

from shared.contracts.examples import examples
from shared.handling import REASON_HEADER
from shared.topology import (
    NOTIFIER_DIRECTORY_QUEUE,
    RETRY_TIERS,
    SCHEDULER_QUEUE,
    TRACKER_QUEUE,
    Topology,
)
from tests.support.infra import AMQP_URL, rabbit_presence, wait_for
from tests.support.services import ROOT, async_wait_healthy, free_port, service_process

pytestmark = pytest.mark.integration

CASES = [
    ("scheduler", "SCHEDULER_", SCHEDULER_QUEUE),
    ("notifier", "NOTIFIER_", NOTIFIER_DIRECTORY_QUEUE),
    ("tracker", "TRACKER_", TRACKER_QUEUE),
]


async def queue_state(channel: AbstractChannel, name: str) -> tuple[int, int]:
    declared = await channel.declare_queue(name, passive=True)
    result = declared.declaration_result
    return int(result.message_count or 0), int(result.consumer_count or 0)


@pytest.mark.parametrize(("module", "prefix", "queue"), CASES)
async def test_service_process_consumes_dead_letters_and_stops_on_sigterm(
    module: str,
    prefix: str,
    queue: str,
    topology: Topology,
    rabbit_channel: AbstractChannel,
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        f"{prefix}NAMESPACE": topology.namespace,
        f"{prefix}HTTP_PORT": str(port),
        f"{prefix}LOG_FORMAT": "json",
    }
    log_path = tmp_path / f"{module}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**_base_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            await async_wait_healthy(port)
            name = topology.queue(queue)
            assert (await queue_state(rabbit_channel, name))[1] >= 1, "no consumer on its queue"

            inbound = await rabbit_channel.get_exchange(topology.exchange("bs.ehr.inbound"))
            good = examples()["clinic.policy.changed"].model_dump_json().encode()
            await inbound.publish(aio_pika.Message(b"\xff\xfe garbage"), "clinic.policy.changed")
            await inbound.publish(aio_pika.Message(good), "clinic.policy.changed")

            dlq = topology.dlq(queue)
            await wait_for(lambda: _depth(rabbit_channel, dlq, 1), timeout=15)
            await wait_for(lambda: _depth(rabbit_channel, name, 0), timeout=15)
            # An empty queue can still have the good message in hand (unacknowledged
            # messages are not counted): its metric says when it was handled.
            handled = [f'queue="{name}"', 'event_type="clinic.policy.changed"', 'outcome="ok"']
            await wait_for(lambda: _metrics_show(port, handled), timeout=15)
            dead = await (await rabbit_channel.declare_queue(dlq, passive=True)).get()
            assert "not valid JSON" in str((dead.headers or {})[REASON_HEADER])
            await dead.ack()

            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert code == 0, output[-2000:]
    assert "service stopped" in output
    assert "collector settled" in output  # startup objects frozen (shared.service)
    assert (await queue_state(rabbit_channel, topology.queue(queue)))[1] == 0


async def test_a_service_declares_lost_dead_letter_queues_and_retry_tiers_again(
    topology: Topology, rabbit_channel: AbstractChannel, tmp_path: Path
) -> None:
    """What a RabbitMQ node that comes back empty takes away (beyond the consuming queue,
    which FastStream re-declares when it reconnects) comes back without a restart, and
    bad input is dead-lettered with its reason again."""
    port = free_port()
    env = {
        "TRACKER_NAMESPACE": topology.namespace,
        "TRACKER_HTTP_PORT": str(port),
        "TRACKER_TOPOLOGY_CHECK_SECONDS": "0.5",
    }
    tier = RETRY_TIERS[0]
    lost_queues = [topology.dlq(TRACKER_QUEUE), topology.retry_queue(tier)]
    lost_exchanges = [topology.dead_letter_exchange, topology.retry_exchange(tier)]
    with service_process("tracker", env, port, tmp_path / "tracker.log"):
        for queue in lost_queues:
            await rabbit_channel.queue_delete(queue)
        for exchange in lost_exchanges:
            await rabbit_channel.exchange_delete(exchange)
        assert not await _all_exist(lost_queues, lost_exchanges)

        await wait_for(lambda: _all_exist(lost_queues, lost_exchanges), timeout=15)
        inbound = await rabbit_channel.get_exchange(topology.exchange("bs.ehr.inbound"))
        await inbound.publish(aio_pika.Message(b"not json"), "clinic.policy.changed")
        dlq = topology.dlq(TRACKER_QUEUE)
        await wait_for(lambda: _depth(rabbit_channel, dlq, 1), timeout=15)
        dead = await (await rabbit_channel.declare_queue(dlq, passive=True)).get()
        assert "not valid JSON" in str((dead.headers or {})[REASON_HEADER])
        await dead.ack()


async def _metrics_show(port: int, labels: list[str]) -> bool:
    """Whether a handled-messages counter carries all these labels."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    lines = (line for line in text.splitlines() if line.startswith("bs_messages_handled_total{"))
    return any(all(label in line for label in labels) for line in lines)


async def _all_exist(queues: list[str], exchanges: list[str]) -> bool:
    presence = await rabbit_presence(AMQP_URL, queues, exchanges)
    return None not in presence.values()


async def _depth(channel: AbstractChannel, name: str, n: int) -> bool:
    return (await queue_state(channel, name))[0] == n


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
