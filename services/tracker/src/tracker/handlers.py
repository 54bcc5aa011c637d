"""Message handlers: each event to the use case it feeds, one key's events in arrival order."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Annotated

from pydantic import Field

from shared.contracts import (
    ActivityAssigned,
    ActivityCancelled,
    ActivityCompleted,
    ActivityPaused,
    ActivityResumed,
    ActivityUpdated,
    ClientErased,
    ClientErasureReported,
    ClientPlan,
    ClientPlansChanged,
    ClinicPolicyChanged,
    CompletionReported,
    ConsentChanged,
    DeliveryStatusChanged,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    PushSubscriptionRevoked,
    ReminderDue,
    SchedulerBacklogReported,
    SessionUpcoming,
)
from shared.handling import add_to_summary
from shared.ordering import InOrder
from shared.service import Service
from shared.topology import TRACKER_QUEUE
from tracker import metrics
from tracker.decide.completion import CompletionInput
from tracker.runtime import Runtime, UseCases
from tracker.usecases.delivery import (
    dispatched_fact,
    failed_fact,
    status_fact,
    suppressed_fact,
)
from tracker.usecases.erasure import ErasuresOf, handle_erasure

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
    | PushSubscriptionRevoked
    | CompletionReported
    | SchedulerBacklogReported
    | ClientPlansChanged
    | ClientErased
    | ClientErasureReported,
    Field(discriminator="type"),
]
ByClient = (
    ActivityAssigned
    | ActivityUpdated
    | ActivityCancelled
    | ActivityPaused
    | ActivityResumed
    | ActivityCompleted
    | CompletionReported
    | SessionUpcoming
)
ByReminder = NotificationDispatched | NotificationFailed | NotificationSuppressed
PLANS_AT_ONCE = 16  # of a batch's plans, applied side by side (two round trips each)


def register(service: Service, runtime: Runtime) -> None:
    erasures = ErasuresOf(lambda: runtime.store, service.publisher)

    @service.subscriber(TRACKER_QUEUE, "Completions, delivery results and sessions to record.")
    async def on_event(event: TrackerInput) -> None:
        if isinstance(event, ClientErased | ClientErasureReported):
            await handle_erasure(runtime.order, erasures(), event)
        elif isinstance(event, ClientPlansChanged):
            await plans_changed(runtime.order, runtime.cases, event)
        else:
            # First, before anything waits: turns are granted in arrival order.
            async with turn(runtime.order, event):
                await handle(runtime.cases, event)
        metrics.EVENTS_HANDLED.labels(event.type).inc()


def turn_key(event: TrackerInput) -> str | None:
    """Events of one reminder, or of one client, are applied in arrival order. A callback
    that names no reminder (sent by the previous release) waits for nobody."""
    if isinstance(event, ByReminder) or (
        isinstance(event, DeliveryStatusChanged) and event.reminder_id is not None
    ):
        return f"{event.clinic_id}/{event.reminder_id}"
    if isinstance(event, ByClient):
        return f"{event.clinic_id}/{event.client_ref}"
    return None


def turn(order: InOrder, event: TrackerInput) -> AbstractAsyncContextManager[None]:
    key = turn_key(event)
    return nullcontext() if key is None else order.turn(key)


async def plans_changed(order: InOrder, cases: UseCases, event: ClientPlansChanged) -> None:
    """Each client's plan in that client's turn, as its other events; a batch (one
    clinic, a client at most once) a few clients at a time. A failure retries the whole
    batch: a plan already kept is refused as not newer."""

    async def one(plan: ClientPlan) -> None:
        async with order.turn(f"{event.clinic_id}/{plan.client_ref}"):
            await cases.plans.changed(event.clinic_id, plan)

    plans = event.plans
    for start in range(0, len(plans), PLANS_AT_ONCE):
        await asyncio.gather(*(one(p) for p in plans[start : start + PLANS_AT_ONCE]))


async def handle(cases: UseCases, event: TrackerInput) -> None:  # noqa: C901, PLR0912
    """Route one event to the use case it feeds (a flat dispatch, read at a glance)."""
    match event:
        case ActivityAssigned() | ActivityUpdated():
            await cases.assignments.assigned(event)
        case ActivityPaused() | ActivityResumed() | ActivityCancelled():
            await cases.assignments.lifecycle(event)
        case ClinicPolicyChanged():
            await cases.assignments.policy(event)
        case ActivityCompleted() | CompletionReported():
            await cases.completions.record(completion_input(event), event.caused())
        case SessionUpcoming():
            await cases.summaries.summarize(event)
        case NotificationDispatched():
            await _dispatched(cases, event)
        case NotificationFailed() if event.permanent:
            await cases.delivery.report(failed_fact(event), event.caused())
        case NotificationFailed():
            await cases.delivery.retried(failed_fact(event))
        case NotificationSuppressed():
            await cases.delivery.report(suppressed_fact(event), event.caused())
        case DeliveryStatusChanged():
            clinic_id, reminder_id = await cases.delivery.whose(event)
            await cases.delivery.report(status_fact(event, clinic_id, reminder_id), event.caused())
        case ConsentChanged():
            delivery = cases.delivery
            await delivery.consent(
                event.clinic_id,
                event.channel.value,
                event.source,
                event.opted_out,
                event.client_ref,
            )
        case PushSubscriptionRevoked():
            # Counted with the opt-outs: the client's push channel is gone until the EHR
            # sends a new subscription (the reminder's own failure came as notification.failed).
            await cases.delivery.consent(
                event.clinic_id, "push", "push_revoked", True, event.client_ref
            )
        case SchedulerBacklogReported():
            await cases.store.put_backlog(event.replica, backlog_report(event))
        case ReminderDue():
            # Only delivered by a binding from before the upgrade (declaring the topology
            # removes it): the notifier's events now say all it said. Acked, not
            # dead-lettered, so an upgrade raises no alert.
            add_to_summary(ignored="reminder.due is no longer the tracker's")


async def _dispatched(cases: UseCases, event: NotificationDispatched) -> None:
    """The send: its state, the provider message's owner (for callbacks that do not name
    it) and its done link's record, in one commit."""
    store, links = cases.store, cases.links
    also = [
        store.map_message(
            event.provider, event.provider_message_id, event.clinic_id, event.reminder_id
        )
    ]
    link = links.write(event)
    if link is not None:
        also.append(link)
    await cases.delivery.report(dispatched_fact(event), event.caused(), also)
    if link is None:
        await links.remember(event)  # an older notifier's send, if it carries a link


def completion_input(event: ActivityCompleted | CompletionReported) -> CompletionInput:
    return CompletionInput(
        clinic_id=event.clinic_id,
        assignment_id=event.assignment_id,
        client_ref=event.client_ref,
        occurrence_date=event.occurrence_date,
        completed_at=event.completed_at,
        source=event.source,
        rating=event.rating if isinstance(event, ActivityCompleted) else None,
        note=event.note,
        reminder_id=event.reminder_id if isinstance(event, CompletionReported) else None,
    )


def backlog_report(event: SchedulerBacklogReported) -> dict[str, object]:
    return {
        "replica": event.replica,
        "pending_timers": event.pending_timers,
        "next_due_at": event.next_due_at.isoformat() if event.next_due_at else None,
        "overdue": event.overdue,
        "reported_at": event.occurred_at.isoformat(),
    }
