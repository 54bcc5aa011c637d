"""The services' Redis client waits for a free pooled connection instead of failing."""

from __future__ import annotations

import asyncio

import pytest

from shared.service import connect_redis
from tests.support.infra import REDIS_URL, unique_namespace

pytestmark = pytest.mark.integration


async def test_more_concurrent_commands_than_connections_wait_their_turn() -> None:
    client = connect_redis(REDIS_URL, max_connections=2)
    empty = f"{unique_namespace()}:never-filled"
    try:
        # Each BLPOP holds its connection for 0.1 s; ten of them share two connections.
        results = await asyncio.gather(*(client.blpop([empty], timeout=0.1) for _ in range(10)))
    finally:
        await client.aclose()
    assert results == [None] * 10
