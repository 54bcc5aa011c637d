"""Pure parts of the notifier: channel choice, SMS length, keywords, statuses."""

from __future__ import annotations

import pytest

from notifier.channels import channel_order, plan_channels
from notifier.keywords import Keyword, parse_keyword
from notifier.twilio_status import map_status
from shared.contracts import (
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    DeliveryStatus,
    SuppressionReason,
    new_envelope,
)
from shared.messages.sms_text import OPT_OUT_TEXT, fit, measure, with_opt_out

SMS, EMAIL, PUSH = Channel.SMS, Channel.EMAIL, Channel.PUSH


def prefs(**kw: object) -> ClientPreferencesChanged:
    data: dict[str, object] = {
        **new_envelope(),
        "clinic_id": "c1",
        "client_ref": "cl1",
        "version": 1,
        "timezone": "Europe/Berlin",
        "contacts": ContactPoints(sms="+4915112345678", email="a@example.org"),
        "consent": ChannelConsent(sms=True, email=True),
    }
    data.update(kw)
    return ClientPreferencesChanged.model_validate(data)


def test_client_order_wins_within_the_clinic_channels() -> None:
    assert channel_order((EMAIL, SMS), (SMS, EMAIL, PUSH)) == (EMAIL, SMS)
    assert channel_order((PUSH, EMAIL), (SMS, EMAIL)) == (EMAIL,)
    assert channel_order((), (EMAIL, SMS)) == (EMAIL, SMS)
    assert channel_order((), None) == (SMS, EMAIL, PUSH)


def test_plan_needs_consent_contact_and_no_opt_out() -> None:
    assert plan_channels(prefs(), (SMS, EMAIL, PUSH)).channels == (SMS, EMAIL)
    assert plan_channels(prefs(), (EMAIL, SMS)).channels == (EMAIL, SMS)
    assert plan_channels(prefs(), None, opted_out={SMS}).channels == (EMAIL,)
    assert plan_channels(prefs(), None, failed={SMS}).channels == (EMAIL,)


@pytest.mark.parametrize(
    ("p", "opted", "reason"),
    [
        (None, set(), SuppressionReason.NO_CONTACT),
        (prefs(opted_out=True), set(), SuppressionReason.OPTED_OUT),
        (prefs(consent=ChannelConsent()), set(), SuppressionReason.NO_CONSENT),
        (prefs(contacts=ContactPoints()), set(), SuppressionReason.NO_CONTACT),
        (prefs(), {SMS, EMAIL}, SuppressionReason.OPTED_OUT),
    ],
)
def test_plan_says_why_nothing_can_be_sent(
    p: ClientPreferencesChanged | None, opted: set[Channel], reason: SuppressionReason
) -> None:
    plan = plan_channels(p, None, opted_out=opted)
    assert plan.channels == ()
    assert plan.reason == reason


def test_sms_segments_gsm7_and_ucs2() -> None:
    assert measure("a" * 160).segments == 1
    assert measure("a" * 161).segments == 2
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3
    assert measure("{" * 80).units == 160  # extension table: two septets each
    assert measure("é" * 160).encoding == "GSM-7"
    assert measure("ś" * 70) == measure("ś" * 70)
    assert measure("ś" * 70).encoding == "UCS-2"
    assert measure("ś" * 70).segments == 1
    assert measure("ś" * 71).segments == 2
    assert measure("😀" * 35).units == 70  # astral characters take two UTF-16 units


def test_first_sms_carries_opt_out_and_fit_shortens() -> None:
    assert with_opt_out("Hi.", True).endswith(OPT_OUT_TEXT)
    assert with_opt_out("Hi.", False) == "Hi."
    long = "word " * 200
    assert measure(fit(long, 2)).segments <= 2


@pytest.mark.parametrize(
    ("body", "kw"),
    [
        ("STOP", Keyword.STOP),
        (" stop ", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("stopall", Keyword.STOP),
        ("cancel", Keyword.STOP),
        ("quit", Keyword.STOP),
        ("end", Keyword.STOP),
        ("revoke", Keyword.STOP),
        ("optout", Keyword.STOP),
        ("START", Keyword.START),
        ("unstop", Keyword.START),
        ("help", Keyword.HELP),
        ("Done!", Keyword.DONE),
        ("please stop texting me so much", Keyword.OTHER),
    ],
)
def test_keywords(body: str, kw: Keyword) -> None:
    assert parse_keyword(body) == kw


def test_twilio_statuses() -> None:
    assert map_status("delivered", None) == DeliveryStatus.DELIVERED
    assert map_status("undelivered", "30003") == DeliveryStatus.UNDELIVERED
    assert map_status("failed", "21610") == DeliveryStatus.OPTED_OUT
    assert map_status("sent", None) == DeliveryStatus.SENT
    assert map_status("received", None) is None
