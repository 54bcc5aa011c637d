"""Round trips of concurrent callers to one Redis, sent as one pipeline.

A consumer handles up to its prefetch of messages at once, and each handler makes its
own round trips (a load, a commit). Over loopback TCP every round trip costs a write and
a read on both ends, and on the delivery path those system calls cost more CPU than the
commands themselves (``bench/pipeline_bench.py`` profiles: a sixth of the notifier's and
the tracker's CPU went to socket writes). So callers' commands are sent together, as
clients with auto-pipelining do: while one batch is on its way, the commands queued
meanwhile wait and go out as the next batch, in one write and one read, and each caller
gets back its own replies, in its own order. A caller alone is sent on the next turn of
the event loop; under load a caller waits at most for the batch in flight.

What each caller relied on still holds: a script runs atomically, a caller's commands
run in its order, and a non-transactional pipeline never promised more than that (other
clients' commands could always interleave). A reply error stays with its caller; a
connection error reaches every caller of the batch, as it would have reached each of
their own pipelines (redis-py's retry re-sends the whole batch, as it re-sent theirs).
On a cluster a pipeline is split per node by redis-py: cluster pipelines go as they are.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ResponseError

MAX_COMMANDS = 1000  # per batch: a larger one only delays its first caller's replies

Waiting = tuple[list[Any], asyncio.Future[list[Any]]]


class Batcher:
    """One Redis client's batches (``execute`` finds it)."""

    def __init__(self, redis: Redis) -> None:
        # Weak: the batcher is kept in a dict keyed by the client (see ``_batchers``).
        self._redis = weakref.ref(redis)
        self._waiting: deque[Waiting] = deque()
        self._scripts: set[Any] = set()
        self._in_flight: asyncio.Task[None] | None = None
        self._scheduled = False

    async def execute(self, pipe: Pipeline) -> list[Any]:
        """``pipe``'s replies, reply errors in place (``raise_on_error=False``)."""
        stack = list(pipe.command_stack)
        if not stack:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._waiting.append((stack, future))
        self._scripts |= pipe.scripts
        if self._in_flight is not None and self._in_flight.get_loop() is not loop:
            self._in_flight = None  # a batch of a loop that is gone (tests): never settles
        if self._in_flight is None and not self._scheduled:
            # The next turn: the other handlers woken in this one add theirs.
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        if self._in_flight is not None or not self._waiting:
            return
        batch: list[Waiting] = []
        size = 0
        while self._waiting and (not batch or size + len(self._waiting[0][0]) <= MAX_COMMANDS):
            item = self._waiting.popleft()
            batch.append(item)
            size += len(item[0])
        scripts, self._scripts = self._scripts, set()
        task = asyncio.ensure_future(_execute(self._redis(), batch, scripts))
        self._in_flight = task  # held until done: a bare task may be collected mid-flight
        task.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Task[None]) -> None:
        self._in_flight = None
        self._flush()  # what queued up meanwhile


async def _execute(redis: Redis | None, batch: list[Waiting], scripts: set[Any]) -> None:
    if redis is None:  # collected: no caller of it can be waiting any more
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.command_stack = [command for stack, _ in batch for command in stack]
            pipe.scripts = scripts
            replies = await pipe.execute(raise_on_error=False)
    except asyncio.CancelledError:  # shutting down: the callers are cancelled too
        for _, future in batch:
            future.cancel()
        raise
    except Exception as exc:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
        return
    start = 0
    for stack, future in batch:
        if not future.done():  # a cancelled caller's replies are dropped
            future.set_result(replies[start : start + len(stack)])
        start += len(stack)


_batchers: weakref.WeakKeyDictionary[Redis, Batcher] = weakref.WeakKeyDictionary()


async def execute(
    redis: Redis | RedisCluster, pipe: Pipeline | ClusterPipeline, *, raise_on_error: bool = True
) -> list[Any]:
    """What ``pipe.execute`` returns, with ``pipe``'s commands sent in one batch with
    those other callers queue on the same single Redis meanwhile (``pipe`` must be
    ``redis``'s). ``pipe`` is left as it was: reset it (or leave its ``async with``)."""
    if not isinstance(redis, Redis) or isinstance(pipe, ClusterPipeline):
        return list(await pipe.execute(raise_on_error=raise_on_error))
    batcher = _batchers.get(redis)
    if batcher is None:
        batcher = _batchers[redis] = Batcher(redis)
    replies = await batcher.execute(pipe)
    if raise_on_error:
        _raise_first_error(replies)
    return replies


def _raise_first_error(replies: Sequence[Any]) -> None:
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
