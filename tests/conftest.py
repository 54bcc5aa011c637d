"""Fixtures for every test: a unique namespace on the real RabbitMQ and Redis, cleaned up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from shared.broker import delete_topology
from shared.topology import Topology
from tests.support.infra import AMQP_URL, REDIS_URL, delete_redis_namespace, unique_namespace


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def namespace() -> str:
    return unique_namespace()


@pytest.fixture
async def topology(namespace: str) -> AsyncIterator[Topology]:
    """A namespaced topology; its exchanges and queues are deleted after the test."""
    yield Topology(namespace=namespace)
    await delete_topology(AMQP_URL, Topology(namespace=namespace))


@pytest.fixture
async def redis(namespace: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()
    await delete_redis_namespace(REDIS_URL, namespace)


@pytest.fixture
async def rabbit_channel() -> AsyncIterator[AbstractChannel]:
    """A plain aio-pika channel, as an EHR integrator would use."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        yield await connection.channel()
