"""The notifier on a real Redis Cluster: three redis-server processes in cluster mode on
free loopback ports, one test module, stopped at the end.

The cluster client refuses a multi-key command or script whose keys hash to different
slots (the negative control shows it for the previous release's layout), so every
load, reservation, record, keyword and erasure that succeeds here kept each of its
scripts in one slot (``notifier/keys.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from notifier.keys import Keys
from shared.contracts import ClientErased, new_envelope
from shared.topology import Topology
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.webpush_endpoint import FakePushService
from tests.notifier.conftest import (
    CLINIC,
    PHONE,
    Harness,
    notifier_settings,
    reminder,
    serving,
)
from tests.notifier.test_digest_sending import clinic, digest_of, ids
from tests.scheduler.test_redis_cluster import free_port_block
from tests.support.servers import DedicatedRedis, redis_cluster
from tests.support.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MASTERS = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[DedicatedRedis]]:
    with redis_cluster(free_port_block(MASTERS), masters=MASTERS) as nodes:
        yield nodes


@pytest.fixture
async def client(cluster: list[DedicatedRedis]) -> AsyncIterator[RedisCluster]:
    redis = RedisCluster.from_url(cluster[0].url)
    await redis.initialize()
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
async def on_cluster(
    namespace: str,
    topology: Topology,
    rabbit_channel: AbstractChannel,
    peers: tuple[FakeTwilio, FakeSmtp, FakePushService],
    cluster: list[DedicatedRedis],
) -> AsyncIterator[Harness]:
    twilio, smtp, _ = peers
    port = free_port()
    settings = notifier_settings(
        namespace, port, twilio, smtp, redis_url=cluster[0].url, redis_cluster=True
    )
    async with serving(settings, topology, rabbit_channel, peers) as harness:
        yield harness


async def client_keys(redis: RedisCluster, keys: Keys, client_ref: str) -> list[str]:
    pattern = keys.client_tag(CLINIC, client_ref) + ":*"
    return [k.decode() async for k in redis.scan_iter(match=pattern)]


async def test_a_reminder_a_digest_a_status_stop_and_an_erasure_on_a_cluster(
    on_cluster: Harness, client: RedisCluster, namespace: str
) -> None:
    harness, keys = on_cluster, Keys(f"{namespace}:bs:notifier")
    await clinic(harness)
    client_ref = f"cl-{uuid.uuid4()}"
    await harness.client(client_ref)
    await asyncio.sleep(0.3)

    # One reminder through the Twilio-shaped API, its status back.
    due = reminder(client_ref, reminder_id=str(uuid.uuid4()))
    await harness.publish(due)
    await harness.wait_event("notification.dispatched", reminder_id=due.reminder_id)
    (sms,) = harness.twilio.messages
    assert sms.to == PHONE
    assert await harness.twilio.callback(sms, "delivered") == 204
    status = await harness.wait_event("delivery.status.changed", reminder_id=due.reminder_id)
    assert status["status"] == "delivered"

    # A redelivery announces it again and sends nothing.
    await harness.publish(due)
    await asyncio.sleep(0.5)
    assert len(harness.twilio.messages) == 1

    # A digest of three: one SMS, every member recorded and told its status.
    digest = digest_of(client_ref)
    await harness.publish(digest)
    for rid in ids(digest):
        await harness.wait_event("notification.dispatched", reminder_id=rid)
    assert len(harness.twilio.messages) == 2
    assert await harness.twilio.callback(harness.twilio.messages[1], "delivered") == 204
    for rid in ids(digest):
        await harness.wait_event("delivery.status.changed", reminder_id=rid)

    # STOP: the number's and the client's slots; the next reminder is suppressed.
    url = f"{harness.url}/webhooks/twilio/inbound"
    assert (await harness.twilio.inbound(url, PHONE, "STOP"))[0] == 200
    await harness.wait_event("consent.changed", client_ref=client_ref)
    await harness.client(client_ref, consent={"sms": True, "email": False}, version=2)
    await asyncio.sleep(0.3)
    after = reminder(client_ref, 9, reminder_id=str(uuid.uuid4()))
    await harness.publish(after)
    suppressed = await harness.wait_event("notification.suppressed", reminder_id=after.reminder_id)
    assert suppressed["reason"] == "opted_out"
    assert len(harness.twilio.messages) == 2

    # The erasure finds every key of the client on its node and deletes them.
    assert await client_keys(client, keys, client_ref)
    erasure = ClientErased(**new_envelope(), clinic_id=CLINIC, client_ref=client_ref)
    await harness.publish(erasure)
    report = await harness.wait_event("client.erasure.reported", client_ref=client_ref)
    counts: dict[str, Any] = report["counts"]
    assert counts["contacts"] == 1
    assert counts["number_links"] >= 2  # the number's owner and its last reminder
    assert counts["caps"] >= 2
    assert await client_keys(client, keys, client_ref) == []
    assert not harness.events("notification.failed")


async def test_the_keys_spread_over_every_master_and_each_tag_stays_in_its_slot(
    client: RedisCluster,
) -> None:
    keys = Keys(f"t-{uuid.uuid4().hex[:8]}:bs:notifier")
    clients = [str(uuid.uuid4()) for _ in range(60)]
    nodes = {str(client.get_node_from_key(keys.client(CLINIC, c))) for c in clients}
    assert len(nodes) == MASTERS
    for c in clients[:5]:
        rid = str(uuid.uuid4())
        slots = {
            client.keyslot(k)
            for k in (
                keys.client(CLINIC, c),
                keys.optout(CLINIC, c),
                keys.sent(CLINIC, c, rid),
                keys.lease(CLINIC, c, rid),
                keys.assignment(CLINIC, c, "asg-1"),
                f"{keys.caps(CLINIC, c)}:d:2026-12-03",
            )
        }
        assert len(slots) == 1


async def test_negative_control_the_previous_layout_is_refused_across_slots(
    client: RedisCluster,
) -> None:
    """The previous release's load touched the client's record and the reminder's record
    in one script: on a cluster that cannot run."""
    prefix = f"t-{uuid.uuid4().hex[:8]}:bs:notifier"
    old = [f"{prefix}:sent:{CLINIC}/rem-1", f"{prefix}:client:{CLINIC}:cl-1"]
    assert client.keyslot(old[0]) != client.keyslot(old[1])
    script = client.register_script("return {redis.call('GET', KEYS[1]), KEYS[2]}")
    with pytest.raises((RedisClusterException, ResponseError)):
        await script(keys=old)
