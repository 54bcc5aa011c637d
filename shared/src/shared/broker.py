"""RabbitMQ plumbing shared by the services: declaring the topology and publishing events."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from faststream.rabbit import (
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts.base import Event
from shared.metrics import (
    CLINIC_EVENT_TYPES,
    CLINIC_EVENTS,
    PUBLISH_FAILURES,
    clinic_label,
    event_type_label,
    publish_histogram,
    published_counter,
)
from shared.topology import PUBLISH_TO, RETRY_TIERS, Exchange, Topology

JSON = "application/json"


def rabbit_queue(topology: Topology, base: str) -> RabbitQueue:
    """The FastStream view of a consuming queue, with the same arguments we declare."""
    arguments: Any = topology.queue_arguments(base)  # a plain dict; the typed one is narrower
    return RabbitQueue(
        topology.queue(base), queue_type=QueueType.QUORUM, durable=True, arguments=arguments
    )


def rabbit_exchange(topology: Topology, exchange: Exchange) -> RabbitExchange:
    return RabbitExchange(topology.exchange(exchange), type=ExchangeType.TOPIC, durable=True)


async def declare_topology(
    channel: AbstractChannel, topology: Topology, queues: Iterable[str] = ()
) -> None:
    """Declare exchanges, retry tiers and the given consuming queues with their DLQs.

    Idempotent: every service declares what it consumes at start-up.
    """
    for exchange in Exchange:
        await channel.declare_exchange(
            topology.exchange(exchange), aio_pika.ExchangeType.TOPIC, durable=True
        )
    dlx = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    requeue = await channel.declare_exchange(
        topology.requeue_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    for tier in RETRY_TIERS:
        retry_x = await channel.declare_exchange(
            topology.retry_exchange(tier), aio_pika.ExchangeType.FANOUT, durable=True
        )
        wait = await channel.declare_queue(
            topology.retry_queue(tier),
            durable=True,
            arguments=topology.retry_queue_arguments(tier),
        )
        await wait.bind(retry_x, routing_key="")
        await _retire_legacy(channel, topology, tier, retry_x)
    for base in queues:
        spec = topology.queues[base]
        name = topology.queue(base)
        queue = await channel.declare_queue(
            name, durable=True, arguments=topology.queue_arguments(base)
        )
        for exchange, key in spec.bindings:
            await queue.bind(topology.exchange(exchange), routing_key=key.value)
        for exchange, key in spec.retired:  # unbinding what is not bound is a no-op
            await queue.unbind(topology.exchange(exchange), routing_key=key.value)
        await queue.bind(requeue, routing_key=name)
        dlq = await channel.declare_queue(
            topology.dlq(base), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dlx, routing_key=name)


async def _retire_legacy(
    channel: AbstractChannel, topology: Topology, tier: int, exchange: aio_pika.abc.AbstractExchange
) -> None:
    """Stop an earlier release's classic retry queue from receiving (else each retry would
    be delivered twice, once from each waiting room) and delete it once it is empty. It
    is declared with the arguments it always had, so this works whether it exists or not
    (a passive declare of a missing queue would close the channel)."""
    legacy = await channel.declare_queue(
        topology.legacy_retry_queue(tier),
        durable=True,
        arguments={
            "x-message-ttl": tier * 1000,
            "x-dead-letter-exchange": topology.requeue_exchange,
        },
    )
    await legacy.unbind(exchange, routing_key="")
    if legacy.declaration_result.message_count == 0:
        # Unbound, nothing can arrive any more. Messages still waiting expire back to
        # their queues; a later start deletes the queue then.
        await legacy.delete(if_unused=False, if_empty=False)


async def declare_with_connection(
    amqp_url: str, topology: Topology, queues: Iterable[str] = ()
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel, topology, queues)


async def delete_topology(amqp_url: str, topology: Topology) -> None:
    """Remove a namespace's exchanges and queues (test teardown)."""
    if not topology.namespace:
        raise ValueError("refusing to delete the production (un-namespaced) topology")
    exchanges, queues = topology.all_names()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)


def event_message(event: Event, user_id: str | None = None) -> aio_pika.Message:
    """An event as docs/integration.md asks an EHR to publish it: JSON, persistent, with
    the envelope's event id and correlation id as message properties, and ``user_id``
    (the connection's RabbitMQ user, which the broker verifies) when tenants are checked."""
    return aio_pika.Message(
        event.model_dump_json().encode(),
        content_type=JSON,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        user_id=user_id,
    )


async def publish_event(
    channel: AbstractChannel,
    topology: Topology,
    event: Event,
    *,
    user_id: str | None = None,
    **publish_args: Any,
) -> None:
    """Publish with plain aio-pika (no FastStream), as an integrator's client does, to
    every exchange the event's type travels on. ``user_id`` must be the connection's user
    (RabbitMQ closes the channel otherwise). ``publish_args`` go to aio-pika (for example
    ``mandatory=True`` or a ``timeout``); a confirming channel confirms each."""
    tag = event.type_tag()
    message = event_message(event, user_id)
    for exchange in PUBLISH_TO[tag]:
        target = await channel.get_exchange(topology.exchange(exchange), ensure=False)
        await target.publish(message, routing_key=tag, **publish_args)


class EventPublisher:
    """Publishes events to the exchanges their type belongs to, persistent and confirmed.

    A service names the event classes it publishes; each gets a FastStream publisher so
    that the service's AsyncAPI document lists exactly what it sends. ``user_id`` (the
    broker connection's user) goes on every message when tenants are checked, so that an
    event the service sends to the inbound exchange (the console's policy) names it.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        publishes: Iterable[type[Event]],
        *,
        user_id: str | None = None,
    ) -> None:
        # Per event type: (exchange, its publisher) for every exchange the type goes to.
        self._publishers: dict[str, list[tuple[Exchange, RabbitPublisher]]] = {}
        for cls in publishes:
            tag = cls.type_tag()
            self._publishers[tag] = [
                (
                    exchange,
                    broker.publisher(
                        exchange=rabbit_exchange(topology, exchange),
                        routing_key=tag,
                        schema=cls,
                        title=f"{topology.exchange(exchange)}:{tag}",
                        description=(cls.__doc__ or "").strip() or None,
                        persist=True,
                        mandatory=False,
                        content_type=JSON,
                        user_id=user_id,
                    ),
                )
                for exchange in PUBLISH_TO[tag]
            ]

    async def publish(self, event: Event) -> None:
        tag = event.type_tag()
        publishers = self._publishers.get(tag)
        if publishers is None:
            raise ValueError(f"{tag!r} is not declared in this service's publishes list")
        body = event.model_dump_json().encode()
        label = event_type_label(tag)
        for exchange, publisher in publishers:
            # Labelled by the exchange's base name: a namespace is not a dimension.
            started = time.perf_counter()
            try:
                await publisher.publish(
                    body, message_id=str(event.event_id), correlation_id=event.correlation_id
                )
            except Exception as exc:
                PUBLISH_FAILURES.labels(exchange.value, label, type(exc).__name__).inc()
                raise
            publish_histogram(exchange.value).observe(time.perf_counter() - started)
            published_counter(exchange.value, label).inc()
        if tag in CLINIC_EVENT_TYPES:
            CLINIC_EVENTS.labels(clinic_label(event.clinic_id), label).inc()
