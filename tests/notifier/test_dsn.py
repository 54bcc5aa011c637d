"""RFC 3464 delivery status notifications on plain values: samples shaped like the RFC's
appendix and like Postfix's and Exim's bounces, with the original's headers returned."""

from __future__ import annotations

import uuid

import pytest

from notifier.dsn import DsnError, parse_dsn
from shared.contracts import DeliveryStatus

CLINIC = "riverside-behavioural-health-partnership-of-greater-manchester"
REMINDER = "rem-" + str(uuid.uuid4())
MESSAGE_ID = "<176431234.5.1@between-sessions.example.org>"
ADDRESS = "a.client@mail.example-isp.net"

RETURNED = f"""From: reminders@between-sessions.example.org
To: {ADDRESS}
Subject: Riverside Behavioural Health: an activity is waiting
Message-ID: {MESSAGE_ID}
X-BS-Reminder: clinic_id={CLINIC}&reminder_id={REMINDER}
Date: Thu, 03 Dec 2026 08:07:12 +0000
"""


def dsn(
    recipient_block: str,
    *,
    returned: str = RETURNED,
    returned_type: str = "text/rfc822-headers",
    report_type: str = "delivery-status",
) -> bytes:
    text = f"""Return-Path: <>
Received: from mx.example-isp.net by relay.between-sessions.example.org;
    Thu, 3 Dec 2026 08:07:20 +0000
Date: Thu, 3 Dec 2026 08:07:19 +0000
From: Mail Delivery System <MAILER-DAEMON@relay.between-sessions.example.org>
To: reminders@between-sessions.example.org
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type};
    boundary="RAA14128.773615765/relay.between-sessions.example.org"

This is a MIME-encapsulated message

--RAA14128.773615765/relay.between-sessions.example.org
Content-Type: text/plain

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--RAA14128.773615765/relay.between-sessions.example.org
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.between-sessions.example.org
Arrival-Date: Thu, 3 Dec 2026 08:07:12 +0000

{recipient_block}
--RAA14128.773615765/relay.between-sessions.example.org
Content-Type: {returned_type}

{returned}
--RAA14128.773615765/relay.between-sessions.example.org--
"""
    return text.replace("\n", "\r\n").encode()


HARD = f"""Final-Recipient: rfc822; {ADDRESS}
Original-Recipient: rfc822;{ADDRESS}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example-isp.net
Diagnostic-Code: smtp; 550 5.1.1 <{ADDRESS}>: Recipient address rejected: User unknown
"""


def test_a_hard_bounce_names_its_reminder_and_stops_the_address() -> None:
    (outcome,) = parse_dsn(dsn(HARD))
    assert outcome.status is DeliveryStatus.BOUNCED
    assert outcome.stop == "bounced"
    assert outcome.address == ADDRESS
    assert outcome.error_code == "dsn:5.1.1"
    assert (outcome.ref.clinic_id, outcome.ref.reminder_id) == (CLINIC, REMINDER)
    assert outcome.ref.message_id == MESSAGE_ID.strip("<>")


def test_the_full_original_returned_as_message_rfc822_works_too() -> None:
    original = RETURNED + "\nAn activity is waiting for you.\n"
    (outcome,) = parse_dsn(dsn(HARD, returned=original, returned_type="message/rfc822"))
    assert outcome.status is DeliveryStatus.BOUNCED
    assert outcome.ref.reminder_id == REMINDER


def test_a_folded_reminder_header_is_read_whole() -> None:
    folded = RETURNED.replace(
        f"X-BS-Reminder: clinic_id={CLINIC}&reminder_id={REMINDER}",
        f"X-BS-Reminder: clinic_id={CLINIC}&\n reminder_id={REMINDER}",
    )
    (outcome,) = parse_dsn(dsn(HARD, returned=folded))
    assert outcome.ref.reminder_id == REMINDER


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("failed", "4.4.7", DeliveryStatus.FAILED),  # gave up retrying: no verdict on the address
        ("delivered", "2.0.0", DeliveryStatus.DELIVERED),
        ("expanded", "2.0.0", DeliveryStatus.DELIVERED),
    ],
)
def test_other_final_actions(action: str, status: str, expected: DeliveryStatus) -> None:
    block = f"Final-Recipient: rfc822; {ADDRESS}\nAction: {action}\nStatus: {status}\n"
    (outcome,) = parse_dsn(dsn(block))
    assert outcome.status is expected
    assert outcome.stop is None


@pytest.mark.parametrize("action", ["delayed", "relayed"])
def test_delays_and_relays_say_nothing_final(action: str) -> None:
    block = (
        f"Final-Recipient: rfc822; {ADDRESS}\nAction: {action}\nStatus: 4.4.1\n"
        "Will-Retry-Until: Sat, 5 Dec 2026 08:07:12 +0000\n"
    )
    assert parse_dsn(dsn(block)) == []


def test_several_recipients_each_get_an_outcome() -> None:
    other = "second.address@example-isp.net"
    block = HARD + f"\nFinal-Recipient: rfc822; {other}\nAction: delivered\nStatus: 2.0.0\n"
    outcomes = parse_dsn(dsn(block))
    assert [(o.address, o.status) for o in outcomes] == [
        (ADDRESS, DeliveryStatus.BOUNCED),
        (other, DeliveryStatus.DELIVERED),
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"From: someone\r\nSubject: hello\r\n\r\nplain mail", "multipart/report"),
        (dsn(HARD, report_type="disposition-notification"), "delivery-status"),
        (dsn(HARD, returned="From: someone@example.org\nSubject: not ours\n"), "X-BS-Reminder"),
        (dsn(HARD, returned="X-BS-Reminder: clinic_id=only-a-clinic\n"), "X-BS-Reminder"),
    ],
)
def test_what_is_not_a_usable_dsn_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(DsnError, match=reason):
        parse_dsn(raw)
