"""Email through SMTP (aiosmtplib): plain text and HTML, with List-Unsubscribe.

Every email names its reminder twice, so what comes back about it can be placed: in
``X-SMTPAPI`` unique args (SendGrid's SMTP relay strips the header and returns the args in
every event of its Event Webhook) and in our own ``X-BS-Reminder`` header (a mail server's
RFC 3464 bounce returns the original headers). Both hold ids only, never a name or address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qsl, urlencode

import aiosmtplib

from notifier.providers.base import OutboundMessage, ProviderError, SendResult


class SmtpProvider:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._auth = (username, password) if username else None
        self._starttls, self._use_tls, self._timeout = starttls, use_tls, timeout

    @property
    def rate_key(self) -> str:
        return f"smtp:{self.host}:{self.sender}"

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_email:
            raise ProviderError("no email address", permanent=True)
        email = build_email(message, self.sender)
        try:
            await aiosmtplib.send(
                email,
                sender=self.sender,  # the envelope stays ours: bounces come back to us
                hostname=self.host,
                port=self.port,
                username=self._auth[0] if self._auth else None,
                password=self._auth[1] if self._auth else None,
                start_tls=self._starttls,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ProviderError("recipient refused", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx replies are final for this message; 4xx ask us to try again later.
            raise ProviderError(f"smtp {exc.code}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ProviderError(f"smtp unavailable: {type(exc).__name__}", permanent=False) from exc
        return SendResult(str(email["Message-ID"]).strip("<>"))

    async def aclose(self) -> None:
        return None


REMINDER_HEADER = "X-BS-Reminder"
SENDGRID_HEADER = "X-SMTPAPI"


@dataclass(frozen=True)
class EmailRef:
    """Which reminder an email was sent for, as the email itself carries it."""

    clinic_id: str
    reminder_id: str
    message_id: str = ""  # our Message-ID, without angle brackets


def reminder_header(message: OutboundMessage) -> str:
    return urlencode({"clinic_id": message.clinic_id, "reminder_id": message.reminder_id})


def parse_reminder_header(value: str, message_id: str = "") -> EmailRef | None:
    """The reminder an ``X-BS-Reminder`` value names; None when it names none."""
    # Ids hold no whitespace: any is folding (a long header wrapped on its way back).
    fields = dict(parse_qsl("".join(value.split())))
    clinic, reminder = fields.get("clinic_id"), fields.get("reminder_id")
    if not clinic or not reminder:
        return None
    return EmailRef(clinic, reminder, message_id.strip().strip("<>"))


def unique_args(message: OutboundMessage, message_id: str) -> str:
    """SendGrid's ``X-SMTPAPI`` header: unique args come back as top-level keys of every
    event about this email."""
    args = {
        "bs_clinic_id": message.clinic_id,
        "bs_reminder_id": message.reminder_id,
        "bs_message_id": message_id.strip("<>"),
    }
    return json.dumps({"unique_args": args}, separators=(",", ":"))


def build_email(message: OutboundMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    # The clinic's own From and Reply-To when its policy names them (C: sender identity).
    email["From"] = message.sender.email_from or sender
    email["To"] = message.to_email or ""
    if message.sender.email_reply_to:
        email["Reply-To"] = message.sender.email_reply_to
    email["Subject"] = message.subject
    message_id = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    email["Message-ID"] = message_id
    email[REMINDER_HEADER] = reminder_header(message)
    email[SENDGRID_HEADER] = unique_args(message, message_id)
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email
