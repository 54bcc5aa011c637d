"""InOrder: one key's turns run one at a time in arrival order, other keys run alongside."""

from __future__ import annotations

import asyncio
import random

from shared.ordering import InOrder


async def test_one_key_in_arrival_order_other_keys_alongside() -> None:
    order = InOrder()
    log: list[str] = []
    running: set[str] = set()
    overlapped: list[str] = []

    async def handle(key: str, n: int) -> None:
        async with order.turn(key):
            if key in running:
                overlapped.append(key)
            running.add(key)
            await asyncio.sleep(random.uniform(0, 0.003))
            log.append(f"{key}:{n}")
            running.discard(key)

    keys = [f"clinic-{i % 3}/client-{i % 7}" for i in range(200)]
    await asyncio.gather(*(handle(k, n) for n, k in enumerate(keys)))
    assert not overlapped
    for key in set(keys):
        seen = [int(entry.rsplit(":", 1)[1]) for entry in log if entry.startswith(key + ":")]
        assert seen == sorted(seen)
    assert len(order) == 0


async def test_a_cancelled_waiter_keeps_the_line() -> None:
    order = InOrder()
    first_in = asyncio.Event()
    release = asyncio.Event()
    events: list[str] = []

    async def first() -> None:
        async with order.turn("k"):
            first_in.set()
            await release.wait()
            events.append("first done")

    async def third() -> None:
        async with order.turn("k"):
            events.append("third")

    a = asyncio.ensure_future(first())
    await first_in.wait()
    b = asyncio.ensure_future(order.turn("k").__aenter__())
    c = asyncio.ensure_future(third())
    await asyncio.sleep(0.01)
    b.cancel()
    await asyncio.sleep(0.01)
    assert events == []  # the third still waits for the first
    release.set()
    await asyncio.gather(a, c, return_exceptions=True)
    assert events == ["first done", "third"]
    assert len(order) == 0
