"""Publishing what a commit claimed: released again when the publish fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.contracts import Event, utcnow
from tracker.store import TrackerStore


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


@dataclass
class Announcing:
    """A use case that commits to the store, then announces what its commit claimed; the
    clock is a collaborator so that tests and the bench set the time."""

    store: TrackerStore
    publisher: Publisher
    clock: Callable[[], datetime] = utcnow


async def publish_claimed(
    publisher: Publisher, event: Event, release: Callable[[], Awaitable[None]]
) -> None:
    """Publish an event whose once-claim was taken; if the publish fails the claim is
    released, so the message's retry announces it (and a duplicate never does)."""
    try:
        await publisher.publish(event)
    except BaseException:
        await release()
        raise
