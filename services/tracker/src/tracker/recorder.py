"""The tracker's use cases: apply one event to the store, then publish what follows.

Handlers (messages) and routes (the done link) call these; they take their store,
publisher and clock as collaborators so that tests and the bench can drive them
directly. Announcements are claimed in Redis before publishing and released if the
publish fails, so a retry announces again and a duplicate never does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.contracts import (
    ActivityAssigned,
    ActivityUpdated,
    AdherenceSummary,
    AssignmentAdherence,
    ClinicianAlert,
    CompletionRecorded,
    CompletionSource,
    DeliveryStatus,
    Event,
    ReminderDelivered,
    ReminderDue,
    ReminderFailed,
    ReminderPurpose,
    SessionUpcoming,
    derived_event_id,
    utcnow,
)
from shared.contracts.vocabulary import ActivityKind
from shared.logging import get_logger
from tracker import metrics
from tracker.adherence import Adherence, combine, compute, due_days
from tracker.delivery import is_failure
from tracker.escalation import escalation_for
from tracker.privacy import scrub
from tracker.records import AssignmentRecord
from tracker.store import TrackerStore, scoped

log = get_logger("tracker.recorder")
DEFAULT_AFTER_MISSED = 3
ESCALATION_LOOKBACK_DAYS = 120
FRESH_FOR_ENCOURAGEMENT = timedelta(hours=24)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


@dataclass(frozen=True)
class CompletionInput:
    clinic_id: str
    assignment_id: str
    client_ref: str
    occurrence_date: date
    completed_at: datetime
    source: CompletionSource
    rating: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """One delivery fact for a message, whichever event brought it."""

    reminder_id: str
    channel: str
    status: DeliveryStatus
    provider: str | None = None
    reason: str | None = None


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def stable_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


class Recorder:
    def __init__(
        self,
        store: TrackerStore,
        publisher: Publisher,
        clock: Callable[[], datetime] = utcnow,
        summary_days: int = 7,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.summary_days = summary_days

    async def _publish_once(self, event: Event, *claim: str, days: int | None = None) -> bool:
        if not await self.store.claim_once(*claim, days=days):
            return False
        try:
            await self.publisher.publish(event)
        except BaseException:
            await self.store.release(*claim)
            raise
        return True

    # -- completions -------------------------------------------------------------------

    async def record_completion(self, c: CompletionInput, caused: dict[str, Any]) -> bool:
        """Record once per occurrence and announce it; True if this call recorded it."""
        data: dict[str, Any] = {"at": c.completed_at.isoformat(), "source": c.source.value}
        data |= {"rating": c.rating, "note": c.note}
        added = await self.store.record_completion(
            c.clinic_id, c.assignment_id, c.occurrence_date, data
        )
        (metrics.COMPLETIONS_RECORDED if added else metrics.COMPLETIONS_DUPLICATE).labels(
            c.source.value
        ).inc()
        day = c.occurrence_date.isoformat()
        recorded = CompletionRecorded(
            **caused,
            # The same id for the same occurrence lets the EHR drop a rare re-announcement.
            event_id=derived_event_id("completion", c.clinic_id, c.assignment_id, day),
            assignment_id=c.assignment_id,
            client_ref=c.client_ref,
            occurrence_date=c.occurrence_date,
            completed_at=c.completed_at,
            source=c.source,
            rating=c.rating,
            note=c.note,
        )
        days = self.store.retention.assignment_days
        claim = ("completion", scoped(c.clinic_id, c.assignment_id), day)
        await self._publish_once(recorded, *claim, days=days)
        # Not only after a fresh claim: a retry of this message (say a Redis timeout inside
        # _encourage) finds the completion claimed and would never encourage. The
        # encouragement's own once-claim keeps it to one.
        await self._encourage(c, caused)
        return added

    async def _encourage(self, c: CompletionInput, caused: dict[str, Any]) -> None:
        if self.clock() - c.completed_at > FRESH_FOR_ENCOURAGEMENT:
            return  # a kind word days later would only be confusing
        record = await self.store.assignment(c.clinic_id, c.assignment_id)
        if record is None or record.policy_id is None:
            return
        policy = await self.store.policy(c.clinic_id, record.policy_id)
        if policy is None or not policy.messaging.encouragement:
            return
        day = c.occurrence_date.isoformat()
        due = ReminderDue(
            **caused,
            reminder_id=f"enc-{stable_id(c.clinic_id, c.assignment_id, day)}",
            assignment_id=c.assignment_id,
            assignment_version=record.version,
            client_ref=c.client_ref,
            occurrence_date=c.occurrence_date,
            purpose=ReminderPurpose.ENCOURAGEMENT,
            planned_for=self.clock(),
            activity_kind=ActivityKind(record.activity_kind),
            activity_title=record.activity_title or "activity",
            policy_id=record.policy_id,
        )
        await self._publish_once(due, "encouragement", scoped(c.clinic_id, c.assignment_id), day)

    # -- assignment lifecycle ------------------------------------------------------------

    async def apply_assignment(self, event: ActivityAssigned | ActivityUpdated) -> None:
        def change(current: AssignmentRecord | None) -> AssignmentRecord | None:
            known = current is not None and current.schedule is not None
            if known and current is not None and event.version <= current.version:
                return None  # an older or repeated version
            kept = (
                current.model_dump(include={"pauses", "cancelled_on", "status"}) if current else {}
            )
            return AssignmentRecord(
                clinic_id=event.clinic_id,
                assignment_id=event.assignment_id,
                version=max(event.version, current.version if current else 0),
                client_ref=event.client_ref,
                therapist_ref=event.therapist_ref,
                activity_kind=event.activity.kind.value,
                activity_title=event.activity.title,
                policy_id=event.policy_id,
                schedule=event.schedule,
                correlation_id=event.correlation_id,
                **kept,
            )

        await self.store.update_assignment(event.clinic_id, event.assignment_id, change)

    async def apply_lifecycle(
        self,
        event: Event,
        assignment_id: str,
        client_ref: str,
        version: int,
        change: Callable[[AssignmentRecord, date], AssignmentRecord],
    ) -> None:
        """Pause, resume or cancel: applied unless an older version than what we hold."""

        def guarded(current: AssignmentRecord | None) -> AssignmentRecord | None:
            base = current or AssignmentRecord(
                clinic_id=event.clinic_id,
                assignment_id=assignment_id,
                version=version,
                client_ref=client_ref,
            )
            if version < base.version:
                return None
            tz = base.schedule.timezone if base.schedule else "UTC"
            updated = change(base, local_today(event.occurred_at, tz))
            return updated.model_copy(update={"version": max(version, base.version)})

        await self.store.update_assignment(event.clinic_id, assignment_id, guarded)

    async def apply_policy(self, clinic_id: str, event: Any) -> None:
        await self.store.put_policy(clinic_id, event.policy)

    # -- delivery ----------------------------------------------------------------------

    async def remember_due(self, event: ReminderDue) -> None:
        await self.store.remember_reminder(
            event.clinic_id,
            event.reminder_id,
            {
                "clinic_id": event.clinic_id,
                "assignment_id": event.assignment_id,
                "client_ref": event.client_ref,
                "occurrence_date": event.occurrence_date.isoformat(),
                "purpose": event.purpose.value,
                # The EHR's id for what caused this reminder: its outcome carries it back,
                # whichever provider callback settles it.
                "correlation_id": event.correlation_id,
            },
        )
        # Callbacks may have beaten the reminder.due here: announce what they settled.
        await self._announce(event.clinic_id, event.reminder_id, event.caused())
        record = await self.store.assignment(event.clinic_id, event.assignment_id)
        if record is not None:
            await self.check_escalation(record, event.caused())

    async def report(self, clinic_id: str, fact: StatusReport, caused: dict[str, Any]) -> None:
        store = self.store
        provider = fact.provider or await store.message_provider(
            clinic_id, fact.reminder_id, fact.channel
        )
        moved = await store.advance(
            clinic_id, fact.reminder_id, fact.channel, fact.status, provider
        )
        now = self.clock()
        label = provider or "-"
        fields = {f"{fact.channel}|{label}|{o}": 1 for o in moved.message.counted()}
        if (
            moved.message.changed
            and is_failure(fact.status)
            and moved.message.current is fact.status
        ):
            reason = scrub(fact.reason or fact.status.value)
            fields[f"reason|{reason}"] = 1
            await self._list_failure(clinic_id, fact, label, fact.status.value, reason)
            await store.remember_reminder(clinic_id, fact.reminder_id, {"reason": reason})
        for outcome in moved.message.counted():
            metrics.DELIVERY_OUTCOMES.labels(fact.channel, label, outcome).inc()
        await store.count(clinic_id, now, fields)
        await self._announce(clinic_id, fact.reminder_id, caused)

    async def transient_failure(self, clinic_id: str, fact: StatusReport) -> None:
        """A failed attempt the notifier will retry: counted and listed, state unchanged."""
        label = fact.provider or "-"
        reason = scrub(fact.reason or "failed")
        now = self.clock()
        metrics.DELIVERY_OUTCOMES.labels(fact.channel, label, "retried").inc()
        await self.store.count(
            clinic_id, now, {f"{fact.channel}|{label}|retried": 1, f"reason|{reason}": 1}
        )
        await self._list_failure(clinic_id, fact, label, "retrying", reason)

    async def _list_failure(
        self, clinic_id: str, fact: StatusReport, provider: str, status: str, reason: str
    ) -> None:
        """The dashboard's latest failures: ids and a scrubbed reason, never PHI."""
        entry = {
            "at": self.clock().isoformat(),
            "reminder_id": fact.reminder_id,
            "channel": fact.channel,
            "provider": provider,
            "status": status,
            "reason": reason,
        }
        await self.store.append("failures", clinic_id, entry)

    async def _announce(self, clinic_id: str, reminder_id: str, caused: dict[str, Any]) -> None:
        meta = await self.store.reminder(clinic_id, reminder_id)
        best = meta.get("best")
        if "assignment_id" not in meta or not best:
            return  # the reminder.due (or any status) has not arrived yet
        status = DeliveryStatus(best)
        channel = meta.get("best_channel")
        # A provider callback has an id of its own; the EHR wants back the one it sent.
        correlation = {"correlation_id": meta["correlation_id"]} if "correlation_id" in meta else {}
        common = {
            **caused,
            **correlation,
            "clinic_id": clinic_id,
            "reminder_id": reminder_id,
            "assignment_id": meta["assignment_id"],
            "client_ref": meta["client_ref"],
            "occurrence_date": date.fromisoformat(meta["occurrence_date"]),
        }
        if status is DeliveryStatus.DELIVERED and channel and channel != "none":
            event: Event = ReminderDelivered(
                **common,
                purpose=ReminderPurpose(meta["purpose"]),
                channel=channel,
                delivered_at=self.clock(),
            )
            await self._publish_once(event, "outcome", scoped(clinic_id, reminder_id), "delivered")
        elif is_failure(status):
            failed = ReminderFailed(
                **common,
                channel=channel if channel and channel != "none" else None,
                reason=meta.get("reason") or status.value,
            )
            await self._publish_once(failed, "outcome", scoped(clinic_id, reminder_id), "failed")

    async def opt_out(self, clinic_id: str, channel: str, source: str, opted_out: bool) -> None:
        now = self.clock()
        verb = "optout" if opted_out else "optin"
        await self.store.count(clinic_id, now, {f"{verb}|{channel}|{source}": 1})
        await self.store.append(
            "optouts",
            clinic_id,
            {"at": now.isoformat(), "channel": channel, "source": source, "change": verb},
        )

    # -- adherence ---------------------------------------------------------------------

    async def adherence(
        self, record: AssignmentRecord, first: date | None, now: datetime
    ) -> Adherence | None:
        if record.schedule is None:
            return None
        today = local_today(now, record.schedule.timezone)
        completions = await self.store.completions(record.clinic_id, record.assignment_id)
        start = first or max(record.schedule.start, today - timedelta(ESCALATION_LOOKBACK_DAYS))
        days = due_days(
            record.schedule,
            start,
            today,
            today=today,
            pauses=record.pause_list(),
            cancelled_on=record.cancelled_on,
            done=completions.keys(),
        )
        return compute(days, completions)

    async def summarize(self, event: SessionUpcoming) -> AdherenceSummary:
        now = self.clock()
        period_start = event.previous_session_at or now - timedelta(days=self.summary_days)
        parts: list[AssignmentAdherence] = []
        totals: list[Adherence] = []
        for record in await self.store.client_assignments(event.clinic_id, event.client_ref):
            if record.schedule is None:
                continue
            first = local_today(period_start, record.schedule.timezone)
            result = await self.adherence(record, first, now)
            if result is None or (result.due == 0 and record.status == "cancelled"):
                continue
            totals.append(result)
            parts.append(_assignment_part(record, result))
        due, done, rate = combine(totals)
        summary = AdherenceSummary(
            **event.caused(),
            session_id=event.session_id,
            client_ref=event.client_ref,
            therapist_ref=event.therapist_ref,
            period_start=period_start,
            period_end=now,
            assignments=tuple(parts),
            due=due,
            done=done,
            rate=rate,
        )
        await self.publisher.publish(summary)
        metrics.SUMMARIES_SENT.inc()
        return summary

    async def check_escalation(self, record: AssignmentRecord, caused: dict[str, Any]) -> bool:
        """Alert the clinician once per run of consecutive misses that reached the rule."""
        if record.status == "cancelled":
            return False
        result = await self.adherence(record, None, self.clock())
        if result is None:
            return False
        policy = await self.store.policy(record.clinic_id, record.policy_id)
        after = policy.escalation.after_missed if policy else DEFAULT_AFTER_MISSED
        alert = escalation_for(result, after)
        if alert is None:
            return False
        event = ClinicianAlert(
            **{**caused, "clinic_id": record.clinic_id},
            assignment_id=record.assignment_id,
            assignment_version=record.version,
            client_ref=record.client_ref,
            therapist_ref=record.therapist_ref,
            consecutive_missed=alert.consecutive_missed,
            last_missed_date=alert.last_missed,
        )
        scope = scoped(record.clinic_id, record.assignment_id)
        claim = ("alert", scope, alert.run_started.isoformat())
        sent = await self._publish_once(event, *claim, days=self.store.retention.assignment_days)
        if sent:
            metrics.ALERTS_SENT.inc()
        return sent

    async def sweep_escalations(self) -> int:
        """Check every active assignment (the periodic loop; replicas dedupe via claims)."""
        alerts = 0
        for clinic_id, assignment_id in await self.store.active_assignments():
            record = await self.store.assignment(clinic_id, assignment_id)
            if record is None:
                await self.store.forget_active(clinic_id, assignment_id)
                continue
            caused = {"clinic_id": record.clinic_id}
            if record.correlation_id:
                caused["correlation_id"] = record.correlation_id
            alerts += await self.check_escalation(record, caused)
        return alerts


def _assignment_part(record: AssignmentRecord, result: Adherence) -> AssignmentAdherence:
    return AssignmentAdherence(
        assignment_id=record.assignment_id,
        activity_kind=record.activity_kind,
        due=result.due,
        done=result.done,
        missed=result.missed,
        rate=result.rate,
        current_streak=result.current_streak,
        longest_streak=result.longest_streak,
        ratings=result.ratings,
        notes=result.notes,
    )
