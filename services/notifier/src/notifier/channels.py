"""Which channels a reminder may go out on, in which order (pure)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from shared.contracts import Channel, ClientPreferencesChanged, SuppressionReason

DEFAULT_ORDER: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL, Channel.PUSH)


@dataclass(frozen=True)
class ChannelPlan:
    channels: tuple[Channel, ...]
    # Why nothing may be sent, when ``channels`` is empty.
    reason: SuppressionReason | None = None


def channel_order(
    preferred: Sequence[Channel], clinic: Sequence[Channel] | None
) -> tuple[Channel, ...]:
    """The client's order where given, limited to what the clinic uses."""
    allowed = tuple(clinic) if clinic else DEFAULT_ORDER
    if not preferred:
        return allowed
    return tuple(c for c in preferred if c in allowed)


def plan_channels(
    prefs: ClientPreferencesChanged | None,
    clinic_channels: Sequence[Channel] | None,
    opted_out: Collection[Channel] = (),
    failed: Collection[Channel] = (),
) -> ChannelPlan:
    """Channels in order that have consent, a contact point, no opt-out and no permanent
    failure for this reminder; else the most telling reason to suppress."""
    if prefs is None:
        return ChannelPlan((), SuppressionReason.NO_CONTACT)
    if prefs.opted_out:
        return ChannelPlan((), SuppressionReason.OPTED_OUT)
    order = channel_order(prefs.channels, clinic_channels)
    consented = [c for c in order if prefs.consent.allows(c)]
    if not consented:
        return ChannelPlan((), SuppressionReason.NO_CONSENT)
    reachable = [c for c in consented if prefs.contacts.has(c)]
    if not reachable:
        return ChannelPlan((), SuppressionReason.NO_CONTACT)
    subscribed = [c for c in reachable if c not in opted_out]
    if not subscribed:
        return ChannelPlan((), SuppressionReason.OPTED_OUT)
    usable = tuple(c for c in subscribed if c not in failed)
    return ChannelPlan(usable, None if usable else SuppressionReason.NO_CONTACT)
