"""The pure parts of SMS failover and sender identity: the provider order, when the next
provider may send, how each provider's answers and transport errors are classified,
Vonage's statuses and its signed-webhook check, and the sender a message carries."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import aiohttp
import jwt
import pytest
from pydantic import ValidationError

from notifier.compose import LinkConfig, build_message, done_link, render_reminder
from notifier.providers import twilio, vonage
from notifier.providers.base import OutboundMessage, ProviderError, Sender, SendResult, rate_key
from notifier.providers.transport import transport_error
from notifier.routing import fails_over, provider_order
from notifier.settings import NotifierSettings
from notifier.vonage_webhooks import BadSignature, e164, error_code, map_status, verify_signature
from shared.contracts import (
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    DeliveryStatus,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.contracts.examples import example_policy
from shared.contracts.policy import Senders
from tests.fakes.vonage_api import vonage_jwt

CLINIC = "clinic-7f3c2a9e-lakeside-behavioral-health"
REMINDER = "rem-2b8f6e1c-9d4a-4c55-8e0b-5a1f7c3d9e21"
SECRET = "vonage-signature-secret-5b6f0c1e9a7d4e38b2"
SID = "MG" + "a1" * 16


@dataclass
class Named:
    name: str
    rate_key: str = "plain"

    async def send(self, message: OutboundMessage) -> SendResult:
        return SendResult(self.name)

    async def aclose(self) -> None:
        return None


TWILIO, VONAGE = Named("twilio"), Named("vonage")


def test_the_clinic_order_picks_and_orders_the_configured_providers() -> None:
    assert provider_order((TWILIO, VONAGE), ()) == (TWILIO, VONAGE)
    assert provider_order((TWILIO, VONAGE), ("vonage", "twilio")) == (VONAGE, TWILIO)
    # Only those it names: its own sender may exist at that provider alone.
    assert provider_order((TWILIO, VONAGE), ("vonage",)) == (VONAGE,)
    # A clinic naming only providers this notifier lacks still gets its messages.
    assert provider_order((TWILIO,), ("vonage",)) == (TWILIO,)


def test_only_a_failure_that_certainly_left_the_message_unsent_fails_over() -> None:
    assert fails_over(ProviderError("twilio 503", permanent=False, unsent=True))
    assert not fails_over(ProviderError("twilio timed out", permanent=False))
    # The recipient's failure goes to the next channel, not the next provider.
    assert not fails_over(ProviderError("twilio 400 code 21211", permanent=True))


@pytest.mark.parametrize(
    ("status", "permanent", "unsent"),
    [(503, False, True), (500, False, True), (429, False, True), (401, False, True)],
)
def test_provider_answers_that_are_outages(status: int, permanent: bool, unsent: bool) -> None:
    for result in (twilio._result, vonage._result):
        with pytest.raises(ProviderError) as info:
            result(status, {"Retry-After": "7"}, {"title": "Service Unavailable"})
        assert (info.value.permanent, info.value.unsent) == (permanent, unsent)


def test_a_bad_recipient_is_permanent_and_vonage_accepts_with_a_uuid() -> None:
    with pytest.raises(ProviderError) as info:
        vonage._result(422, {}, {"type": "https://x/errors#invalid-params", "title": "Invalid"})
    assert info.value.permanent
    assert info.value.code == "invalid-params"
    with pytest.raises(ProviderError) as info:
        vonage._result(402, {}, {"title": "Low balance"})  # our account, not the recipient
    assert not info.value.permanent
    assert info.value.unsent
    uuid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    assert vonage._result(202, {}, {"message_uuid": uuid}) == SendResult(uuid)


def test_transport_errors_fail_over_only_when_no_connection_stood() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("api.twilio.com", 443, True, True, None, None, None),
        OSError(111, "Connection refused"),
    )
    assert transport_error("twilio", refused).unsent
    assert transport_error("twilio", aiohttp.ConnectionTimeoutError()).unsent
    assert not transport_error("twilio", TimeoutError()).unsent  # may have been accepted
    assert not transport_error("twilio", aiohttp.ServerDisconnectedError()).unsent


def test_vonage_statuses_map_to_ours() -> None:
    assert map_status("submitted") is DeliveryStatus.SENT
    assert map_status("delivered") is DeliveryStatus.DELIVERED
    assert map_status("rejected") is DeliveryStatus.FAILED
    assert map_status("undeliverable") is DeliveryStatus.UNDELIVERED
    assert map_status("something-new") is None
    assert error_code({"type": "https://developer.vonage.com/api-errors#1250"}) == "1250"
    assert error_code(None) is None
    assert e164("14155550123") == "+14155550123"
    assert e164("not a number") is None


def test_a_vonage_signature_must_cover_this_body_lately_with_our_secret() -> None:
    body = b'{"message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","status":"delivered"}'
    now = time.time()
    verify_signature(f"Bearer {vonage_jwt(SECRET, body)}", body, SECRET, now)
    with pytest.raises(BadSignature, match="does not verify"):
        verify_signature(
            f"Bearer {vonage_jwt('another-secret-0123456789abcdef-x', body)}", body, SECRET, now
        )
    with pytest.raises(BadSignature, match="payload_hash"):
        verify_signature(f"Bearer {vonage_jwt(SECRET, body)}", body + b" ", SECRET, now)
    old = vonage_jwt(SECRET, body, iat=now - 3600)
    with pytest.raises(BadSignature, match="too old"):
        verify_signature(f"Bearer {old}", body, SECRET, now)
    with pytest.raises(BadSignature, match="no bearer"):
        verify_signature("Basic abc", body, SECRET, now)
    unhashed = jwt.encode({"iat": int(now)}, SECRET, algorithm="HS256")
    with pytest.raises(BadSignature, match="does not verify"):  # payload_hash is required
        verify_signature(f"Bearer {unhashed}", body, SECRET, now)
    assert hashlib.sha256(body).hexdigest() in str(
        jwt.decode(vonage_jwt(SECRET, body), SECRET, algorithms=["HS256"])
    )


def _due() -> ReminderDue:
    return ReminderDue(
        clinic_id=CLINIC,
        reminder_id=REMINDER,
        assignment_id="asg-5d1e7b2a-0c3f-4e8d-9a6b-1f2e3d4c5b6a",
        assignment_version=1,
        client_ref="cl-3e9a1f4b-7c2d-4a8e-b5f6-0d1c2b3a4e5f",
        occurrence_date=date(2026, 12, 3),
        purpose=ReminderPurpose.REMINDER,
        planned_for=datetime(2026, 12, 3, 9, tzinfo=UTC),
        activity_kind=ActivityKind.EXPOSURE,
        activity_title="Exposure step",
        policy_id=example_policy().policy_id,
    )


def _message(channel: Channel, senders: Senders | None) -> OutboundMessage:
    event = _due()
    prefs = ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=event.client_ref,
        version=1,
        timezone="America/Chicago",
        contacts=ContactPoints(sms="+13125550142", email="client@example.org"),
        consent=ChannelConsent(sms=True, email=True),
    )
    links = LinkConfig(
        ("link-secret-0123456789abcdef0123456789",),
        "https://care.lakeside-behavioral.example",
        "https://notify.lakeside-behavioral.example",
        timedelta(hours=72),
    )
    link = done_link(event, links, datetime(2026, 12, 3, 9, tzinfo=UTC))
    rendered = render_reminder(event, prefs, example_policy(), link)
    return build_message(
        event,
        channel=channel,
        prefs=prefs,
        rendered=rendered,
        links=links,
        link=link,
        first_sms=False,
        senders=senders,
    )


def test_messages_carry_the_clinic_sender_and_provider_order() -> None:
    senders = Senders(
        sms_providers=("vonage", "twilio"),
        sms_from="+13125550100",
        email_from="care@lakeside-behavioral.example",
        email_reply_to="frontdesk@lakeside-behavioral.example",
    )
    sms = _message(Channel.SMS, senders)
    assert sms.sender.sms_from == "+13125550100"
    assert sms.providers == ("vonage", "twilio")
    email = _message(Channel.EMAIL, senders)
    assert email.sender.email_from == "care@lakeside-behavioral.example"
    assert email.sender.email_reply_to == "frontdesk@lakeside-behavioral.example"
    assert _message(Channel.SMS, None).sender == Sender()  # today's behaviour


def _twilio() -> twilio.TwilioProvider:
    return twilio.TwilioProvider(
        base_url="https://api.twilio.com",
        account_sid="AC" + "0" * 32,
        auth_token="token-" + "x" * 32,
        from_number="+15005550006",
        status_callback="https://notify.example.org/webhooks/twilio/status",
        timeout=5,
    )


def test_twilio_sends_from_the_clinic_number_or_messaging_service() -> None:
    provider = _twilio()
    plain = _message(Channel.SMS, None)
    assert provider.form(plain)["From"] == "+15005550006"
    assert rate_key(provider, plain) == provider.rate_key
    own = _message(Channel.SMS, Senders(sms_from="+13125550100"))
    assert provider.form(own)["From"] == "+13125550100"
    assert rate_key(provider, own).endswith(":+13125550100")
    service = _message(Channel.SMS, Senders(sms_messaging_service_sid=SID))
    form = provider.form(service)
    assert form["MessagingServiceSid"] == SID
    assert "From" not in form
    assert rate_key(provider, service).endswith(SID)
    assert rate_key(TWILIO, own) == "plain"  # a provider without per-sender limits


def test_vonage_body_names_the_reminder_and_drops_the_plus() -> None:
    provider = vonage.VonageProvider(
        base_url="https://api.nexmo.com",
        api_key="a1b2c3d4",
        api_secret="s" * 32,
        from_number="+15005550007",
        status_callback="https://notify.example.org/webhooks/vonage/status",
        timeout=5,
    )
    body = provider.body(_message(Channel.SMS, Senders(sms_from="+13125550100")))
    assert body["to"] == "13125550142"
    assert body["from"] == "13125550100"
    assert body["message_type"] == "text"
    assert body["channel"] == "sms"
    assert body["client_ref"] == REMINDER
    assert f"clinic={CLINIC}" in body["webhook_url"]
    assert f"reminder={REMINDER}" in body["webhook_url"]


def test_senders_refuse_what_a_clinic_cannot_mean() -> None:
    with pytest.raises(ValidationError, match="at most once"):
        Senders(sms_providers=("twilio", "twilio"))
    with pytest.raises(ValidationError):
        Senders.model_validate({"sms_providers": ["messagebird"]})
    with pytest.raises(ValidationError):
        Senders(sms_from="3125550100")
    with pytest.raises(ValidationError):
        Senders(sms_messaging_service_sid="not-a-sid")


def test_a_failover_provider_s_secrets_are_required_outside_dev_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BS_DEV_MODE", raising=False)
    strong = "Zq3vJ8c1yXo0Lr7uQe2kWm9sTb4nHf6a-production"
    monkeypatch.setenv("NOTIFIER_LINK_SECRETS", strong)
    monkeypatch.setenv("NOTIFIER_SMS_PROVIDER", "twilio")
    monkeypatch.setenv("NOTIFIER_TWILIO_AUTH_TOKEN", strong + "-twilio")
    assert NotifierSettings().sms_failover_providers == ()
    monkeypatch.setenv("NOTIFIER_SMS_FAILOVER_PROVIDERS", "vonage")
    with pytest.raises(ValidationError, match="NOTIFIER_VONAGE_API_SECRET"):
        NotifierSettings()
    monkeypatch.setenv("NOTIFIER_VONAGE_API_SECRET", strong + "-vonage-api")
    monkeypatch.setenv("NOTIFIER_VONAGE_SIGNATURE_SECRET", strong + "-vonage-signature")
    assert NotifierSettings().sms_failover_providers == ("vonage",)
    monkeypatch.setenv("NOTIFIER_SMS_FAILOVER_PROVIDERS", "vonage,messagebird")
    with pytest.raises(ValidationError, match="sms_failover_providers"):
        NotifierSettings()
