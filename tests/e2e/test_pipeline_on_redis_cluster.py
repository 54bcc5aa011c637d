"""End to end on a Redis Cluster: the three services as real processes, all pointed at
one local 3-master cluster (each with its ``*_REDIS_CLUSTER=true``), the real RabbitMQ
and the local Twilio-shaped API. An assignment becomes an SMS at its planned time; the
signed status callback comes back; the tracker records the delivery and the EHR hears
``reminder.delivered``. The cluster client refuses any command or script whose keys
span slots, so a pipeline that gets through is slot-safe in every service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aio_pika
import pytest
from redis.asyncio.cluster import RedisCluster

from shared.broker import delete_topology
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ContactPoints,
    Frequency,
    QuietHours,
    RuleOverride,
    Schedule,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.topology import Topology
from tests.e2e.test_journey import Ehr, local_slot, until
from tests.fakes.twilio_api import FakeTwilio
from tests.scheduler.test_redis_cluster import free_port_block
from tests.support.infra import AMQP_URL, unique_namespace
from tests.support.servers import DedicatedRedis, redis_cluster
from tests.support.services import free_port
from tests.support.system import running_system

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.timeout(240),
]

MASTERS = 3
CLINIC = "riverside-community-mental-health-and-wellbeing-clinic"
PHONE = "+15551230002"
SECRET = "link-secret-cluster-e2e-" + "k" * 32


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def cluster() -> Iterator[list[DedicatedRedis]]:
    with redis_cluster(free_port_block(MASTERS), masters=MASTERS) as nodes:
        yield nodes


async def test_a_reminder_travels_through_three_services_on_a_redis_cluster(
    tmp_path: Path, twilio: FakeTwilio, cluster: list[DedicatedRedis]
) -> None:
    namespace = unique_namespace("e2ec")
    topology = Topology(namespace=namespace)
    notifier_port, tracker_port = free_port(), free_port()
    env = {
        "scheduler": {"SCHEDULER_REDIS_CLUSTER": "true"},
        "notifier": {
            "NOTIFIER_REDIS_CLUSTER": "true",
            "NOTIFIER_HTTP_PORT": str(notifier_port),
            "NOTIFIER_WEBHOOK_BASE_URL": f"http://127.0.0.1:{notifier_port}",
            "NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{tracker_port}",
            "NOTIFIER_LINK_SECRETS": SECRET,
            "NOTIFIER_SMS_PROVIDER": "twilio",
            "NOTIFIER_TWILIO_BASE_URL": twilio.base_url,
            "NOTIFIER_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "NOTIFIER_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "NOTIFIER_SMS_RATE_PER_SECOND": "50",
        },
        "tracker": {
            "TRACKER_REDIS_CLUSTER": "true",
            "TRACKER_HTTP_PORT": str(tracker_port),
            "TRACKER_LINK_SECRETS": SECRET,
        },
    }
    url = cluster[0].url
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        with running_system(namespace, AMQP_URL, url, tmp_path, env=env) as system:
            ehr = Ehr(await connection.channel(), topology)
            await ehr.listen()
            await delivered_end_to_end(ehr, twilio)
            assert system.all_alive(), system.restarts()
            await keys_on_every_master(url, namespace)
    finally:
        await connection.close()
        await delete_topology(AMQP_URL, topology)


async def delivered_end_to_end(ehr: Ehr, twilio: FakeTwilio) -> None:
    now = datetime.now(UTC)
    quiet = QuietHours(start=time((now.hour + 8) % 24), end=time((now.hour + 9) % 24))
    policy = example_policy().model_copy(update={"policy_id": "e2e", "quiet_hours": quiet})
    client = str(uuid.uuid4())
    correlation = f"ehr-request-{uuid.uuid4()}"
    await ehr.publish(ClinicPolicyChanged(**new_envelope(), clinic_id=CLINIC, policy=policy))
    await ehr.publish(
        ClientPreferencesChanged(
            **new_envelope(),
            clinic_id=CLINIC,
            client_ref=client,
            version=1,
            timezone="UTC",
            channels=(Channel.SMS,),
            contacts=ContactPoints(sms=PHONE),
            consent=ChannelConsent(sms=True),
            quiet_hours=quiet,
        )
    )
    assignment = ActivityAssigned(
        **new_envelope(correlation_id=correlation),
        clinic_id=CLINIC,
        assignment_id=str(uuid.uuid4()),
        client_ref=client,
        therapist_ref="therapist-e2e",
        activity=Activity(kind=ActivityKind.MOOD_LOG, title="Mood log: evening check-in"),
        schedule=Schedule(
            timezone="UTC",
            start=now.date(),
            end=now.date() + timedelta(days=6),
            frequency=Frequency.DAILY,
            times_of_day=(local_slot(now, 20),),
        ),
        policy_id="e2e",
        overrides=RuleOverride(spread_minutes=0),
    )
    await asyncio.sleep(1.0)  # policy and preferences land before the assignment
    await ehr.publish(assignment)

    await until(lambda: twilio.messages, 60, "the reminder SMS at the Twilio API")
    sms = twilio.messages[0]
    assert sms.to == PHONE
    assert "client=" in sms.status_callback  # the send record's slot, named in the URL
    assert await twilio.callback(sms, "delivered") in (200, 204)
    delivered = await until(lambda: ehr.seen("reminder.delivered"), 30, "reminder.delivered")
    assert delivered[0]["assignment_id"] == assignment.assignment_id
    assert delivered[0]["correlation_id"] == correlation


async def keys_on_every_master(url: str, namespace: str) -> None:
    """Each service's keys are there, spread over the masters (nothing went to one node
    only because of a missing hash tag)."""
    redis = RedisCluster.from_url(url)
    await redis.initialize()
    try:
        for service in ("scheduler", "notifier", "tracker"):
            pattern = f"*{namespace}:bs:{service}*"
            found = [k async for k in redis.scan_iter(match=pattern, count=1000)]
            assert found, service
        everything = [k async for k in redis.scan_iter(match=f"*{namespace}:bs:*", count=1000)]
        nodes = {str(redis.get_node_from_key(k)) for k in everything}
        assert len(nodes) >= 2, nodes
    finally:
        await redis.aclose()
