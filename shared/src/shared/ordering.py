"""Many messages at once, but those of one key (a client, a reminder) one after another.

A consumer handles up to its prefetch of messages side by side (aiormq starts a task per
delivery), which is what keeps a consumer busy while it waits on Redis and the broker.
Two events about the same client must still be applied in the order they arrived
(a pause before the resume that follows it, a send before its status), so a handler
takes its key's turn first: deliveries of one key queue behind each other in arrival
order, every other key goes ahead.

Arrival order is kept because a delivery's task runs up to ``turn`` without yielding
(parsing and validation do not wait), and tasks start in the order they were created.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InOrder:
    """One turn at a time per key, granted first come, first served."""

    def __init__(self) -> None:
        # Per key, the future the next arrival waits on: the end of the latest turn.
        self._tails: dict[str, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        """Keys with a turn running or waiting (zero when idle: nothing is kept)."""
        return len(self._tails)

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        mine.add_done_callback(lambda _: self._forget(key, mine))
        self._tails[key] = mine
        try:
            if previous is not None and not previous.done():
                # Shielded: a cancelled waiter must not cancel the turn it waits for.
                await asyncio.shield(previous)
            yield
        finally:
            if previous is None or previous.done():
                mine.set_result(None)
            else:
                # Cancelled while waiting: the next in line still waits for the one
                # before us, or two of this key would run side by side.
                previous.add_done_callback(lambda _: _finish(mine))

    def _forget(self, key: str, ended: asyncio.Future[None]) -> None:
        if self._tails.get(key) is ended:  # nobody arrived behind it: the key is idle
            del self._tails[key]


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
