"""Publishers bound to their clinics, against the real RabbitMQ with two tenant users.

Each tenant gets the permissions docs/integration.md gives an EHR (write only to the
inbound exchange, configure and read nothing here); the consumer is a real service
subscriber (``Service.subscriber``) with ``tenants`` configured.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.exceptions import ChannelAccessRefused, ChannelPreconditionFailed

from shared.broker import declare_topology, publish_event
from shared.contracts import ActivityCancelled, ClinicPolicyChanged, new_envelope
from shared.contracts.examples import example_policy
from shared.handling import ERROR_HEADER, REASON_HEADER
from shared.service import Service
from shared.settings import ServiceSettings
from shared.tenancy import connection_user
from shared.topology import SCHEDULER_QUEUE, Exchange, Topology
from tests.support.infra import AMQP_URL, unique_namespace, wait_for

pytestmark = pytest.mark.integration

RABBITMQCTL = shutil.which("rabbitmqctl")
NORTHSIDE = "clinic-northside-family-counselling-and-wellbeing-centre-9f1c2d3e"
LAKESIDE = "clinic-lakeside-community-psychotherapy-associates-4b7a8c9d"


@dataclass(frozen=True)
class Tenant:
    user: str
    password: str

    def url(self) -> str:
        return AMQP_URL.replace("guest:guest@", f"{self.user}:{self.password}@", 1)


def rabbitmqctl(*args: str) -> None:
    assert RABBITMQCTL is not None
    subprocess.run([RABBITMQCTL, "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def namespace() -> str:
    return unique_namespace("tenants")


@pytest.fixture(scope="module")
def tenants(namespace: str) -> Iterator[tuple[Tenant, Tenant]]:
    """Two EHR users with the documented permissions, deleted afterwards."""
    if RABBITMQCTL is None:
        pytest.skip("rabbitmqctl is not available: cannot create tenant users")
    run = uuid.uuid4().hex[:8]
    pair = (
        Tenant(f"bs-test-ehr-northside-{run}", secrets.token_urlsafe(24)),
        Tenant(f"bs-test-ehr-lakeside-{run}", secrets.token_urlsafe(24)),
    )
    inbound = re.escape(Topology(namespace=namespace).exchange(Exchange.INBOUND))
    created: list[str] = []
    try:
        for tenant in pair:
            rabbitmqctl("add_user", tenant.user, tenant.password)
            created.append(tenant.user)
            rabbitmqctl("set_permissions", "-p", "/", tenant.user, "^$", f"^{inbound}$", "^$")
        yield pair
    finally:
        for user in created:
            rabbitmqctl("delete_user", user)


@pytest.fixture
async def consumer(
    topology: Topology, rabbit_channel: AbstractChannel, tenants: tuple[Tenant, Tenant]
) -> AsyncIterator[tuple[Service, list[Any]]]:
    """A service consuming the scheduler's queue, each tenant bound to its clinic and
    this test's own connection user (the console) allowed any clinic."""
    northside, lakeside = tenants
    settings = ServiceSettings(
        dev_mode=True,
        amqp_url=AMQP_URL,
        namespace=topology.namespace,
        tenants=f"{northside.user}={NORTHSIDE};{lakeside.user}={LAKESIDE};"
        f"{connection_user(AMQP_URL)}=*",
    )
    service = Service("tenants", settings, (SCHEDULER_QUEUE,), (ClinicPolicyChanged,))
    handled: list[Any] = []

    @service.subscriber(SCHEDULER_QUEUE, "events of the tenants' clinics")
    async def handle(event: ActivityCancelled | ClinicPolicyChanged) -> None:
        handled.append(event)

    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    await service.broker.start()
    yield service, handled
    await service.broker.stop()


async def connect(tenant: Tenant) -> AbstractRobustConnection:
    return await aio_pika.connect_robust(tenant.url())


def cancelled(clinic_id: str) -> ActivityCancelled:
    return ActivityCancelled(
        **new_envelope(f"req-{uuid.uuid4()}"),
        clinic_id=clinic_id,
        assignment_id=f"asg-{uuid.uuid4()}",
        version=2,
        client_ref=f"client-{uuid.uuid4()}",
    )


async def dead_letters(channel: AbstractChannel, queue: str, count: int) -> list[Any]:
    dlq = await channel.declare_queue(queue, passive=True)
    got: list[Any] = []

    async def drained() -> bool:
        while (message := await dlq.get(fail=False)) is not None:
            await message.ack()
            got.append(message)
        return len(got) >= count

    await wait_for(drained, timeout=15)
    return got


async def test_a_tenant_is_consumed_for_its_own_clinic_and_dead_lettered_for_another(
    topology: Topology,
    rabbit_channel: AbstractChannel,
    tenants: tuple[Tenant, Tenant],
    consumer: tuple[Service, list[Any]],
) -> None:
    northside, _ = tenants
    service, handled = consumer
    own, foreign, anonymous = cancelled(NORTHSIDE), cancelled(LAKESIDE), cancelled(NORTHSIDE)
    policy = ClinicPolicyChanged(**new_envelope(), clinic_id=LAKESIDE, policy=example_policy())
    async with await connect(northside) as connection:
        channel = await connection.channel()
        await publish_event(channel, topology, own, user_id=northside.user)
        await publish_event(channel, topology, foreign, user_id=northside.user)
        await publish_event(channel, topology, anonymous)  # no user_id at all
    await service.publisher.publish(policy)  # the console: user_id = its connection's user

    await wait_for(lambda: len(handled) == 2, timeout=15)
    assert {e.event_id for e in handled} == {own.event_id, policy.event_id}
    dead = await dead_letters(rabbit_channel, topology.dlq(SCHEDULER_QUEUE), 2)
    reasons = {m.message_id: str((m.headers or {})[REASON_HEADER]) for m in dead}
    assert reasons == {
        str(foreign.event_id): (
            f"publisher '{northside.user}' may not speak for clinic '{LAKESIDE}'"
        ),
        str(anonymous.event_id): (
            "message has no user_id: set the user_id property to your RabbitMQ user name"
        ),
    }
    assert {(m.headers or {})[ERROR_HEADER] for m in dead} == {"TenantRefusedError"}


async def test_the_broker_refuses_a_forged_user_id_and_writes_outside_the_inbound_exchange(
    topology: Topology,
    rabbit_channel: AbstractChannel,
    tenants: tuple[Tenant, Tenant],
    consumer: tuple[Service, list[Any]],
) -> None:
    northside, lakeside = tenants
    _, handled = consumer
    forged = cancelled(LAKESIDE)
    async with await connect(northside) as connection:
        channel = await connection.channel()  # publisher confirms: the refusal is raised
        with pytest.raises(ChannelPreconditionFailed, match="user_id property set to"):
            await publish_event(channel, topology, forged, user_id=lakeside.user)
        # Past the check: straight into a queue, or into the requeue exchange.
        for exchange, key in (
            ("", topology.queue(SCHEDULER_QUEUE)),
            (topology.requeue_exchange, topology.queue(SCHEDULER_QUEUE)),
        ):
            channel = await connection.channel()
            target = await channel.get_exchange(exchange, ensure=False)
            message = aio_pika.Message(forged.model_dump_json().encode(), user_id=northside.user)
            with pytest.raises(ChannelAccessRefused):
                await target.publish(message, routing_key=key)
    queue = await rabbit_channel.declare_queue(topology.queue(SCHEDULER_QUEUE), passive=True)
    dlq = await rabbit_channel.declare_queue(topology.dlq(SCHEDULER_QUEUE), passive=True)
    assert queue.declaration_result.message_count == 0
    assert dlq.declaration_result.message_count == 0
    assert handled == []
