"""Turns a due reminder, a channel and the directory's records into an outbound message."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.providers.base import OutboundMessage, Sender
from notifier.unsubscribe import UNSUBSCRIBE_PATH, UnsubscribeClaims, sign_unsubscribe
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy, ReminderDue
from shared.contracts import ReminderPurpose as Purpose
from shared.contracts.policy import Senders
from shared.links import digest_code, digest_url, done_code, done_url
from shared.messages.sms_text import MAX_SMS_SEGMENTS, sms_text
from shared.messages.templates import Rendered, RenderInput, pick_language, render

FALLBACK_CLINIC_NAME = "Your care team"
# The parts of a message each channel carries: a send renders those of its channels only.
CHANNEL_PARTS = {
    Channel.SMS: ("sms",),
    Channel.PUSH: ("push_title", "push_body"),
    Channel.EMAIL: ("subject", "text", "html"),
}


@dataclass(frozen=True)
class LinkConfig:
    secrets: tuple[str, ...]  # newest first
    tracker_base_url: str
    notifier_base_url: str
    ttl: timedelta


@dataclass(frozen=True)
class DoneLink:
    """The one-tap done link of a reminder: the code the tracker resolves, and until when."""

    code: str
    url: str
    expires_at: datetime


def done_link(event: ReminderDue, links: LinkConfig, now: datetime) -> DoneLink | None:
    """None for an encouragement: it follows a completion, there is nothing to mark done."""
    if event.purpose is Purpose.ENCOURAGEMENT:
        return None
    code = done_code(links.secrets, event.clinic_id, event.reminder_id)
    return DoneLink(code, done_url(links.tracker_base_url, code), now + links.ttl)


def digest_link(event: ReminderDue, links: LinkConfig, now: datetime) -> DoneLink:
    """A digest's one link (``event`` is the reminder the message is sent for): its page
    lists the digest's reminders, each with its own done button."""
    code = digest_code(links.secrets, event.clinic_id, event.reminder_id)
    return DoneLink(code, digest_url(links.tracker_base_url, code), now + links.ttl)


def render_reminder(
    event: ReminderDue,
    prefs: ClientPreferencesChanged,
    policy: ClinicPolicy | None,
    link: DoneLink | None,
    count: int = 1,  # reminders in the message: more than one is a digest
    *,
    channels: Collection[Channel] = tuple(Channel),
) -> Rendered:
    messaging = policy.messaging if policy else None
    data = RenderInput(
        purpose=event.purpose,
        clinic_name=messaging.clinic_name if messaging else FALLBACK_CLINIC_NAME,
        activity_title=event.activity_title,
        allow_activity_details=bool(messaging and messaging.allow_activity_details),
        done_link=link.url if link else None,
        count=count,
        # A new phrasing each day, the same one for a redelivery (shared.messages.catalogue).
        variant_key=f"{event.clinic_id}/{event.client_ref}",
        variant_day=event.occurrence_date,
    )
    parts = {part for channel in channels for part in CHANNEL_PARTS[channel]}
    return render(data, messaging, pick_language(prefs.language, messaging), parts)


def build_message(
    event: ReminderDue,
    *,
    channel: Channel,
    prefs: ClientPreferencesChanged,
    rendered: Rendered,
    links: LinkConfig,
    link: DoneLink | None,
    first_sms: bool,
    senders: Senders | None = None,
    carries: int = 1,
) -> OutboundMessage:
    contacts = prefs.contacts
    url = link.url if link else None
    senders = senders or Senders()
    if channel is Channel.SMS:
        text = sms_text(
            rendered.sms,
            link=url,
            first_to_number=first_sms,
            max_segments=MAX_SMS_SEGMENTS,
            opt_out=rendered.opt_out,  # in the message's language
        )
        return OutboundMessage(
            channel,
            *_about(event),
            client_ref=event.client_ref,
            carries=carries,
            to_phone=contacts.sms,
            text=text,
            sender=Sender(senders.sms_from, senders.sms_messaging_service_sid),
            providers=senders.sms_providers,
        )
    if channel is Channel.PUSH:
        # The link rides as the notification's URL: a tap on it opens the done page.
        return OutboundMessage(
            channel,
            *_about(event),
            client_ref=event.client_ref,
            carries=carries,
            to_push=contacts.push,
            text=rendered.push_body,
            push_title=rendered.push_title,
            url=url or "",
        )
    claims = UnsubscribeClaims(event.clinic_id, event.client_ref, Channel.EMAIL.value)
    unsubscribe = f"{links.notifier_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/"
    unsubscribe += sign_unsubscribe(links.secrets, claims)
    return OutboundMessage(
        channel,
        *_about(event),
        client_ref=event.client_ref,
        carries=carries,
        to_email=str(contacts.email) if contacts.email else None,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        sender=Sender(email_from=senders.email_from, email_reply_to=senders.email_reply_to),
    )


def _about(event: ReminderDue) -> tuple[str, str, str]:
    """The reminder, clinic and correlation id a message carries (a status callback
    names them)."""
    return event.reminder_id, event.clinic_id, event.correlation_id
