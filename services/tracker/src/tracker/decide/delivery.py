"""What one delivery fact does to a reminder, decided on what was loaded for it.

A fact is a send (``notification.dispatched``), a failure, a suppression or a provider's
status callback, in any order. Each moves the message's and the reminder's state by rank
(``tracker.delivery``), adds the outcomes to count, and fills in what the reminder's
outcome announcement needs (assignment, client, day, purpose, the EHR's correlation id),
which only the notifier's events carry. Whichever fact completes the picture (a settled
outcome and what to say about it) announces it, once per kind, claimed in the same commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.contracts import (
    DeliveryStatus,
    Event,
    ReminderDelivered,
    ReminderFailed,
    derived_event_id,
)
from tracker.decide.timeline import Entry, delivery_step
from tracker.delivery import RANK, Transition, advance, is_failure, reached
from tracker.privacy import scrub

NO_CHANNEL = "none"  # a failure or suppression before any channel was chosen
ANNOUNCED = "announced:"  # reminder hash field prefix of an outcome's once-claim
# What an announcement needs, in the reminder hash.
_ABOUT = ("assignment_id", "client_ref", "occurrence_date", "purpose", "correlation_id")


@dataclass(frozen=True)
class About:
    """What the notifier's events say about their reminder (any may be missing)."""

    assignment_id: str | None = None
    client_ref: str | None = None
    occurrence_date: date | None = None
    purpose: str | None = None
    correlation_id: str | None = None

    def fields(self) -> dict[str, str]:
        values = {name: getattr(self, name) for name in _ABOUT}
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items() if v}


@dataclass(frozen=True)
class Fact:
    """One delivery fact for a message (reminder x channel), whichever event brought it."""

    clinic_id: str
    reminder_id: str
    channel: str
    status: DeliveryStatus
    provider: str | None = None
    reason: str | None = None
    about: About | None = None  # None for a provider callback: it knows nothing of it
    at: datetime | None = None  # when it happened (the provider's time for a callback)
    until: datetime | None = None  # a suppression's deferral (quiet hours moved it)


@dataclass(frozen=True)
class Loaded:
    """The reminder's fields, its message's fields and the outcomes claimed before this
    layout (``once:outcome:...``), as one load read them; ``carry``: what only a previous
    key layout holds, for the commit to write into the current one (as stored)."""

    reminder: Mapping[str, str] = field(default_factory=dict)
    message: Mapping[str, str] = field(default_factory=dict)
    announced_before: frozenset[str] = frozenset()
    carry: Mapping[str, str] = field(default_factory=dict)

    @property
    def rev(self) -> int:
        return int(self.reminder.get("rev", "0"))


@dataclass(frozen=True)
class Change:
    """What to write in one commit, then publish."""

    reminder: dict[str, str]
    message: dict[str, str]
    counts: dict[str, int]
    failure: dict[str, str] | None  # an entry of the clinic's recent failures
    announce: Event | None = None
    claim: str | None = None  # the reminder field that claims ``announce``
    outcomes: tuple[str, ...] = ()  # counted for the metrics, under ``label``
    label: str = "-"
    timeline: list[Entry] = field(default_factory=list)  # for the client's timeline
    timeline_client: str | None = None  # whose timeline (None: nothing to add to one)

    @property
    def empty(self) -> bool:
        """A repeat of what is known already: nothing to write (or announce)."""
        return not (self.reminder or self.message or self.counts or self.announce)


def decide(loaded: Loaded, fact: Fact, caused: Mapping[str, Any], now: datetime) -> Change:
    msg = advance(
        _status(loaded.message.get("status")),
        fact.status,
        left_before=loaded.message.get("left") == "1",
    )
    best = advance(_status(loaded.reminder.get("best")), fact.status)
    label = fact.provider or loaded.message.get("provider") or "-"
    message = _message_fields(msg, fact, loaded.message.get("provider"))
    reminder = _about_fields(loaded.reminder, fact.about)
    if best.changed:
        reminder |= {"best": best.current.value, "best_rank": str(RANK[best.current])}
        reminder["best_channel"] = fact.channel
    counts = {f"{fact.channel}|{label}|{o}": 1 for o in msg.counted()}
    failure = None
    if msg.changed and is_failure(fact.status) and msg.current is fact.status:
        reason = scrub(fact.reason or fact.status.value)
        counts[f"reason|{reason}"] = 1
        reminder["reason"] = reason
        failure = failure_entry(fact, label, fact.status.value, reason, now)
    after = {**loaded.reminder, **reminder}
    found = announcement(after, loaded.announced_before, fact, caused, now)
    claim, event = found if found else (None, None)
    step = delivery_step(
        after,
        reminder_id=fact.reminder_id,
        channel=fact.channel,
        status=fact.status,
        provider=None if label == "-" else label,
        reason=fact.reason,
        at=fact.at or now,
        until=fact.until,
    )
    reminder |= step.reminder
    return Change(
        reminder,
        message,
        counts,
        failure,
        event,
        claim,
        msg.counted(),
        label,
        step.entries,
        step.client_ref,
    )


def retried(fact: Fact, now: datetime) -> tuple[dict[str, int], dict[str, str]]:
    """A failed attempt the notifier retries: counted and listed, no state changes."""
    label = fact.provider or "-"
    reason = scrub(fact.reason or "failed")
    counts = {f"{fact.channel}|{label}|retried": 1, f"reason|{reason}": 1}
    return counts, failure_entry(fact, label, "retrying", reason, now)


def consent_entry(channel: str, source: str, opted_out: bool, at: datetime) -> Entry:
    """A client's own opt-out or opt-in (or a push subscription that ended) on their
    timeline: the channel and why, never the contact point."""
    kind = "channel_off" if opted_out else "channel_on"
    return {"at": at.isoformat(), "kind": kind, "channel": channel, "reason": source}


def failure_entry(
    fact: Fact, provider: str, status: str, reason: str, now: datetime
) -> dict[str, str]:
    """The dashboard's latest failures: ids and a scrubbed reason, never PHI."""
    return {
        "at": now.isoformat(),
        "reminder_id": fact.reminder_id,
        "channel": fact.channel,
        "provider": provider,
        "status": status,
        "reason": reason,
    }


def announcement(
    meta: Mapping[str, str],
    announced_before: frozenset[str],
    fact: Fact,
    caused: Mapping[str, Any],
    now: datetime,
) -> tuple[str, Event] | None:
    """The outcome to announce now, with the reminder field claiming it; None while the
    outcome or what to say about it is missing, or when it was announced already."""
    best = _status(meta.get("best"))
    if best is None or not all(k in meta for k in ("assignment_id", "client_ref")):
        return None
    if "occurrence_date" not in meta:
        return None
    channel = meta.get("best_channel")
    channel = None if channel == NO_CHANNEL else channel
    kind = _kind(best, channel, "purpose" in meta)
    if kind is None or ANNOUNCED + kind in meta or kind in announced_before:
        return None
    # A provider callback has an id of its own; the EHR wants back the one it sent.
    correlation = {"correlation_id": meta["correlation_id"]} if "correlation_id" in meta else {}
    common: dict[str, Any] = {
        **caused,
        **correlation,
        "clinic_id": fact.clinic_id,
        # The same id for the same outcome: an EHR drops the rare second announcement (a
        # publish retried after its claim was given back, replicas of two releases).
        "event_id": derived_event_id(kind, fact.clinic_id, fact.reminder_id),
        "reminder_id": fact.reminder_id,
        "assignment_id": meta["assignment_id"],
        "client_ref": meta["client_ref"],
        "occurrence_date": date.fromisoformat(meta["occurrence_date"]),
    }
    if kind == "delivered":
        event: Event = ReminderDelivered(
            **common, purpose=meta["purpose"], channel=channel, delivered_at=now
        )
    else:
        event = ReminderFailed(**common, channel=channel, reason=meta.get("reason") or best.value)
    return ANNOUNCED + kind, event


def _kind(best: DeliveryStatus, channel: str | None, has_purpose: bool) -> str | None:
    # A complaint proves delivery: the EHR hears "delivered" even when the provider's
    # delivered event was lost (the complaint itself is a consent change, not an outcome).
    if reached(best):
        return "delivered" if channel and has_purpose else None
    return "failed" if is_failure(best) else None


def _message_fields(msg: Transition, fact: Fact, provider: str | None) -> dict[str, str]:
    fields: dict[str, str] = {}
    if msg.changed:
        fields |= {"status": msg.current.value, "rank": str(RANK[msg.current])}
    if msg.first_left:
        fields["left"] = "1"
    if fact.provider and fact.provider != provider:
        fields["provider"] = fact.provider
    return fields


def _about_fields(current: Mapping[str, str], about: About | None) -> dict[str, str]:
    """What the fact adds to the reminder's record: the first word on each field stands."""
    if about is None:
        return {}
    return {k: v for k, v in about.fields().items() if k not in current}


def _status(raw: str | None) -> DeliveryStatus | None:
    return DeliveryStatus(raw) if raw else None
