"""The console's dead letters (ops token only): each DLQ's depth and messages (reason,
source queue, routing key, time; bodies redacted), replay through the normal path with
the attempt count reset, discard with a recorded reason. The same library as
``python -m shared.dlq_cli`` (``shared.dead_letters``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.dead_letters import (
    DeadLetterError,
    Outcome,
    Selection,
    UnknownQueueError,
    dead_letter_depths,
    discard,
    list_dead_letters,
    replay,
)
from shared.topology import Topology
from tracker.auth import CurrentViewer
from tracker.console.assets import page
from tracker.runtime import Runtime

T = TypeVar("T")
OPS_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or an unknown one."},
    403: {"description": "Not the operations token."},
    503: {"description": "RabbitMQ (or Redis, for a discard) could not be reached."},
}
WITH_QUEUE: dict[int | str, dict[str, Any]] = {
    **OPS_ONLY,
    404: {"description": "No consuming queue of that name (the answer lists them)."},
}
Queue = Annotated[
    str,
    Path(pattern=r"^[a-z0-9._-]{1,200}$", description="A consuming queue, e.g. tracker.events."),
]


class Select(BaseModel):
    """Which messages: ids (entry or message ids), filters (all must match), or all."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ids: list[str] = Field(default_factory=list, max_length=1000)
    everything: bool = Field(default=False, alias="all", description="Every message.")
    reason_contains: str | None = Field(default=None, max_length=200)
    routing_key: str | None = Field(default=None, max_length=200)
    error_type: str | None = Field(default=None, max_length=200)
    before: datetime | None = None
    after: datetime | None = None

    def selection(self) -> Selection:
        chosen = Selection(
            ids=frozenset(self.ids),
            everything=self.everything,
            reason_contains=self.reason_contains or None,
            routing_key=self.routing_key or None,
            error_type=self.error_type or None,
            before=self.before,
            after=self.after,
        )
        if chosen.is_empty:
            raise HTTPException(422, "select messages by id, by a filter, or all of them")
        return chosen


class Discard(Select):
    reason: str = Field(min_length=1, max_length=500, description="Why, kept on record.")
    name: str | None = Field(
        default=None, max_length=100, description="Who, recorded as ops:<name>."
    )


def dead_letters_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    # An operation holds a whole DLQ while it runs: one at a time from this replica.
    busy = asyncio.Lock()

    def where() -> tuple[str, Topology]:
        # The running service's topology: it has the queues only some deployments
        # consume (the FHIR reporter's), as well as every service's.
        return runtime.settings.amqp_url, runtime.queues.topology

    @router.get("/console/dead-letters", include_in_schema=False)
    async def dead_letters_page() -> HTMLResponse:
        return page("dead-letters.html")

    @router.get(
        "/api/console/dead-letters",
        tags=["dead letters"],
        summary="Every DLQ's depth",
        response_description="Per consuming queue: its DLQ's name and how many messages it "
        "holds (null: the DLQ does not exist yet).",
        responses=OPS_ONLY,
    )
    async def depths(viewer: CurrentViewer) -> dict[str, Any]:
        viewer.require_ops()
        url, topology = where()
        found = await _run(dead_letter_depths(url, topology))
        return {
            "queues": [
                {"queue": base, "dlq": topology.dlq(base), "depth": n}
                for base, n in sorted(found.items())
            ]
        }

    @router.get(
        "/api/console/dead-letters/{queue}",
        tags=["dead letters"],
        summary="One DLQ's messages, oldest first",
        response_description="The first messages of the DLQ with their reason, error type, "
        "source queue, routing key, time, attempt and replays; bodies redacted (no contact "
        "points, no free text). The DLQ keeps them all, in order.",
        responses=WITH_QUEUE,
    )
    async def entries(
        viewer: CurrentViewer, queue: Queue, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> dict[str, Any]:
        viewer.require_ops()
        url, topology = where()
        async with busy:
            listing = await _run(list_dead_letters(url, topology, queue, limit))
        return {
            "dlq": listing.dlq,
            "depth": listing.depth,
            "scanned": listing.scanned,
            "entries": [e.as_json() for e in listing.entries],
        }

    @router.post(
        "/api/console/dead-letters/{queue}/replay",
        tags=["dead letters"],
        summary="Replay the selected messages through the normal path",
        response_description="What was replayed (attempt count reset), and why it stopped "
        "early if it did (the rest stay in the DLQ).",
        responses=WITH_QUEUE,
    )
    async def replay_selected(viewer: CurrentViewer, queue: Queue, body: Select) -> dict[str, Any]:
        viewer.require_ops()
        url, topology = where()
        select = body.selection()
        async with busy:
            outcome = await _run(replay(url, topology, queue, select))
        return _outcome(outcome)

    @router.post(
        "/api/console/dead-letters/{queue}/discard",
        tags=["dead letters"],
        summary="Discard the selected messages, each recorded with the reason",
        response_description="What was discarded (each recorded first: who, why, ids, "
        "never the body), and why it stopped early if it did.",
        responses=WITH_QUEUE,
    )
    async def discard_selected(
        viewer: CurrentViewer, queue: Queue, body: Discard
    ) -> dict[str, Any]:
        viewer.require_ops()
        url, topology = where()
        select = body.selection()
        who = f"ops:{body.name.strip()}" if body.name and body.name.strip() else "ops"
        store = runtime.store
        async with busy:
            outcome = await _run(
                discard(
                    url,
                    topology,
                    queue,
                    select,
                    reason=body.reason,
                    who=who,
                    redis=store.redis,
                    redis_prefix=runtime.settings.redis_prefix,
                )
            )
        return _outcome(outcome)

    return router


async def _run(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except UnknownQueueError as exc:
        raise HTTPException(404, str(exc)) from exc
    except DeadLetterError as exc:
        raise HTTPException(503, str(exc)) from exc


def _outcome(outcome: Outcome) -> dict[str, Any]:
    return {
        "dlq": outcome.dlq,
        "depth": outcome.depth,
        "matched": len(outcome.matched),
        "done": [e.id for e in outcome.done],
        "error": outcome.error,
    }
