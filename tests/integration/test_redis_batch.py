"""Concurrent callers' round trips go to the real Redis as one pipeline, and each caller
gets its own replies and errors (shared.redis_batch)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, ResponseError

from shared import redis_batch
from shared.service import connect_redis, eval_together
from tests.support.infra import REDIS_URL

pytestmark = pytest.mark.integration

# Returns its key's new value, and fails on a key holding a non-number.
INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
async def client(namespace: str) -> Any:
    redis = connect_redis(REDIS_URL, max_connections=4)
    yield redis
    await redis.aclose()


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each pipeline sent."""
    sizes: list[int] = []
    execute = Pipeline.execute

    async def counted(self: Pipeline, raise_on_error: bool = True) -> Any:
        sizes.append(len(self.command_stack))
        return await execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", counted)
    return sizes


async def test_callers_of_one_loop_turn_share_one_round_trip(
    client: Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = client.register_script(INCR)
    await client.script_load(INCR)
    clinics = [str(uuid.uuid4()) for _ in range(30)]
    sizes = counting(monkeypatch)

    async def caller(i: int, clinic: str) -> tuple[Any, ...]:
        key = f"{namespace}:{clinic}:count"
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(f"{namespace}:{clinic}:name", f"clinic {i}")
            pipe.get(f"{namespace}:{clinic}:name")
            first = await redis_batch.execute(client, pipe)
        [second] = await eval_together(client, [(script, [key], [i + 1])])
        return (*first, second)

    results = await asyncio.gather(*(caller(i, c) for i, c in enumerate(clinics)))
    assert results == [(True, f"clinic {i}".encode(), i + 1) for i in range(30)]
    # Thirty callers, two round trips each: two pipelines in all, of 60 and 30 commands.
    assert sizes == [60, 30]


async def test_a_reply_error_stays_with_its_caller(client: Redis, namespace: str) -> None:
    script = client.register_script(INCR)
    await client.script_load(INCR)
    text = f"{namespace}:{uuid.uuid4()}:text"
    await client.set(text, "not a number")

    async def good(i: int) -> Any:
        return await eval_together(client, [(script, [f"{namespace}:{uuid.uuid4()}"], [i])])

    async def bad() -> Any:
        return await eval_together(client, [(script, [text], [1])])

    async def raising() -> Any:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(text)
            return await redis_batch.execute(client, pipe)

    results = await asyncio.gather(good(1), bad(), raising(), good(2), return_exceptions=True)
    assert results[0] == [1]
    assert isinstance(results[1], ResponseError)
    assert isinstance(results[2], ResponseError)
    assert results[3] == [2]


async def test_a_script_redis_forgot_is_loaded_and_run_once(client: Redis, namespace: str) -> None:
    """A restarted Redis has no scripts: eval_together loads it and runs that call alone."""
    body = f"{INCR} -- {uuid.uuid4()}"  # a script this Redis has never seen
    script = client.register_script(body)
    key = f"{namespace}:{uuid.uuid4()}"
    results = await asyncio.gather(
        *(eval_together(client, [(script, [key], [1])]) for _ in range(5))
    )
    assert sorted(r[0] for r in results) == [1, 2, 3, 4, 5]
    assert int(await client.get(key) or 0) == 5
    assert not any(isinstance(r[0], NoScriptError) for r in results)


async def test_a_cancelled_caller_does_not_disturb_the_others(
    client: Redis, namespace: str
) -> None:
    keys = [f"{namespace}:{uuid.uuid4()}" for _ in range(3)]

    async def caller(key: str) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            return await redis_batch.execute(client, pipe)

    tasks = [asyncio.ensure_future(caller(k)) for k in keys]
    await asyncio.sleep(0)  # all three are queued for the same batch
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] == [1]
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[2] == [1]


async def test_callers_arriving_while_a_batch_is_on_its_way_go_together_next(
    client: Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = counting(monkeypatch)

    async def caller(key: str) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            return await redis_batch.execute(client, pipe)

    keys = [f"{namespace}:{uuid.uuid4()}" for _ in range(11)]
    first = asyncio.ensure_future(caller(keys[0]))
    for _ in range(3):  # the first one's batch is sent and waits for its reply
        await asyncio.sleep(0)
    rest = [asyncio.ensure_future(caller(k)) for k in keys[1:]]
    assert await asyncio.gather(first, *rest) == [[1]] * 11
    assert sizes == [1, 10]
