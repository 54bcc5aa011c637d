"""The shared messaging rules against the real RabbitMQ: routing, dead letters, retries."""

from __future__ import annotations

import json
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from faststream import AckPolicy
from prometheus_client import generate_latest

from shared.broker import declare_topology, rabbit_queue
from shared.contracts import ActivityCancelled, ClinicPolicyChanged, new_envelope
from shared.contracts.examples import examples
from shared.errors import PermanentError, TransientError
from shared.handling import ATTEMPT_HEADER, REASON_HEADER, ROUTING_KEY_HEADER, make_broker
from shared.topology import (
    NOTIFIER_DIRECTORY_QUEUE,
    NOTIFIER_REMINDERS_QUEUE,
    QUEUES,
    RETRY_TIERS,
    SCHEDULER_QUEUE,
    TRACKER_QUEUE,
    Topology,
)
from tests.support.infra import AMQP_URL, wait_for

pytestmark = pytest.mark.integration


async def publish_raw(channel: AbstractChannel, exchange: str, key: str, body: bytes) -> None:
    target = await channel.get_exchange(exchange)
    await target.publish(aio_pika.Message(body, content_type="application/json"), routing_key=key)


async def depth(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def drain(channel: AbstractChannel, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    q = await channel.declare_queue(queue, passive=True)
    got = []
    while (message := await q.get(fail=False)) is not None:
        await message.ack()
        got.append(message)
    return got


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("activity.assigned", {SCHEDULER_QUEUE, TRACKER_QUEUE}),
        ("client.preferences.changed", {SCHEDULER_QUEUE, NOTIFIER_DIRECTORY_QUEUE}),
        ("clinic.policy.changed", {SCHEDULER_QUEUE, NOTIFIER_DIRECTORY_QUEUE, TRACKER_QUEUE}),
        ("session.upcoming", {TRACKER_QUEUE}),
    ],
)
async def test_ehr_events_from_a_plain_client_reach_the_documented_queues(
    topology: Topology, rabbit_channel: AbstractChannel, tag: str, expected: set[str]
) -> None:
    await declare_topology(rabbit_channel, topology, QUEUES)
    body = examples()[tag].model_dump_json().encode()
    await publish_raw(rabbit_channel, topology.exchange("bs.ehr.inbound"), tag, body)
    reached = set()
    for base in QUEUES:
        messages = await drain(rabbit_channel, topology.queue(base))
        assert all(m.body == body for m in messages)
        if messages:
            reached.add(base)
    assert reached == expected
    assert NOTIFIER_REMINDERS_QUEUE not in reached


class Recorder:
    """A tiny consumer on the scheduler's queue that behaves as told per assignment id."""

    def __init__(self, topology: Topology, max_attempts: int = 3) -> None:
        self.broker = make_broker(AMQP_URL, topology, max_attempts=max_attempts)
        self.handled: list[str] = []
        self.failures: dict[str, int] = {}
        self.queue = topology.queue(SCHEDULER_QUEUE)

        @self.broker.subscriber(
            rabbit_queue(topology, SCHEDULER_QUEUE), ack_policy=AckPolicy.NACK_ON_ERROR
        )
        async def handle(event: ActivityCancelled | ClinicPolicyChanged) -> None:
            key = getattr(event, "assignment_id", "policy")
            if key.startswith("permanent"):
                raise PermanentError(f"assignment {key} cannot be planned: no such clinic")
            if self.failures.get(key, 0) > 0:
                self.failures[key] -= 1
                raise TransientError("provider busy", retry_after=0.1)
            self.handled.append(key)

    async def __aenter__(self) -> Recorder:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.broker.stop()


def cancelled(assignment_id: str) -> bytes:
    return (
        ActivityCancelled(
            **new_envelope(),
            clinic_id="c1",
            assignment_id=assignment_id,
            version=2,
            client_ref="cl1",
        )
        .model_dump_json()
        .encode()
    )


async def test_malformed_messages_are_dead_lettered_with_a_reason_and_consuming_goes_on(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    inbound = topology.exchange("bs.ehr.inbound")
    naive = json.loads(cancelled("a-naive"))
    naive["occurred_at"] = "2026-11-21T09:00:00"
    async with Recorder(topology) as recorder:
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", b"{not json")
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", json.dumps(naive).encode())
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", cancelled("permanent-1"))
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", cancelled("good-1"))
        await wait_for(lambda: recorder.handled == ["good-1"])
        dlq = topology.dlq(SCHEDULER_QUEUE)
        await wait_for(lambda: _depth_is(rabbit_channel, dlq, 3), timeout=5)
        dead = await drain(rabbit_channel, dlq)
    reasons = [str((m.headers or {})[REASON_HEADER]) for m in dead]
    assert any(r.startswith("body is not valid JSON") for r in reasons)
    assert any("occurred_at" in r and "time zone offset" in r for r in reasons)
    assert any("no such clinic" in r for r in reasons)
    assert all((m.headers or {})["x-bs-source-queue"] == recorder.queue for m in dead)
    assert await depth(rabbit_channel, recorder.queue) == 0


async def _depth_is(channel: AbstractChannel, queue: str, n: int) -> bool:
    return await depth(channel, queue) == n


async def test_transient_errors_are_redelivered_later_and_then_succeed(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    async with Recorder(topology, max_attempts=5) as recorder:
        recorder.failures["flaky"] = 2
        await publish_raw(
            rabbit_channel,
            topology.exchange("bs.ehr.inbound"),
            "activity.cancelled",
            cancelled("flaky"),
        )
        await wait_for(lambda: recorder.handled == ["flaky"], timeout=20)
    assert await depth(rabbit_channel, topology.dlq(SCHEDULER_QUEUE)) == 0


async def test_retry_budget_spent_ends_in_the_dead_letter_queue_with_the_last_error(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    dlq = topology.dlq(SCHEDULER_QUEUE)
    async with Recorder(topology, max_attempts=2) as recorder:
        recorder.failures["hopeless"] = 100
        await publish_raw(
            rabbit_channel,
            topology.exchange("bs.ehr.inbound"),
            "activity.cancelled",
            cancelled("hopeless"),
        )
        await wait_for(lambda: _depth_is(rabbit_channel, dlq, 1), timeout=20)
    [dead] = await drain(rabbit_channel, dlq)
    headers = dead.headers or {}
    assert "gave up after 2 attempts" in str(headers[REASON_HEADER])
    assert "provider busy" in str(headers[REASON_HEADER])
    assert headers[ATTEMPT_HEADER] == 1
    assert recorder.handled == []


async def test_too_deep_and_too_large_bodies_are_dead_lettered_at_once_with_the_limit(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    """A 5,000-deep body once raised RecursionError and was retried for minutes."""
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    inbound = topology.exchange("bs.ehr.inbound")
    deep = b'{"type": "activity.cancelled", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    padded = cancelled("big-1") + b" " * (300 * 1024)  # valid JSON, but over the size cap
    dlq = topology.dlq(SCHEDULER_QUEUE)
    async with Recorder(topology, max_attempts=3) as recorder:
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", deep)
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", padded)
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", cancelled("good-2"))
        await wait_for(lambda: recorder.handled == ["good-2"])
        await wait_for(lambda: _depth_is(rabbit_channel, dlq, 2), timeout=3)
        dead = await drain(rabbit_channel, dlq)
    reasons = sorted(str((m.headers or {})[REASON_HEADER]) for m in dead)
    assert reasons == [
        f"body is {len(padded)} bytes, over the limit of 262144 bytes",
        "body nests JSON objects/arrays deeper than the limit of 32 levels",
    ]
    # First attempt: no retry header, nothing waiting in a retry tier.
    assert all(ATTEMPT_HEADER not in (m.headers or {}) for m in dead)
    assert {m.body for m in dead} == {deep, padded}
    for tier in RETRY_TIERS:
        assert await depth(rabbit_channel, topology.retry_queue(tier)) == 0


async def test_an_ehr_event_without_its_event_id_is_dead_lettered_naming_the_field(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    """A missing event_id was once replaced by a random one, so a re-send was applied twice."""
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    inbound = topology.exchange("bs.ehr.inbound")
    no_id = json.loads(cancelled("no-id"))
    del no_id["event_id"]
    dlq = topology.dlq(SCHEDULER_QUEUE)
    async with Recorder(topology) as recorder:
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", json.dumps(no_id).encode())
        await publish_raw(rabbit_channel, inbound, "activity.cancelled", cancelled("good-3"))
        await wait_for(lambda: recorder.handled == ["good-3"])
        await wait_for(lambda: _depth_is(rabbit_channel, dlq, 1), timeout=3)
        [dead] = await drain(rabbit_channel, dlq)
    headers = dead.headers or {}
    assert "event_id: Field required" in str(headers[REASON_HEADER])
    assert ATTEMPT_HEADER not in headers


async def test_a_routing_key_header_a_sender_made_up_is_counted_as_other(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    """Label values never come from a sender: a forged header would grow the series."""
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    exchange = await rabbit_channel.get_exchange(topology.exchange("bs.ehr.inbound"))
    forged = "made-up-type-" + topology.namespace
    message = aio_pika.Message(
        cancelled("forged-1"),
        content_type="application/json",
        headers={ROUTING_KEY_HEADER: forged},
    )
    async with Recorder(topology) as recorder:
        await exchange.publish(message, routing_key="activity.cancelled")
        await wait_for(lambda: recorder.handled == ["forged-1"])
    text = generate_latest().decode()
    queue = f'queue="{recorder.queue}"'
    counted = [line for line in text.splitlines() if queue in line and "handled_total{" in line]
    assert any('event_type="other"' in line for line in counted), counted
    assert forged not in text


async def test_retry_tiers_wait_in_quorum_queues_and_the_classic_ones_are_retired(
    topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    """A classic retry queue lives on one cluster node: while that node was down, a retry
    published to it was confirmed and dropped. The tiers now wait in quorum queues; an
    upgrade unbinds the old classic queue (no retry delivered twice) and deletes it once
    it is empty."""
    tier = RETRY_TIERS[0]
    exchange = await rabbit_channel.declare_exchange(
        topology.retry_exchange(tier), aio_pika.ExchangeType.FANOUT, durable=True
    )
    legacy = await rabbit_channel.declare_queue(  # as the previous release declared it
        topology.legacy_retry_queue(tier),
        durable=True,
        arguments={
            "x-message-ttl": tier * 1000,
            "x-dead-letter-exchange": topology.requeue_exchange,
        },
    )
    await legacy.bind(exchange, routing_key="")
    await declare_topology(rabbit_channel, topology, [SCHEDULER_QUEUE])
    await exchange.publish(aio_pika.Message(b"{}"), routing_key="")
    assert await depth(rabbit_channel, topology.retry_queue(tier)) == 1
    async with await aio_pika.connect(AMQP_URL) as connection:  # deleted: passive fails
        side = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await side.declare_queue(topology.legacy_retry_queue(tier), passive=True)
    hold = await rabbit_channel.declare_queue(
        topology.retry_queue(tier), durable=True, arguments=topology.retry_queue_arguments(tier)
    )
    assert hold.declaration_result.message_count == 1
