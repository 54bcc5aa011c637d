"""The dead-letter tool against the real RabbitMQ and Redis: list, replay, discard, CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from faststream import AckPolicy
from redis.asyncio import Redis

from shared.broker import declare_with_connection, delete_topology, rabbit_queue
from shared.contracts import ActivityCancelled, new_envelope
from shared.contracts.examples import examples
from shared.dead_letters import (
    DeadLetterError,
    Selection,
    audit_stream,
    discard,
    list_dead_letters,
    replay,
)
from shared.errors import PermanentError
from shared.handling import (
    ATTEMPT_HEADER,
    DEAD_AT_HEADER,
    ERROR_HEADER,
    LAST_ERROR_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
    make_broker,
)
from shared.topology import (
    DELIVERY_LIMIT,
    NOTIFIER_DIRECTORY_QUEUE,
    SCHEDULER_QUEUE,
    Exchange,
    Topology,
)
from tests.support.infra import AMQP_URL, REDIS_URL, delete_redis_namespace, wait_for

pytestmark = pytest.mark.integration

PHONE = "+15005550199"
EMAIL = "jordan.client@example.org"
BASE = NOTIFIER_DIRECTORY_QUEUE
GAVE_UP = "gave up after 8 attempts; last error: TransientError: provider timeout"
REFUSED = "clinic_id: Field required"


@dataclass
class Env:
    topology: Topology
    channel: AbstractChannel
    redis: Redis
    redis_prefix: str


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    topology = Topology(namespace=f"dlq-{uuid4().hex[:8]}")
    await declare_with_connection(AMQP_URL, topology, [BASE, SCHEDULER_QUEUE])
    redis = Redis.from_url(REDIS_URL)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        async with connection:
            yield Env(topology, await connection.channel(), redis, f"{topology.namespace}:bs")
    finally:
        await redis.aclose()
        await delete_redis_namespace(REDIS_URL, topology.namespace)
        await delete_topology(AMQP_URL, topology)


def preferences_body() -> bytes:
    """A real client.preferences.changed with contact points that must never be shown."""
    event = examples()["client.preferences.changed"]
    data = json.loads(event.model_dump_json())
    data.update(event_id=str(uuid4()), correlation_id=str(uuid4()), client_ref=f"cl-{uuid4()}")
    data["contacts"] = {"sms": PHONE, "email": EMAIL, "push": None}
    return json.dumps(data).encode()


def cancelled_body(assignment_id: str | None = None) -> bytes:
    event = ActivityCancelled(
        **new_envelope(),
        clinic_id="clinic-001",
        assignment_id=assignment_id or f"asg-{uuid4()}",
        version=2,
        client_ref=f"cl-{uuid4()}",
    )
    return event.model_dump_json().encode()


async def dead_letter(
    env: Env,
    body: bytes,
    routing_key: str,
    reason: str = GAVE_UP,
    error_type: str = "TransientError",
    base: str = BASE,
) -> str:
    """Put a message in ``<base>.dlq`` the way the handling middleware does."""
    message_id = json.loads(body)["event_id"]
    queue = env.topology.queue(base)
    headers: dict[str, Any] = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ATTEMPT_HEADER: 7,
        LAST_ERROR_HEADER: "TransientError: provider timeout",
        REASON_HEADER: reason,
        ERROR_HEADER: error_type,
        QUEUE_HEADER: queue,
        ROUTING_KEY_HEADER: routing_key,
        DEAD_AT_HEADER: datetime.now(UTC).isoformat(),
    }
    message = aio_pika.Message(
        body,
        headers=headers,
        message_id=message_id,
        correlation_id=json.loads(body)["correlation_id"],
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    exchange = await env.channel.get_exchange(env.topology.dead_letter_exchange)
    await exchange.publish(message, routing_key=queue)
    return str(message_id)


async def drain(env: Env, queue: str) -> list[AbstractIncomingMessage]:
    declared = await env.channel.declare_queue(queue, passive=True)
    got = []
    while (message := await declared.get(fail=False)) is not None:
        await message.ack()
        got.append(message)
    return got


async def audit_entries(env: Env) -> list[dict[str, str]]:
    records: Any = await env.redis.xrange(audit_stream(env.redis_prefix))
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in records]


async def depth(env: Env, queue: str) -> int:
    declared = await env.channel.declare_queue(queue, passive=True)
    return declared.declaration_result.message_count or 0


async def three_dead_letters(env: Env) -> list[str]:
    return [
        await dead_letter(env, preferences_body(), "client.preferences.changed"),
        await dead_letter(
            env, cancelled_body(), "activity.cancelled", REFUSED, error_type="ValidationError"
        ),
        await dead_letter(env, preferences_body(), "client.preferences.changed"),
    ]


async def test_listing_shows_reasons_redacts_bodies_and_keeps_every_message_in_order(
    env: Env,
) -> None:
    sent = await three_dead_letters(env)
    listing = await list_dead_letters(AMQP_URL, env.topology, BASE, limit=10)
    assert [e.message_id for e in listing.entries] == sent
    assert listing.depth == 3
    first, second, _ = listing.entries
    assert first.reason == GAVE_UP
    assert first.error_type == "TransientError"
    assert first.routing_key == "client.preferences.changed"
    assert first.source_queue == env.topology.queue(BASE)
    assert first.attempt == 7
    assert first.dead_lettered_at is not None
    assert second.error_type == "ValidationError"
    for entry in listing.entries:
        assert PHONE not in entry.body
        assert EMAIL not in entry.body
        assert entry.message_id is not None
        assert entry.message_id in entry.body  # the event id is shown, not redacted
    assert '"contacts": "[redacted]"' in first.body
    # Listing only the first one still takes (and gives back) the whole queue.
    again = await list_dead_letters(AMQP_URL, env.topology, BASE, limit=1)
    assert [e.id for e in again.entries] == [first.id]
    left = await drain(env, env.topology.dlq(BASE))
    assert [m.message_id for m in left] == sent


async def test_replaying_one_by_id_puts_it_back_on_its_queue_with_the_attempts_reset(
    env: Env,
) -> None:
    sent = await three_dead_letters(env)
    listing = await list_dead_letters(AMQP_URL, env.topology, BASE)
    chosen = listing.entries[1]
    outcome = await replay(AMQP_URL, env.topology, BASE, Selection(ids=frozenset({chosen.id})))
    assert [e.id for e in outcome.done] == [chosen.id]
    assert outcome.error is None
    [back] = await drain(env, env.topology.queue(BASE))
    headers = back.headers or {}
    assert ATTEMPT_HEADER not in headers
    assert REASON_HEADER not in headers
    assert QUEUE_HEADER not in headers
    assert headers[ROUTING_KEY_HEADER] == "activity.cancelled"
    assert headers["x-bs-replays"] == 1
    assert str(headers["traceparent"]).startswith("00-0af7")
    assert back.message_id == sent[1]
    assert back.correlation_id == json.loads(back.body)["correlation_id"]
    assert back.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    left = await drain(env, env.topology.dlq(BASE))
    assert [m.message_id for m in left] == [sent[0], sent[2]]


async def test_replaying_by_filter_takes_only_the_matching_messages(env: Env) -> None:
    sent = await three_dead_letters(env)
    by_reason = Selection(reason_contains="PROVIDER TIMEOUT")
    outcome = await replay(AMQP_URL, env.topology, BASE, by_reason)
    assert [e.message_id for e in outcome.done] == [sent[0], sent[2]]
    replayed = await drain(env, env.topology.queue(BASE))
    assert [m.message_id for m in replayed] == [sent[0], sent[2]]
    by_key = Selection(routing_key="client.preferences.changed")
    nothing = await replay(AMQP_URL, env.topology, BASE, by_key)
    assert nothing.matched == nothing.done == ()
    assert [m.message_id for m in await drain(env, env.topology.dlq(BASE))] == [sent[1]]


async def test_an_empty_selection_is_refused(env: Env) -> None:
    await three_dead_letters(env)
    with pytest.raises(DeadLetterError, match="select messages"):
        await replay(AMQP_URL, env.topology, BASE, Selection())
    assert await depth(env, env.topology.dlq(BASE)) == 3


async def test_a_replay_the_broker_cannot_route_stops_and_leaves_the_dlq_as_it_was(
    env: Env,
) -> None:
    sent = await three_dead_letters(env)
    queue = await env.channel.declare_queue(env.topology.queue(BASE), passive=True)
    await queue.unbind(env.topology.requeue_exchange, routing_key=queue.name)
    outcome = await replay(AMQP_URL, env.topology, BASE, Selection(everything=True))
    assert outcome.done == ()
    assert outcome.error is not None
    assert "not replayed" in outcome.error
    assert [m.message_id for m in await drain(env, env.topology.dlq(BASE))] == sent


async def test_a_discard_that_cannot_be_recorded_discards_nothing(env: Env) -> None:
    sent = await three_dead_letters(env)
    unreachable = Redis.from_url("redis://127.0.0.1:1/0")
    try:
        outcome = await discard(
            AMQP_URL,
            env.topology,
            BASE,
            Selection(everything=True),
            reason="cleanup",
            who="ops",
            redis=unreachable,
            redis_prefix=env.redis_prefix,
        )
    finally:
        await unreachable.aclose()
    assert outcome.done == ()
    assert outcome.error is not None
    assert [m.message_id for m in await drain(env, env.topology.dlq(BASE))] == sent


async def test_discarding_records_who_and_why_without_the_body(env: Env) -> None:
    sent = await three_dead_letters(env)
    outcome = await discard(
        AMQP_URL,
        env.topology,
        BASE,
        Selection(error_type="TransientError"),
        reason="client deleted in the EHR",
        who="ops-anna",
        redis=env.redis,
        redis_prefix=env.redis_prefix,
    )
    assert [e.message_id for e in outcome.done] == [sent[0], sent[2]]
    assert [m.message_id for m in await drain(env, env.topology.dlq(BASE))] == [sent[1]]
    fields = await audit_entries(env)
    assert [f["message_id"] for f in fields] == [sent[0], sent[2]]
    first = fields[0]
    assert first["who"] == "ops-anna"
    assert first["reason"] == "client deleted in the EHR"
    assert first["dead_letter_reason"] == GAVE_UP
    assert first["routing_key"] == "client.preferences.changed"
    assert first["source_queue"] == env.topology.queue(BASE)
    text = json.dumps(fields)
    assert PHONE not in text
    assert "contacts" not in text
    assert "body" not in first


async def test_a_message_the_broker_dead_lettered_shows_what_is_known_and_replays(
    env: Env,
) -> None:
    """A consumer that never acks: the quorum queue's delivery limit dead-letters it."""
    body = cancelled_body()
    inbound = await env.channel.get_exchange(env.topology.exchange(Exchange.INBOUND))
    message_id = json.loads(body)["event_id"]
    await inbound.publish(
        aio_pika.Message(body, message_id=message_id), routing_key="activity.cancelled"
    )
    queue = await env.channel.declare_queue(env.topology.queue(BASE), passive=True)
    for _ in range(DELIVERY_LIMIT + 1):
        got = await queue.get(no_ack=False, fail=False)
        if got is None:
            break
        await got.nack(requeue=True)
    await wait_for(lambda: _depth_is(env, env.topology.dlq(BASE), 1), timeout=5)
    [entry] = (await list_dead_letters(AMQP_URL, env.topology, BASE)).entries
    assert entry.origin == "broker"
    assert entry.error_type == "delivery_limit"
    assert "delivered 20 times" in entry.reason
    assert entry.routing_key == "activity.cancelled"
    assert entry.source_queue == env.topology.queue(BASE)
    assert entry.dead_lettered_at is not None
    await replay(AMQP_URL, env.topology, BASE, Selection(everything=True))
    [back] = await drain(env, env.topology.queue(BASE))
    headers = back.headers or {}
    assert back.message_id == message_id
    assert headers[ROUTING_KEY_HEADER] == "activity.cancelled"
    assert not [k for k in headers if k.startswith(("x-death", "x-first-death"))]
    assert headers.get("x-delivery-count", 0) == 0  # the quorum queue counts afresh


async def _depth_is(env: Env, queue: str, n: int) -> bool:
    return await depth(env, queue) == n


async def test_a_replayed_message_goes_through_the_normal_path_as_its_event_type(
    env: Env,
) -> None:
    """Dead-lettered by the real middleware, then replayed once the cause is fixed: the
    handler gets it, and the middleware sees it as an activity.cancelled again."""
    broker = make_broker(AMQP_URL, env.topology, max_attempts=3)
    refuse = True
    handled: list[tuple[str, str]] = []

    @broker.subscriber(
        rabbit_queue(env.topology, SCHEDULER_QUEUE), ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def handle(event: ActivityCancelled) -> None:
        if refuse:
            raise PermanentError("no such clinic")
        event_type = structlog.contextvars.get_contextvars()["event_type"]
        handled.append((event.assignment_id, event_type))

    await broker.start()
    try:
        inbound = await env.channel.get_exchange(env.topology.exchange(Exchange.INBOUND))
        await inbound.publish(
            aio_pika.Message(cancelled_body("asg-replayed")), routing_key="activity.cancelled"
        )
        dlq = env.topology.dlq(SCHEDULER_QUEUE)
        await wait_for(lambda: _depth_is(env, dlq, 1), timeout=10)
        [entry] = (await list_dead_letters(AMQP_URL, env.topology, SCHEDULER_QUEUE)).entries
        assert entry.reason == "no such clinic"
        refuse = False
        await replay(AMQP_URL, env.topology, SCHEDULER_QUEUE, Selection(everything=True))
        await wait_for(lambda: bool(handled), timeout=10)
    finally:
        await broker.stop()
    assert handled == [("asg-replayed", "activity.cancelled")]
    assert await depth(env, env.topology.dlq(SCHEDULER_QUEUE)) == 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.dlq_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_cli_lists_as_json_replays_all_and_discards_on_record(env: Env) -> None:
    sent = await three_dead_letters(env)
    common = ("--namespace", env.topology.namespace, "--amqp-url", AMQP_URL)
    listed = await asyncio.to_thread(run_cli, "list", "--queue", BASE, "--json", *common)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [e["message_id"] for e in data["entries"]] == sent
    assert data["entries"][0]["reason"] == GAVE_UP
    assert PHONE not in listed.stdout
    assert PHONE not in listed.stderr

    dropped = await asyncio.to_thread(
        run_cli, "discard", "--queue", BASE, "--id", data["entries"][1]["id"],
        "--reason", "sender bug", "--who", "ops-cli", "--redis-url", REDIS_URL, *common,
    )  # fmt: skip
    assert dropped.returncode == 0, dropped.stderr
    assert "discarded 1 of 1" in dropped.stdout
    [record] = await audit_entries(env)
    assert record["who"] == "ops-cli"

    replayed = await asyncio.to_thread(run_cli, "replay", "--queue", BASE, "--all", *common)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 of 2" in replayed.stdout
    back = await drain(env, env.topology.queue(BASE))
    assert [m.message_id for m in back] == [sent[0], sent[2]]

    empty = await asyncio.to_thread(run_cli, "replay", "--queue", BASE, "--all", *common)
    assert empty.returncode == 1
    assert "nothing in" in empty.stderr


def test_the_cli_refuses_an_unknown_queue_and_a_missing_selection() -> None:
    unknown = run_cli("list", "--queue", "notifier.remindrs")
    assert unknown.returncode == 2
    assert "notifier.reminders" in unknown.stderr
    unselected = run_cli("replay", "--queue", "notifier.reminders")
    assert unselected.returncode == 2
    assert "--id, --all, or a filter" in unselected.stderr
    no_reason = run_cli("discard", "--queue", "notifier.reminders", "--all")
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
