"""RFC 3464 delivery status notifications (bounces of plain SMTP) as email outcomes (pure).

A DSN is a ``multipart/report; report-type=delivery-status`` message: a human part, a
``message/delivery-status`` part (per-message fields, then one block per recipient with
``Action``, ``Status``, ``Final-Recipient``) and the returned original, in full
(``message/rfc822``) or headers only (``text/rfc822-headers``). The returned headers carry
our ``X-BS-Reminder``, which names the reminder. ``failed`` with a 5.x.x status is a hard
bounce; a 4.x.x ``failed`` (the server gave up retrying) is a failure without a verdict
on the address; ``delayed`` and ``relayed`` (to a system that reports nothing more) say
nothing final; ``delivered``/``expanded`` is delivered.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from email.parser import HeaderParser

from notifier.email_outcome import EmailOutcome
from notifier.providers.smtp import REMINDER_HEADER, EmailRef, parse_reminder_header
from shared.contracts import DeliveryStatus

MAX_DSN_BYTES = 256 * 1024
S = DeliveryStatus


class DsnError(ValueError):
    """Not a DSN we can use; the message says why (the endpoint answers it with a 4xx)."""


def parse_dsn(raw: bytes) -> list[EmailOutcome]:
    """The outcome per recipient of a DSN about one of our emails (none for ``delayed``)."""
    report = email.message_from_bytes(raw, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report":
        raise DsnError("not a multipart/report message")
    if str(report.get_param("report-type") or "").lower() != "delivery-status":
        raise DsnError("report-type is not delivery-status")
    status_part = _part(report, "message/delivery-status")
    if status_part is None:
        raise DsnError("no message/delivery-status part")
    ref = _returned_ref(report)
    if ref is None:
        raise DsnError(f"the returned headers name no reminder ({REMINDER_HEADER})")
    outcomes = []
    for block in _recipient_blocks(status_part):
        outcome = _outcome(block, ref)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _part(report: Message, content_type: str) -> Message | None:
    for part in report.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _recipient_blocks(part: Message) -> list[Message]:
    """The per-recipient field groups (the first group is about the whole message)."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses the groups as messages
        blocks = [b for b in payload if isinstance(b, Message)]
    else:
        text = str(payload).replace("\r\n", "\n")
        blocks = [HeaderParser().parsestr(g) for g in text.split("\n\n") if g.strip()]
    return [b for b in blocks if b.get("Action")]


def _returned_ref(report: Message) -> EmailRef | None:
    original = _part(report, "message/rfc822")
    headers: Message | None = None
    if original is not None:
        inner = original.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            headers = inner[0]
    elif (returned := _part(report, "text/rfc822-headers")) is not None:
        text = returned.get_payload(decode=True)
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        headers = HeaderParser().parsestr(raw)
    if headers is None or not headers.get(REMINDER_HEADER):
        return None
    return parse_reminder_header(
        str(headers[REMINDER_HEADER]), str(headers.get("Message-ID") or "")
    )


def _outcome(block: Message, ref: EmailRef) -> EmailOutcome | None:
    action = str(block.get("Action", "")).strip().lower()
    status = str(block.get("Status", "")).strip().split(" ")[0]
    recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
    address = recipient.partition(";")[2].strip() or None
    code = f"dsn:{status}" if status else "dsn"
    if action == "failed":
        hard = status.startswith("5.")
        if hard and address:
            return EmailOutcome(ref, S.BOUNCED, address, code, "bounced")
        return EmailOutcome(ref, S.BOUNCED if hard else S.FAILED, address, code)
    if action in ("delivered", "expanded"):
        return EmailOutcome(ref, S.DELIVERED, address, code)
    return None  # delayed, relayed: nothing final; the email stays sent
