"""The reminders a ``reminder.due`` with a digest stands for, each as the ``reminder.due``
it would have been alone (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from notifier.compose import DoneLink
from notifier.outcomes import SentRecord
from shared.contracts import ReminderDue, derived_event_id
from shared.contracts.internal import DigestItem


def members_of(event: ReminderDue) -> list[ReminderDue]:
    """The event's own reminder first, then the digest's, in the order it lists them."""
    if not event.digest:
        return [event]
    lead = event.model_copy(update={"digest": ()})
    return [lead, *(member(event, item) for item in event.digest)]


def member(event: ReminderDue, item: DigestItem) -> ReminderDue:
    """One reminder of a digest: the client, clinic and instant of the event, the rest its
    own; the event id is the one the scheduler gives that reminder alone, so whatever is
    announced about it is caused by the same id either way."""
    return event.model_copy(
        update={
            "event_id": derived_event_id(item.reminder_id),
            "correlation_id": item.correlation_id,
            "reminder_id": item.reminder_id,
            "assignment_id": item.assignment_id,
            "assignment_version": item.assignment_version,
            "occurrence_date": item.occurrence_date,
            "purpose": item.purpose,
            "activity_kind": item.activity_kind,
            "activity_title": item.activity_title,
            "policy_id": item.policy_id,
            "digest": (),
        }
    )


@dataclass(frozen=True)
class Together:
    """The reminders one digest message is sent for, the key (whose lease, cap slot and
    send the message is) first; each with its assignment revision as loaded (checked
    again before the provider call) and its own done link (the digest page's buttons)."""

    members: tuple[ReminderDue, ...]
    revs: tuple[int, ...]
    links: tuple[DoneLink, ...]


def each_sent(
    event: ReminderDue, record: SentRecord, together: Together | None
) -> list[tuple[ReminderDue, SentRecord]]:
    """What one accepted message leaves in the ledger: ``record`` for ``event`` alone; for
    a digest (whose ``record`` names the digest page's code as its link), a record per
    reminder it carried: the same provider message, each with its own day, purpose and
    done link, all naming the key and the digest's page; the key's also lists the others
    (a status callback names only the key)."""
    if together is None:
        return [(event, record)]
    lead = together.members[0].reminder_id
    others = [m.reminder_id for m in together.members[1:]]
    out = []
    for member, link in zip(together.members, together.links, strict=True):
        own = replace(
            record,
            occurrence_date=member.occurrence_date.isoformat(),
            purpose=member.purpose.value,
            link_code=link.code,
            link_expires_at=link.expires_at.isoformat(),
            digest_of=lead,
            digest_code=record.link_code,
            digest=others if member.reminder_id == lead else None,
        )
        out.append((member, own))
    return out
