"""Message handlers: record what happened, then publish what the EHR and scheduler need."""

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
    ClinicPolicyChanged,
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    ReminderDue,
    SchedulerBacklogReported,
    SessionUpcoming,
)
from shared.logging import get_logger
from shared.service import Service
from shared.topology import TRACKER_QUEUE

TrackerInput = Annotated[
    ActivityAssigned
    | ActivityUpdated
    | ActivityCancelled
    | ActivityPaused
    | ActivityResumed
    | ActivityCompleted
    | ClinicPolicyChanged
    | SessionUpcoming
    | ReminderDue
    | NotificationDispatched
    | NotificationFailed
    | NotificationSuppressed
    | DeliveryStatusChanged
    | ConsentChanged
    | CompletionReported
    | SchedulerBacklogReported,
    Field(discriminator="type"),
]

log = get_logger("tracker.handlers")


def register(service: Service) -> None:
    @service.broker.subscriber(
        rabbit_queue(service.topology, TRACKER_QUEUE),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=service.topology.queue(TRACKER_QUEUE),
        description="Completions, delivery results and sessions to record.",
    )
    async def on_event(event: TrackerInput) -> None:
        log.info("event recorded", event_type=event.type)
