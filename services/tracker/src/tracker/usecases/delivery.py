"""Delivery: sends, failures, suppressions and provider callbacks, applied to a reminder.

Per fact: load (one round trip), decide (``tracker.decide.delivery``), commit (one round
trip, refused if another replica committed for the reminder meanwhile: then load and
decide again), publish the outcome if this fact completed it. The outcome's claim is
taken in the commit and released if the publish fails, so the retry announces it and a
duplicate never does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.contracts import (
    DeliveryStatus,
    DeliveryStatusChanged,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
)
from shared.errors import TransientError
from shared.logging import get_logger
from tracker import metrics
from tracker.decide.delivery import NO_CHANNEL, About, Fact, consent_entry, decide, retried
from tracker.decide.timeline import retry_entry
from tracker.store import SideWrite
from tracker.usecases.publishing import Announcing, publish_claimed

log = get_logger("tracker.delivery")
ATTEMPTS = 5  # commits refused in a row (a busy reminder) before the message is retried
# The clinic a provider callback names when the notifier could not tell whose it is.
UNKNOWN_CLINIC = "system"


class Delivery(Announcing):
    async def report(
        self, fact: Fact, caused: Mapping[str, Any], also: Sequence[SideWrite] = ()
    ) -> None:
        """Apply one fact; ``also`` are idempotent writes sent with the commit."""
        for _ in range(ATTEMPTS):
            loaded = await self.store.load_delivery(fact.clinic_id, fact.reminder_id, fact.channel)
            now = self.clock()
            change = decide(loaded, fact, caused, now)
            if change.empty and not also:
                return
            committed, failed_write = await self.store.commit_delivery(
                fact, change, loaded.rev, now, also, carry=loaded.carry
            )
            if committed:
                break
        else:
            raise TransientError(f"reminder {fact.reminder_id!r} kept changing; try again")
        for outcome in change.outcomes:
            metrics.DELIVERY_OUTCOMES.labels(fact.channel, change.label, outcome).inc()
        if change.announce is not None and change.claim is not None:
            claim = change.claim

            async def release() -> None:
                await self.store.release_outcome(fact.clinic_id, fact.reminder_id, claim)

            await publish_claimed(self.publisher, change.announce, release)
        if failed_write is not None:  # the retry writes it again; the commit is done
            raise TransientError(f"a write beside the commit failed: {failed_write}")

    async def retried(self, fact: Fact) -> None:
        """A failed attempt the notifier will retry: counted and listed, state unchanged."""
        now = self.clock()
        counts, entry = retried(fact, now)
        metrics.DELIVERY_OUTCOMES.labels(fact.channel, fact.provider or "-", "retried").inc()
        client = fact.about.client_ref if fact.about else None
        also = []
        if client is not None:
            step = retry_entry(
                fact.reminder_id, fact.channel, fact.provider, entry["reason"], fact.at or now
            )
            also.append(self.store.timeline_write(fact.clinic_id, client, [step], now))
        await self.store.count(fact.clinic_id, now, counts, [("failures", entry)], also)

    async def consent(
        self,
        clinic_id: str,
        channel: str,
        source: str,
        opted_out: bool,
        client_ref: str | None = None,
    ) -> None:
        """A client's own opt-out or opt-in: counted and listed for the dashboard, and on
        the client's timeline."""
        now = self.clock()
        verb = "optout" if opted_out else "optin"
        entry = {"at": now.isoformat(), "channel": channel, "source": source, "change": verb}
        also = []
        if client_ref is not None:
            step = consent_entry(channel, source, opted_out, now)
            also.append(self.store.timeline_write(clinic_id, client_ref, [step], now))
        await self.store.count(
            clinic_id, now, {f"{verb}|{channel}|{source}": 1}, [("optouts", entry)], also
        )

    async def whose(self, event: DeliveryStatusChanged) -> tuple[str, str]:
        """(clinic, reminder) of a provider callback. The notifier names them in every
        callback URL it gives; only a message the previous release sent is found through
        the record of its send, which may not be here yet: then the callback is retried
        (through the retry tiers) until it is."""
        if event.reminder_id is not None and event.clinic_id != UNKNOWN_CLINIC:
            return event.clinic_id, event.reminder_id
        found = await self.store.reminder_of(event.provider, event.provider_message_id)
        if found is None:
            raise TransientError("status callback before its send is known; retried")
        return found


# -- what each event is as a fact -------------------------------------------------------

NotifierEvent = NotificationDispatched | NotificationFailed | NotificationSuppressed


def about(event: NotifierEvent) -> About:
    """What the notifier's event says about its reminder; its correlation id is the EHR's
    (the notifier carries it over from the reminder.due)."""
    return About(
        assignment_id=event.assignment_id,
        client_ref=event.client_ref,
        occurrence_date=event.occurrence_date,
        purpose=event.purpose.value if event.purpose else None,
        correlation_id=event.correlation_id,
    )


def dispatched_fact(event: NotificationDispatched) -> Fact:
    return Fact(
        event.clinic_id,
        event.reminder_id,
        event.channel.value,
        DeliveryStatus.SENT,
        event.provider,
        about=about(event),
        at=event.occurred_at,
    )


def failed_fact(event: NotificationFailed) -> Fact:
    channel = event.channel.value if event.channel else NO_CHANNEL
    return Fact(
        event.clinic_id,
        event.reminder_id,
        channel,
        DeliveryStatus.FAILED,
        event.provider,
        event.reason,
        about(event),
        at=event.occurred_at,
    )


def suppressed_fact(event: NotificationSuppressed) -> Fact:
    reason = event.reason.value
    status = DeliveryStatus.OPTED_OUT if reason == "opted_out" else DeliveryStatus.SUPPRESSED
    channel = event.channel.value if event.channel else NO_CHANNEL
    return Fact(
        event.clinic_id,
        event.reminder_id,
        channel,
        status,
        None,
        reason,
        about(event),
        at=event.occurred_at,
        until=event.deferred_until,
    )


def status_fact(event: DeliveryStatusChanged, clinic_id: str, reminder_id: str) -> Fact:
    reason = event.error_code or event.status.value
    channel, status, provider = event.channel.value, event.status, event.provider
    return Fact(clinic_id, reminder_id, channel, status, provider, reason, at=event.reported_at)
