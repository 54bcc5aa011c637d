"""Turns a due reminder, a channel and the directory's records into an outbound message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.providers.base import OutboundMessage
from notifier.sms_text import fit, with_opt_out
from notifier.templates import Rendered, RenderInput, pick_language, render
from notifier.unsubscribe import UNSUBSCRIBE_PATH, UnsubscribeClaims, sign_unsubscribe
from shared.contracts import Channel, ClientPreferencesChanged, ClinicPolicy, ReminderDue
from shared.contracts import ReminderPurpose as Purpose
from shared.links import done_code, done_url

FALLBACK_CLINIC_NAME = "Your care team"
MAX_SMS_SEGMENTS = 2


@dataclass(frozen=True)
class LinkConfig:
    secrets: tuple[str, ...]  # newest first
    tracker_base_url: str
    notifier_base_url: str
    ttl: timedelta


def render_reminder(
    event: ReminderDue,
    prefs: ClientPreferencesChanged,
    policy: ClinicPolicy | None,
    links: LinkConfig,
    now: datetime,
) -> Rendered:
    messaging = policy.messaging if policy else None
    link = None
    if event.purpose is not Purpose.ENCOURAGEMENT:
        code = done_code(links.secrets, event.clinic_id, event.reminder_id)
        link = done_url(links.tracker_base_url, code)
    data = RenderInput(
        purpose=event.purpose,
        clinic_name=messaging.clinic_name if messaging else FALLBACK_CLINIC_NAME,
        activity_title=event.activity_title,
        allow_activity_details=bool(messaging and messaging.allow_activity_details),
        done_link=link,
    )
    return render(data, messaging, pick_language(prefs.language, messaging))


def build_message(
    event: ReminderDue,
    *,
    channel: Channel,
    prefs: ClientPreferencesChanged,
    rendered: Rendered,
    links: LinkConfig,
    first_sms: bool,
) -> OutboundMessage:
    contacts = prefs.contacts
    if channel is Channel.SMS:
        text = with_opt_out(fit(rendered.sms, MAX_SMS_SEGMENTS), first_sms)
        return OutboundMessage(channel, event.reminder_id, to_phone=contacts.sms, text=text)
    if channel is Channel.PUSH:
        return OutboundMessage(
            channel,
            event.reminder_id,
            to_push=contacts.push,
            text=rendered.push_body,
            push_title=rendered.push_title,
        )
    claims = UnsubscribeClaims(event.clinic_id, event.client_ref, Channel.EMAIL.value)
    url = f"{links.notifier_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/"
    url += sign_unsubscribe(links.secrets, claims)
    return OutboundMessage(
        channel,
        event.reminder_id,
        to_email=str(contacts.email) if contacts.email else None,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
