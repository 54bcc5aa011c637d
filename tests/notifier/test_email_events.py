"""SendGrid's signed Event Webhook on plain values: the signature (SendGrid's own published
test vector, and keys of our own), staleness, and what each event means for a reminder."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifier import email_outcome
from notifier.directory import Directory
from notifier.email_events import (
    SignatureRefused,
    bearer_ok,
    map_event,
    parse_events,
    verify_signature,
)
from notifier.email_outcome import EmailOutcome
from notifier.providers.base import OutboundMessage
from notifier.providers.smtp import (
    REMINDER_HEADER,
    SENDGRID_HEADER,
    EmailRef,
    build_email,
    parse_reminder_header,
)
from shared.contracts import Channel, DeliveryStatus, DeliveryStatusChanged, Event

# SendGrid's published example (sendgrid-nodejs eventwebhook tests): key, signature,
# timestamp and the payload they sign.
SG_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7"
    "yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
)
SG_SIGNATURE = (
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6"
    "BpSzoQsbVRamr2nlxFDWYNH2j/0="
)
SG_TIMESTAMP = "1588788367"
SG_PAYLOAD = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
SG_NOW = datetime.fromtimestamp(int(SG_TIMESTAMP), UTC)
CLINIC = "northside-community-mental-health-and-wellbeing-collective"


class Signer:
    """A SendGrid-like key pair: signs timestamp + body, publishes base64 DER."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, timestamp: str, body: bytes) -> str:
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


def verify(
    key: str, signature: str | None, timestamp: str | None, body: bytes, now: datetime
) -> None:
    verify_signature(key, signature, timestamp, body, now=now, max_age=300)


def test_sendgrids_own_example_verifies() -> None:
    verify(SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, SG_PAYLOAD, SG_NOW)


@pytest.mark.parametrize(
    ("key", "signature", "timestamp", "body", "status"),
    [
        (SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, SG_PAYLOAD + b" ", 403),  # body changed
        (SG_KEY, SG_SIGNATURE, "1588788368", SG_PAYLOAD, 403),  # timestamp changed
        (SG_KEY, "bm90IGEgc2lnbmF0dXJl", SG_TIMESTAMP, SG_PAYLOAD, 403),  # not DER
        (SG_KEY, "%%%", SG_TIMESTAMP, SG_PAYLOAD, 403),  # not base64
        (SG_KEY, None, SG_TIMESTAMP, SG_PAYLOAD, 401),  # unsigned
        (SG_KEY, SG_SIGNATURE, None, SG_PAYLOAD, 401),
        ("", SG_SIGNATURE, SG_TIMESTAMP, SG_PAYLOAD, 403),  # not configured
        ("bm90IGEga2V5", SG_SIGNATURE, SG_TIMESTAMP, SG_PAYLOAD, 403),  # a key that is no key
    ],
)
def test_bad_or_missing_signatures_are_refused(
    key: str, signature: str | None, timestamp: str | None, body: bytes, status: int
) -> None:
    with pytest.raises(SignatureRefused) as refused:
        verify(key, signature, timestamp, body, SG_NOW)
    assert refused.value.status == status
    assert refused.value.reason


def test_a_stale_or_future_timestamp_is_refused_even_when_signed() -> None:
    signer = Signer()
    now = datetime(2026, 12, 3, 19, 30, tzinfo=UTC)
    body = b'[{"event":"delivered"}]'
    fresh = str(int((now - timedelta(seconds=60)).timestamp()))
    verify(signer.public, signer.sign(fresh, body), fresh, body, now)
    for skew in (-301, 301):
        stamp = str(int((now + timedelta(seconds=skew)).timestamp()))
        with pytest.raises(SignatureRefused, match="too old"):
            verify(signer.public, signer.sign(stamp, body), stamp, body, now)
    other = Signer()
    with pytest.raises(SignatureRefused, match="invalid"):
        verify(other.public, signer.sign(fresh, body), fresh, body, now)


def event(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": "j.doe+reminders@example-clinic-mail.org",
        "timestamp": 1796318400,
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "bs_clinic_id": CLINIC,
        "bs_reminder_id": "rem-" + str(uuid.uuid4()),
        "bs_message_id": "176431234.5.1@between-sessions.example.org",
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "status", "code", "stop"),
    [
        (event("delivered"), DeliveryStatus.DELIVERED, None, None),
        (
            event("bounce", type="bounce", status="5.1.1", reason="550 5.1.1 no such user"),
            DeliveryStatus.BOUNCED,
            "bounce:5.1.1",
            "bounced",
        ),
        (
            event("bounce", type="blocked", status="5.7.1", reason="IP reputation"),
            DeliveryStatus.FAILED,
            "blocked:5.7.1",
            None,
        ),
        (event("dropped", reason="Bounced Address"), DeliveryStatus.FAILED, "dropped", "bounced"),
        (
            event("dropped", reason="Spam Reporting Address"),
            DeliveryStatus.FAILED,
            "dropped",
            "complained",
        ),
        (event("dropped", reason="Invalid SMTPAPI header"), DeliveryStatus.FAILED, "dropped", None),
        (event("spamreport"), DeliveryStatus.COMPLAINED, "spamreport", "complained"),
    ],
)
def test_events_become_states_of_their_reminder(
    raw: dict[str, Any], status: DeliveryStatus, code: str | None, stop: str | None
) -> None:
    mapped = map_event(raw)
    assert mapped.event_id == raw["sg_event_id"]
    outcome = mapped.outcome
    assert outcome is not None
    assert (outcome.status, outcome.error_code, outcome.stop) == (status, code, stop)
    assert outcome.ref.clinic_id == CLINIC
    assert outcome.ref.reminder_id == raw["bs_reminder_id"]
    assert outcome.ref.message_id == raw["bs_message_id"]
    assert outcome.address == raw["email"]
    assert outcome.at == datetime.fromtimestamp(1796318400, UTC)


@pytest.mark.parametrize("kind", ["processed", "deferred", "open", "click", "group_resubscribe"])
def test_events_that_change_nothing_keep_the_email_sent(kind: str) -> None:
    assert map_event(event(kind)).outcome is None


def test_events_about_mail_that_is_not_ours_are_skipped() -> None:
    raw = event("bounce", type="bounce", status="5.1.1")
    del raw["bs_reminder_id"]
    assert map_event(raw).outcome is None
    assert map_event({"event": "bounce", "bs_clinic_id": 7, "bs_reminder_id": "r"}).outcome is None


def test_the_body_must_be_an_array_of_objects() -> None:
    assert parse_events(json.dumps([event("delivered")]).encode())[0]["event"] == "delivered"
    for bad in (b"{}", b"[1, 2]", b"not json", b"\xff\xfe"):
        with pytest.raises(ValueError, match="JSON"):
            parse_events(bad)


def test_every_email_names_its_reminder_for_sendgrid_and_for_bounces() -> None:
    reminder = "rem-" + str(uuid.uuid4())
    msg = OutboundMessage(
        Channel.EMAIL,
        reminder,
        clinic_id=CLINIC,
        to_email="j.doe@example-clinic-mail.org",
        subject="Northside Community Mental Health: an activity is waiting",
        text="An activity is waiting for you.",
        html="<p>An activity is waiting for you.</p>",
    )
    email = build_email(msg, "reminders@between-sessions.example.org")
    message_id = str(email["Message-ID"]).strip("<>")
    args = json.loads(str(email[SENDGRID_HEADER]))["unique_args"]
    assert args == {
        "bs_clinic_id": CLINIC,
        "bs_reminder_id": reminder,
        "bs_message_id": message_id,
    }
    ref = parse_reminder_header(str(email[REMINDER_HEADER]), str(email["Message-ID"]))
    assert ref is not None
    assert (ref.clinic_id, ref.reminder_id, ref.message_id) == (CLINIC, reminder, message_id)
    assert "j.doe" not in str(email[SENDGRID_HEADER]) + str(email[REMINDER_HEADER])
    assert parse_reminder_header("clinic_id=only") is None


def test_the_bounce_endpoint_token_must_be_long_and_equal() -> None:
    token = "t" * 40
    assert bearer_ok(token, f"Bearer {token}")
    assert not bearer_ok(token, f"Bearer {token}x")
    assert not bearer_ok(token, token)
    assert not bearer_ok(token, None)
    assert not bearer_ok("short", "Bearer short")
    assert not bearer_ok("", "Bearer ")


def test_a_token_with_foreign_characters_is_refused_not_a_crash() -> None:
    assert not bearer_ok("t" * 40, "Bearer tttté")


async def test_an_event_naming_ids_that_are_no_ids_is_skipped() -> None:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    mangled = EmailRef("clinic id with spaces", "rem 1")
    outcome = EmailOutcome(mangled, DeliveryStatus.DELIVERED)
    await email_outcome.record(outcome, cast(Directory, None), publish)
    assert published == []
    fine = EmailOutcome(EmailRef(CLINIC, "rem-" + str(uuid.uuid4())), DeliveryStatus.DELIVERED)
    await email_outcome.record(fine, cast(Directory, None), publish)
    (status,) = published
    assert isinstance(status, DeliveryStatusChanged)
    assert (status.provider, status.channel, status.status) == ("smtp", "email", "delivered")
