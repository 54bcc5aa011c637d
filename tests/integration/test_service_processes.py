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
    SCHEDULER_QUEUE,
    TRACKER_QUEUE,
    Topology,
)
from tests.support.infra import wait_for
from tests.support.services import ROOT, async_wait_healthy, free_port

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
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert f'queue="{name}"' in metrics
            assert 'event_type="clinic.policy.changed",outcome="ok"' in metrics
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
    assert (await queue_state(rabbit_channel, topology.queue(queue)))[1] == 0


async def _depth(channel: AbstractChannel, name: str, n: int) -> bool:
    return (await queue_state(channel, name))[0] == n


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
