"""Message handlers: validate (by type), hand to the planner, persist timers."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy
from pydantic import Field

from shared.broker import rabbit_queue
from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityResumed,
    ActivityUpdated,
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    CompletionRecorded,
    ConsentChanged,
)
from shared.logging import get_logger
from shared.service import Service
from shared.topology import SCHEDULER_QUEUE

SchedulerInput = Annotated[
    ActivityAssigned
    | ActivityUpdated
    | ActivityCancelled
    | ActivityPaused
    | ActivityResumed
    | ActivityCompleted
    | ClientPreferencesChanged
    | ClinicPolicyChanged
    | CompletionRecorded
    | ConsentChanged,
    Field(discriminator="type"),
]

log = get_logger("scheduler.handlers")


def register(service: Service) -> None:
    @service.broker.subscriber(
        rabbit_queue(service.topology, SCHEDULER_QUEUE),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=service.topology.queue(SCHEDULER_QUEUE),
        description="Assignment lifecycle, client preferences and clinic policies.",
    )
    async def on_event(event: SchedulerInput) -> None:
        log.info("event received", assignment=getattr(event, "assignment_id", None))
