"""Message handlers: reminders to send, and the directory of contacts and clinic settings."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy
from pydantic import Field

from shared.broker import rabbit_queue
from shared.contracts import (
    ClientPreferencesChanged,
    ClinicPolicyChanged,
    ConsentChanged,
    ReminderDue,
)
from shared.logging import get_logger
from shared.service import Service
from shared.topology import NOTIFIER_DIRECTORY_QUEUE, NOTIFIER_REMINDERS_QUEUE

DirectoryInput = Annotated[
    ClientPreferencesChanged | ClinicPolicyChanged | ConsentChanged, Field(discriminator="type")
]

log = get_logger("notifier.handlers")


def register(service: Service) -> None:
    @service.broker.subscriber(
        rabbit_queue(service.topology, NOTIFIER_REMINDERS_QUEUE),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=service.topology.queue(NOTIFIER_REMINDERS_QUEUE),
        description="Reminders that are due now.",
    )
    async def on_reminder_due(event: ReminderDue) -> None:
        log.info("reminder due", reminder_id=event.reminder_id, purpose=event.purpose)

    @service.broker.subscriber(
        rabbit_queue(service.topology, NOTIFIER_DIRECTORY_QUEUE),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=service.topology.queue(NOTIFIER_DIRECTORY_QUEUE),
        description="Contact points, consent and clinic messaging settings.",
    )
    async def on_directory_event(event: DirectoryInput) -> None:
        log.info("directory event", event_type=event.type)
