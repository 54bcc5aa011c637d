"""Message handlers: record what happened, then publish what the EHR and scheduler need."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import Field

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
    DeliveryStatus,
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
from tracker import metrics
from tracker.done_links import DoneLinks
from tracker.recorder import CompletionInput, Recorder, StatusReport
from tracker.records import AssignmentRecord, PausePeriod
from tracker.runtime import TrackerRuntime

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
# The clinic a provider callback names when the notifier could not tell whose it is.
UNKNOWN_CLINIC = "system"


def register(service: Service, runtime: TrackerRuntime) -> None:
    @service.subscriber(TRACKER_QUEUE, "Completions, delivery results and sessions to record.")
    async def on_event(event: TrackerInput) -> None:
        await handle(runtime.recorder, event, runtime.links)
        metrics.EVENTS_HANDLED.labels(event.type).inc()


async def handle(  # noqa: C901
    recorder: Recorder, event: TrackerInput, links: DoneLinks | None = None
) -> None:
    """Route one event to the use case it feeds (a flat dispatch, read at a glance).
    Without ``links`` (the memory bench) sends are recorded but their done links not."""
    match event:
        case ActivityAssigned() | ActivityUpdated():
            await recorder.apply_assignment(event)
        case ActivityPaused() | ActivityResumed() | ActivityCancelled():
            await _lifecycle(recorder, event)
        case ActivityCompleted() | CompletionReported():
            await _completion(recorder, event)
        case ClinicPolicyChanged():
            await recorder.apply_policy(event.clinic_id, event)
        case SessionUpcoming():
            await recorder.summarize(event)
        case ReminderDue():
            await recorder.remember_due(event)
        case NotificationDispatched():
            await _dispatched(recorder, event, links)
        case NotificationFailed():
            await _failed(recorder, event)
        case NotificationSuppressed():
            status = (
                DeliveryStatus.OPTED_OUT
                if event.reason.value == "opted_out"
                else DeliveryStatus.SUPPRESSED
            )
            channel = event.channel.value if event.channel else "none"
            fact = StatusReport(event.reminder_id, channel, status, None, event.reason.value)
            await recorder.report(event.clinic_id, fact, event.caused())
        case DeliveryStatusChanged():
            await _status(recorder, event)
        case ConsentChanged():
            await recorder.opt_out(
                event.clinic_id, event.channel.value, event.source, event.opted_out
            )
        case SchedulerBacklogReported():
            await recorder.store.put_backlog(
                event.replica,
                {
                    "replica": event.replica,
                    "pending_timers": event.pending_timers,
                    "next_due_at": event.next_due_at.isoformat() if event.next_due_at else None,
                    "overdue": event.overdue,
                    "reported_at": event.occurred_at.isoformat(),
                },
            )


async def _completion(recorder: Recorder, event: ActivityCompleted | CompletionReported) -> None:
    rating = event.rating if isinstance(event, ActivityCompleted) else None
    await recorder.record_completion(
        CompletionInput(
            clinic_id=event.clinic_id,
            assignment_id=event.assignment_id,
            client_ref=event.client_ref,
            occurrence_date=event.occurrence_date,
            completed_at=event.completed_at,
            source=event.source,
            rating=rating,
            note=event.note,
        ),
        event.caused(),
    )


async def _failed(recorder: Recorder, event: NotificationFailed) -> None:
    channel = event.channel.value if event.channel else "none"
    fact = StatusReport(
        event.reminder_id, channel, DeliveryStatus.FAILED, event.provider, event.reason
    )
    if event.permanent:
        await recorder.report(event.clinic_id, fact, event.caused())
    else:
        await recorder.transient_failure(event.clinic_id, fact)


async def _dispatched(
    recorder: Recorder, event: NotificationDispatched, links: DoneLinks | None
) -> None:
    store = recorder.store
    # The notifier's send carries the EHR's id too; reminder.due's, if first, stands.
    await store.remember_reminder_once(
        event.clinic_id, event.reminder_id, "correlation_id", event.correlation_id
    )
    if links is not None:
        await links.remember(event)
    fact = StatusReport(event.reminder_id, event.channel.value, DeliveryStatus.SENT, event.provider)
    await recorder.report(event.clinic_id, fact, event.caused())
    parked = await store.map_message(
        event.provider, event.provider_message_id, event.clinic_id, event.reminder_id
    )
    for raw in parked:
        await _status(recorder, DeliveryStatusChanged.model_validate_json(raw))


async def _status(recorder: Recorder, event: DeliveryStatusChanged) -> None:
    # The send's record says whose reminder a provider message is; a callback's own
    # clinic can be UNKNOWN_CLINIC. Without either, the status waits for the send.
    named = event.reminder_id is not None and event.clinic_id != UNKNOWN_CLINIC
    found = await recorder.store.resolve_or_park(
        event.provider, event.provider_message_id, event.model_dump_json(), park=not named
    )
    if found is None and named and event.reminder_id is not None:
        found = (event.clinic_id, event.reminder_id)
    if found is None:
        # A fast provider called back before the notifier's announcement of the send
        # reached us: the status waits for it (see ``_dispatched``).
        log.info("status parked until its send is known", provider=event.provider)
        return
    clinic_id, reminder_id = found
    reason = event.error_code or event.status.value
    fact = StatusReport(reminder_id, event.channel.value, event.status, event.provider, reason)
    await recorder.report(clinic_id, fact, event.caused())


async def _lifecycle(
    recorder: Recorder, event: ActivityPaused | ActivityResumed | ActivityCancelled
) -> None:
    def change(record: AssignmentRecord, day: date) -> AssignmentRecord:
        """``day`` is the client's local day on which the change happened."""
        match event:
            case ActivityPaused():
                if any(p.end is None for p in record.pauses) or record.status == "cancelled":
                    return record
                pause = PausePeriod(start=day, end=event.until)
                return record.model_copy(
                    update={"status": "paused", "pauses": (*record.pauses, pause)}
                )
            case ActivityResumed():
                return _resumed(record, day)
            case _:
                return record.model_copy(update={"status": "cancelled", "cancelled_on": day})

    await recorder.apply_lifecycle(
        event, event.assignment_id, event.client_ref, event.version, change
    )


def _resumed(record: AssignmentRecord, day: date) -> AssignmentRecord:
    """Close the open pause the day before; a pause resumed the same day covers nothing."""
    closed = [
        p if p.end is not None else PausePeriod(start=p.start, end=day - timedelta(days=1))
        for p in record.pauses
    ]
    kept = tuple(p for p in closed if p.end is None or p.end >= p.start)
    status = "cancelled" if record.status == "cancelled" else "active"
    return record.model_copy(update={"status": status, "pauses": kept})
