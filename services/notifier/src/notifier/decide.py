"""Whether and how to send one due reminder, from plain values (pure).

``decide`` takes the reminder, what the store loaded about it (``SendContext``) and the
time, and answers: it was sent already (announce the record again), suppress it (with
the reason, announced once), defer or drop it for quiet hours (announced once), fail it
(every allowed channel failed permanently before), or send it: the channels in order,
each with its rendered message, and the cap slot it must take first.

Quiet hours that end within ``quiet_defer_max`` defer the reminder (a delayed
re-delivery); longer ones drop it: the scheduler plans around quiet hours, so only a
late reminder lands here, and a reminder hours late is noise, not help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from notifier import outcomes
from notifier.assignments import AssignmentState, stop_reason
from notifier.caps import Period, period
from notifier.channels import plan_channels
from notifier.compose import DoneLink, LinkConfig, build_message, done_link, render_reminder
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
from shared.quiet_hours import end_of_quiet, quiet_at

SUPPRESSED, QUIET = "suppressed", "quiet"  # names of the once-announcements


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
    link: DoneLink | None
    caps: Caps
    period: Period  # the client's local day and week, where the cap slot counts


Decision = AlreadySent | Suppress | Defer | Drop | Fail | Send


def decide(event: ReminderDue, context: SendContext, now: datetime, rules: Rules) -> Decision:
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
    return _send(event, context, prefs, plan.channels, now=now, rules=rules)


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
) -> Send:
    link = done_link(event, rules.links, now)
    rendered = render_reminder(event, prefs, context.policy, link)
    messages = {
        channel: build_message(
            event,
            channel=channel,
            prefs=prefs,
            rendered=rendered,
            links=rules.links,
            link=link,
            first_sms=context.first_sms,
        )
        for channel in channels
    }
    caps = context.policy.caps if context.policy else Caps()
    return Send(channels, messages, link, caps, period(now, prefs.timezone))
