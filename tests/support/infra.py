"""Where the real servers are, and how to keep tests apart on them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable

AMQP_URL = os.environ.get("BS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("BS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Tests and benches run on the built-in dev-only secrets (the services refuse them
# otherwise); service processes they start inherit this.
os.environ.setdefault("BS_DEV_MODE", "true")


def unique_namespace(prefix: str = "t") -> str:
    """A namespace for exchanges, queues and Redis keys that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Poll until ``predicate`` is true; fail with a clear message on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def delete_redis_namespace(redis_url: str, namespace: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        # Hash-tagged keys ({...}) are still under the namespace prefix.
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


async def rabbit_presence(
    amqp_url: str, queues: Iterable[str] = (), exchanges: Iterable[str] = ()
) -> dict[str, int | None]:
    """Per name: a queue's consumer count, 0 for an exchange, None when it does not exist.
    Each passive check gets a fresh channel: a missing object closes the channel that asked."""
    import aio_pika

    found: dict[str, int | None] = {}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        checks = [(name, True) for name in queues] + [(name, False) for name in exchanges]
        for name, is_queue in checks:
            channel = await connection.channel()
            try:
                if is_queue:
                    declared = await channel.declare_queue(name, passive=True)
                    found[name] = int(declared.declaration_result.consumer_count or 0)
                else:
                    await channel.get_exchange(name, ensure=True)
                    found[name] = 0
            except aio_pika.exceptions.ChannelClosed:
                found[name] = None
            finally:
                if not channel.is_closed:
                    await channel.close()
    return found
