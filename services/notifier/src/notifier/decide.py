"""Whether and how to send one due reminder, from plain values (pure).

``decide`` takes the reminder, what the store loaded about it (``SendContext``) and the
time, and answers: it was sent already (announce the record again), suppress it (with
the reason, announced once), defer or drop it for quiet hours (announced once), fail it
(every allowed channel failed permanently before), or send it: the channels in order,
each with its rendered message, and the cap slot it must take first.

Quiet hours that end within ``quiet_defer_max`` defer the reminder (a delayed
re-delivery); longer ones drop it: the scheduler plans around quiet hours, so only a
late reminder lands here, and a reminder hours late is noise, not help.

A ``reminder.due`` with a ``digest`` carries several reminders of one client due at the
same instant. Those not sent yet and not stopped (done, cancelled, paused) are "live";
with two or more live and the clinic's ``messaging.digest`` on, they go as one message
(``Grouped``): it names the count and links to a page listing them, takes one cap slot,
and is decided as the first live one (its quiet hours, channels and caps are the
client's, the same for all). Every other case is ``Split``: each reminder is handled on
its own, exactly as if it had come alone (the ledger keeps each to one message).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from notifier import outcomes
from notifier.assignments import AssignmentState, stop_reason
from notifier.caps import Period, period
from notifier.channels import plan_channels
from notifier.compose import (
    DoneLink,
    LinkConfig,
    build_message,
    digest_link,
    done_link,
    render_reminder,
)
from notifier.digests import Together, members_of
from notifier.outcomes import SentRecord
from notifier.providers.base import OutboundMessage
from shared.contracts import (
    Caps,
    Channel,
    ClientPreferencesChanged,
    ClinicPolicy,
    NotificationDispatched,
    NotificationFailed,
    NotificationSuppressed,
    ReminderDue,
    SuppressionReason,
)
from shared.contracts import ReminderPurpose as Purpose
from shared.quiet_hours import end_of_quiet, quiet_at

SUPPRESSED, QUIET = "suppressed", "quiet"  # names of the once-announcements


@dataclass(frozen=True)
class MemberState:
    """What the load found about one reminder of a digest."""

    sent: SentRecord | None = None
    assignment: AssignmentState | None = None
    assignment_rev: int = 0


@dataclass(frozen=True)
class SendContext:
    """Everything a send decision needs, as loaded in one call."""

    sent: SentRecord | None = None
    prefs: ClientPreferencesChanged | None = None
    policy: ClinicPolicy | None = None
    opted_out: frozenset[Channel] = frozenset()  # by the client (STOP, unsubscribe link)
    number_stopped: bool = False  # the SMS number replied STOP (for every clinic)
    failed: frozenset[Channel] = frozenset()  # permanently, for this reminder
    first_sms: bool = True  # no text of this clinic reached the SMS number yet
    assignment: AssignmentState | None = None
    assignment_rev: int = 0  # checked again right before the provider call
    members: tuple[MemberState, ...] = ()  # the digest's other reminders, in its order


@dataclass(frozen=True)
class Rules:
    links: LinkConfig
    quiet_defer_max: float  # seconds


@dataclass(frozen=True)
class AlreadySent:
    record: SentRecord
    announcement: NotificationDispatched


@dataclass(frozen=True)
class Suppress:
    announcement: NotificationSuppressed
    once: str = SUPPRESSED


@dataclass(frozen=True)
class Defer:
    """Inside quiet hours that end soon: announced once, handled again after ``wait``."""

    wait: float
    announcement: NotificationSuppressed
    once: str = QUIET


@dataclass(frozen=True)
class Drop:
    """Inside quiet hours that end too late to still be useful: announced once."""

    announcement: NotificationSuppressed
    once: str = QUIET


@dataclass(frozen=True)
class Fail:
    """Every allowed channel failed permanently on an earlier delivery."""

    announcement: NotificationFailed


@dataclass(frozen=True)
class Send:
    channels: tuple[Channel, ...]  # in order: a permanent failure fails over to the next
    messages: dict[Channel, OutboundMessage] = field(repr=False)
    link: DoneLink | None  # a digest's: the link to its page
    caps: Caps
    period: Period  # the client's local day and week, where the cap slot counts
    together: Together | None = None  # a digest


@dataclass(frozen=True)
class Split:
    """Handle each reminder of a digest on its own, as if it had come alone."""

    members: tuple[ReminderDue, ...]


@dataclass(frozen=True)
class Grouped:
    """A digest: ``decision`` (a send, or a deferral) is about ``key``, the first live
    reminder; ``others`` (sent or stopped already) are handled on their own, so each is
    announced as it would have been alone."""

    key: ReminderDue
    rev: int
    decision: Send | Defer
    others: tuple[ReminderDue, ...]


Decision = AlreadySent | Suppress | Defer | Drop | Fail | Send | Split | Grouped


def decide(event: ReminderDue, context: SendContext, now: datetime, rules: Rules) -> Decision:
    if event.digest:
        return _group(event, context, now, rules)
    return _one(event, context, now, rules)


def _group(event: ReminderDue, context: SendContext, now: datetime, rules: Rules) -> Decision:
    members = members_of(event)
    lead = MemberState(context.sent, context.assignment, context.assignment_rev)
    states = (lead, *context.members)
    # A load that did not read the digest, or what the scheduler never groups: one by one.
    odd = any(m.purpose is Purpose.ENCOURAGEMENT for m in members)
    if odd or len(states) != len(members):
        return Split(tuple(members))
    live = [(m, s) for m, s in zip(members, states, strict=True) if _live(m, s)]
    digest_on = context.policy is None or context.policy.messaging.digest
    if len(live) < 2 or not digest_on:
        return Split(tuple(members))
    key, state = live[0]
    together = Together(
        tuple(m for m, _ in live),
        tuple(s.assignment_rev for _, s in live),
        tuple(_link(m, rules, now) for m, _ in live),
    )
    alone = replace(
        context,
        sent=None,
        assignment=state.assignment,
        assignment_rev=state.assignment_rev,
        members=(),
    )
    decision = _one(key, alone, now, rules, together)
    if not isinstance(decision, Send | Defer):
        # Nobody to send it to, or hours of quiet ahead: each is announced on its own.
        return Split(tuple(members))
    chosen = {m.reminder_id for m in together.members}
    others = tuple(m for m in members if m.reminder_id not in chosen)
    return Grouped(key, state.assignment_rev, decision, others)


def _live(event: ReminderDue, state: MemberState) -> bool:
    return state.sent is None and not stop_reason(
        state.assignment, event.assignment_version, event.occurrence_date, event.purpose
    )


def _link(event: ReminderDue, rules: Rules, now: datetime) -> DoneLink:
    link = done_link(event, rules.links, now)
    if link is None:  # only an encouragement has none, and those never group
        raise ValueError("an encouragement in a digest")
    return link


def _one(
    event: ReminderDue,
    context: SendContext,
    now: datetime,
    rules: Rules,
    together: Together | None = None,
) -> Decision:
    if context.sent is not None:
        return AlreadySent(context.sent, outcomes.dispatched(event, context.sent))
    if reason := stop_reason(
        context.assignment, event.assignment_version, event.occurrence_date, event.purpose
    ):
        return Suppress(outcomes.suppressed(event, reason))
    prefs, policy = context.prefs, context.policy
    if prefs is not None and (quiet := _quiet(event, prefs, policy, now, rules)) is not None:
        return quiet
    blocked = set(context.opted_out)
    if context.number_stopped:
        blocked.add(Channel.SMS)
    plan = plan_channels(prefs, policy.channels if policy else None, blocked, context.failed)
    if prefs is None or not plan.channels:
        if context.failed:
            return Fail(outcomes.every_channel_failed(event))
        return Suppress(outcomes.suppressed(event, plan.reason or SuppressionReason.NO_CONTACT))
    return _send(event, context, prefs, plan.channels, now=now, rules=rules, together=together)


def _quiet(
    event: ReminderDue,
    prefs: ClientPreferencesChanged,
    policy: ClinicPolicy | None,
    now: datetime,
    rules: Rules,
) -> Defer | Drop | None:
    window = prefs.quiet_hours or (policy.quiet_hours if policy else None)
    if window is None or not quiet_at(now, prefs.timezone, window):
        return None
    until = end_of_quiet(now, prefs.timezone, window)
    wait = (until - now).total_seconds()
    if wait <= rules.quiet_defer_max:
        return Defer(wait, outcomes.suppressed(event, SuppressionReason.QUIET_HOURS, until))
    return Drop(outcomes.suppressed(event, SuppressionReason.QUIET_HOURS))


def _send(
    event: ReminderDue,
    context: SendContext,
    prefs: ClientPreferencesChanged,
    channels: tuple[Channel, ...],
    *,
    now: datetime,
    rules: Rules,
    together: Together | None = None,
) -> Send:
    if together is None:
        link = done_link(event, rules.links, now)
        rendered = render_reminder(event, prefs, context.policy, link, channels=channels)
    else:
        link = digest_link(event, rules.links, now)
        count = len(together.members)
        rendered = render_reminder(
            event, prefs, context.policy, link, count=count, channels=channels
        )
    messages = {
        channel: build_message(
            event,
            channel=channel,
            prefs=prefs,
            rendered=rendered,
            links=rules.links,
            link=link,
            first_sms=context.first_sms,
            senders=context.policy.messaging.senders if context.policy else None,
            carries=len(together.members) if together else 1,
        )
        for channel in channels
    }
    caps = context.policy.caps if context.policy else Caps()
    return Send(channels, messages, link, caps, period(now, prefs.timezone), together)
