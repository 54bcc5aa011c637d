"""A handler whose broker connection drops mid-message still runs to its end.

aiormq cancels a channel's consumer tasks when the connection is lost; the middleware
lets the handler finish (commit and publish, or fail its publish and release its claim)
while the consumer itself is cancelled, so the message is redelivered.
"""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from shared.handling import finish_even_if_cut


async def test_a_cut_consumer_is_cancelled_but_its_handler_finishes() -> None:
    committed, release = asyncio.Event(), asyncio.Event()
    steps: list[str] = []

    async def handler() -> str:
        steps.append("committed")
        committed.set()
        await release.wait()  # the publish, on a connection that has just gone away
        steps.append("announced")
        return "done"

    consumer = asyncio.create_task(finish_even_if_cut(handler()))
    await committed.wait()
    with capture_logs() as logs:
        consumer.cancel()  # what aiormq does to its consumer tasks when the channel closes
        with pytest.raises(asyncio.CancelledError):
            await consumer
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
    assert steps == ["committed", "announced"]
    assert [e["event"] for e in logs] == ["handler finished after its connection was lost"]
    assert logs[0]["error"] is None


async def test_a_cut_handler_that_fails_is_logged_not_left_unretrieved() -> None:
    started = asyncio.Event()

    async def handler() -> None:
        started.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        raise ConnectionError("channel closed")

    consumer = asyncio.create_task(finish_even_if_cut(handler()))
    await started.wait()
    with capture_logs() as logs:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        for _ in range(5):
            await asyncio.sleep(0)
    assert logs[0]["error"] == "ConnectionError('channel closed')"


async def test_an_uncut_handler_returns_its_result() -> None:
    async def handler() -> int:
        return 7

    assert await finish_even_if_cut(handler()) == 7
