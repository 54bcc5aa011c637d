"""Which due reminders travel together (pure): one client's reminders due at the same
instant go as one ``reminder.due`` whose ``digest`` lists the others, so the client gets
one message naming the count instead of three texts in the same minute.

The planner spreads a client's reminders by a per-(client, slot) offset, so reminders of
one client for the same local time fire at the same instant and in the same shard (and
so in the same claim). The same instant, not a window: a window would make the grouping
depend on how a claim's batch happened to fall, and a re-fire after a crash must group
(and so name its event) the same way. A group split by a batch boundary goes as two
messages; nothing is lost.

Encouragements never group: they follow a completion and say something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.contracts import ReminderDue, ReminderPurpose
from shared.contracts.internal import MAX_DIGEST_ITEMS, DigestItem

GroupKey = tuple[str, str, datetime]


def _key(event: ReminderDue) -> GroupKey | None:
    if event.purpose is ReminderPurpose.ENCOURAGEMENT:
        return None
    return event.clinic_id, event.client_ref, event.planned_for


def grouped(events: Sequence[ReminderDue]) -> list[list[int]]:
    """The positions of ``events`` that go together, each group in the order given; a
    group holds at most ``MAX_DIGEST_ITEMS + 1``."""
    if len(events) < 2:  # the common case: nothing to look at
        return [[i] for i in range(len(events))]
    groups: dict[GroupKey | int, list[int]] = {}
    for i, event in enumerate(events):
        groups.setdefault(_key(event) or i, []).append(i)
    size = MAX_DIGEST_ITEMS + 1
    return [g[n : n + size] for g in groups.values() for n in range(0, len(g), size)]


def digest_item(event: ReminderDue) -> DigestItem:
    return DigestItem(
        reminder_id=event.reminder_id,
        assignment_id=event.assignment_id,
        assignment_version=event.assignment_version,
        occurrence_date=event.occurrence_date,
        purpose=event.purpose,
        activity_kind=event.activity_kind,
        activity_title=event.activity_title,
        policy_id=event.policy_id,
        correlation_id=event.correlation_id,
    )


def as_digest(events: Sequence[ReminderDue]) -> ReminderDue:
    """One event for a group: the reminder with the lowest id leads (the same on every
    re-fire, so the event id, derived from it, is too), the others ride in ``digest``."""
    lead, *rest = sorted(events, key=lambda e: e.reminder_id)
    if not rest:
        return lead
    return lead.model_copy(update={"digest": tuple(digest_item(e) for e in rest)})
