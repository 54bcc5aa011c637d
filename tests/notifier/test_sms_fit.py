# ruff: noqa: RUF001  (typographic and Cyrillic characters are what these tests are about)
"""The done link reaches the client: short default copy, an SMS fit that never cuts the
link, GSM-7 stand-ins for typographic characters, the link on every channel (pure)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.compose import (
    CHANNEL_PARTS,
    LinkConfig,
    build_message,
    done_link,
    render_reminder,
)
from notifier.unsubscribe import UnsubscribeClaims, sign_unsubscribe, verify_unsubscribe
from shared.contracts import (
    ActivityKind,
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicy,
    ContactPoints,
    Messaging,
    PushSubscription,
    ReminderDue,
    ReminderPurpose,
    new_envelope,
)
from shared.messages.catalogue import LANGUAGES
from shared.messages.sms_text import (
    ELLIPSIS,
    OPT_OUT_TEXT,
    fit,
    is_gsm7,
    measure,
    sms_text,
    to_gsm7,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRETS = ("k2-" + "n" * 40, "k1-" + "o" * 40)
# Real-looking tracker bases of up to 40 characters.
BASES = (
    "https://reminders.northside-counsel.org",  # 39
    "https://go.riverside-counselling.co.uk",  # 38
    "https://done.stmarys-wellbeing.health",  # 37
    "https://t.bs.example",
)
LONGEST_NAMES = (
    "Northside Counselling & Therapy",  # 31: cut to 30 below
    "Centro de Psicología Integral",  # 29, an "í"
    "St. Mary's Wellbeing Practice",
)
LINKED = (ReminderPurpose.REMINDER, ReminderPurpose.LEAD, ReminderPurpose.NUDGE)
TITLE = "Exposure: ride the bus two stops"


def links(base: str) -> LinkConfig:
    return LinkConfig(SECRETS, base, "https://notify.northside-counsel.org", timedelta(hours=72))


def due(purpose: ReminderPurpose, clinic: str | None = None, **kw: Any) -> ReminderDue:
    data: dict[str, Any] = {
        "clinic_id": clinic or str(uuid.uuid4()),
        "reminder_id": "rem-" + uuid.uuid4().hex,
        "assignment_id": str(uuid.uuid4()),
        "assignment_version": 3,
        "client_ref": str(uuid.uuid4()),
        "occurrence_date": date(2026, 11, 23),
        "purpose": purpose,
        "planned_for": NOW,
        "activity_kind": ActivityKind.EXPOSURE,
        "activity_title": TITLE,
        "policy_id": "default-adult",
    }
    data.update(kw)
    return ReminderDue.model_validate(data)


def prefs(clinic_id: str, **kw: Any) -> ClientPreferencesChanged:
    data: dict[str, Any] = {
        **new_envelope(),
        "clinic_id": clinic_id,
        "client_ref": str(uuid.uuid4()),
        "version": 1,
        "timezone": "Europe/London",
        "contacts": ContactPoints(sms="+447700900123", email="client@example.org"),
        "consent": ChannelConsent(sms=True, email=True, push=True),
    }
    data.update(kw)
    return ClientPreferencesChanged.model_validate(data)


def policy(name: str, **messaging: Any) -> ClinicPolicy:
    return ClinicPolicy(
        policy_id="default-adult", version=1, messaging=Messaging(clinic_name=name, **messaging)
    )


def sms_for(
    purpose: ReminderPurpose, name: str, base: str, first: bool = False, **messaging: Any
) -> tuple[str, str]:
    """The SMS text and the link it must carry."""
    event = due(purpose)
    client = prefs(event.clinic_id)
    link = done_link(event, links(base), NOW)
    assert link is not None
    rendered = render_reminder(event, client, policy(name[:30], **messaging), link)
    message = build_message(
        event,
        channel=Channel.SMS,
        prefs=client,
        rendered=rendered,
        links=links(base),
        link=link,
        first_sms=first,
    )
    return message.text, link.url


@pytest.mark.parametrize("purpose", LINKED)
@pytest.mark.parametrize("name", LONGEST_NAMES)
@pytest.mark.parametrize("base", BASES)
def test_a_default_reminder_with_its_link_fits_one_gsm7_segment(
    purpose: ReminderPurpose, name: str, base: str
) -> None:
    text, url = sms_for(purpose, name, base)
    assert len(base) <= 40
    assert url in text
    assert text.endswith(url)  # whole, not cut, and nothing glued to it
    assert measure(text) == measure(text)
    assert measure(text).encoding == "GSM-7"
    assert measure(text).segments == 1, (len(text), text)
    assert "homework" not in text.lower()
    assert TITLE not in text
    assert ELLIPSIS not in text  # nothing had to be left out


@pytest.mark.parametrize("purpose", LINKED)
@pytest.mark.parametrize("name", LONGEST_NAMES)
def test_the_first_text_to_a_number_fits_two_segments_with_the_opt_out_line(
    purpose: ReminderPurpose, name: str
) -> None:
    text, url = sms_for(purpose, name, BASES[0], first=True)
    assert url in text
    assert text.endswith(OPT_OUT_TEXT)
    assert measure(text).segments <= 2
    assert measure(text).encoding == "GSM-7"


def test_fit_shortens_around_the_link_with_gsm7_dots() -> None:
    url = "https://reminders.northside-counsel.org/d/Ab3_dE-fGh1JkLmN0pQ2s"
    text = "Riverside: " + "this is a long and kind message " * 10 + f"Done? Tap {url} Thanks!"
    out = fit(text, 1, keep=url)
    assert url in out
    assert "Done? Tap " + url in out  # its lead-in stays with it
    assert measure(out).segments == 1
    assert ELLIPSIS in out
    assert "\u2026" not in out
    assert is_gsm7(out)
    # The opt-out line is never cut either.
    first = fit(text, 2, keep=url, suffix=" " + OPT_OUT_TEXT)
    assert url in first
    assert first.endswith(OPT_OUT_TEXT)
    assert measure(first).segments <= 2


def test_a_clinic_template_with_typographic_characters_stays_gsm7() -> None:
    template = (
        "{{ clinic_name }} \u2013 \u201cyour practice\u201d is waiting\u2026 it\u2019s "
        "a small step. Hecho? Toca {{ done_link }}"
    )
    text, url = sms_for(
        ReminderPurpose.REMINDER,
        "Clínica Salud Mental Córdoba",
        BASES[1],
        templates={"en": {"sms": template}},
    )
    assert url in text
    assert measure(text).encoding == "GSM-7"
    assert measure(text).segments == 1
    assert 'Clinica Salud Mental Cordoba - "your practice" is waiting... it\'s' in text


def test_a_title_or_name_with_stop_in_it_still_gets_the_opt_out_line() -> None:
    text, _ = sms_for(
        ReminderPurpose.REMINDER,
        "Stopford Family Therapy",
        BASES[0],
        first=True,
        allow_activity_details=True,
    )
    assert TITLE.lower().count("stop")  # "ride the bus two stops"
    assert text.endswith(OPT_OUT_TEXT)


def test_the_first_text_says_how_to_stop_in_the_client_s_language() -> None:
    event = due(ReminderPurpose.NUDGE)
    for language, line in (
        ("es-MX", "Responde STOP para darte de baja."),
        ("fr", "Répondez STOP pour ne plus recevoir de SMS."),  # "é" is GSM-7
        ("pt-BR", "Responda STOP para nao receber mais."),
        ("de", OPT_OUT_TEXT),  # no German texts: the clinic's language (English)
    ):
        client = prefs(event.clinic_id, language=language)
        link = done_link(event, links(BASES[0]), NOW)
        rendered = render_reminder(event, client, policy("Northside Counselling"), link)
        message = build_message(
            event,
            channel=Channel.SMS,
            prefs=client,
            rendered=rendered,
            links=links(BASES[0]),
            link=link,
            first_sms=True,
        )
        assert message.text.endswith(" " + line)
        assert measure(message.text).segments <= 2


def test_stand_ins_only_where_the_meaning_survives() -> None:
    assert to_gsm7("Psicología – “hoy”…") == 'Psicologia - "hoy"...'
    assert to_gsm7("Straße, Öl, Ñandú, çava") == "Straße, Öl, Ñandu, cava"
    assert to_gsm7("ŁÓDŹ") == "LODZ"
    russian = "Клиника: вас ждёт упражнение – ссылка"
    assert to_gsm7(russian) == russian  # another script: UCS-2, untouched
    assert measure(to_gsm7(russian)).encoding == "UCS-2"
    assert to_gsm7("Hi 😀") == "Hi 😀"


def test_a_non_latin_text_keeps_its_link_within_two_ucs2_segments() -> None:
    url = "https://go.riverside-counselling.co.uk/d/Ab3_dE-fGh1JkLmN0pQ2s"
    text = "Клиника «Речной берег»: " + "вас ждёт упражнение сегодня. " * 6 + f"Готово? {url}"
    out = sms_text(text, link=url, first_to_number=True, max_segments=2)
    assert url in out
    assert out.endswith(OPT_OUT_TEXT)
    assert measure(out).encoding == "UCS-2"
    assert measure(out).segments <= 2


# -- property tests ------------------------------------------------------------------

_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZáéíóúàèçñüöäÁÉÍÓÚ&'.-"
names = st.text(alphabet=_LATIN + " ", min_size=1, max_size=30).filter(lambda s: s.strip())
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,18}(\.[a-z]{2,6}){1,2}", fullmatch=True)
bases = st.builds(lambda h, p: f"https://{h}{p}", hosts, st.sampled_from(["", "/r", "/go"])).filter(
    lambda b: len(b) <= 40
)
titles = st.text(min_size=1, max_size=80).filter(lambda s: s.strip())


@settings(max_examples=300, deadline=None)
@given(
    purpose=st.sampled_from(LINKED),
    name=names,
    base=bases,
    first=st.booleans(),
    details=st.booleans(),
    title=titles,
    language=st.sampled_from([None, "en-GB", "es-MX", "fr-CA", "pt-BR", "de"]),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
)
def test_property_the_link_is_always_whole_and_the_segments_as_promised(
    purpose: ReminderPurpose,
    name: str,
    base: str,
    first: bool,
    details: bool,
    title: str,
    language: str | None,
    day: date,
) -> None:
    event = due(purpose, activity_title=title, occurrence_date=day)
    client = prefs(event.clinic_id, language=language)
    link = done_link(event, links(base), NOW)
    assert link is not None
    clinic = policy(name, allow_activity_details=details)
    rendered = render_reminder(event, client, clinic, link)
    message = build_message(
        event,
        channel=Channel.SMS,
        prefs=client,
        rendered=rendered,
        links=links(base),
        link=link,
        first_sms=first,
    )
    assert link.url in message.text
    assert re.search(r"\bSTOP\b", message.text) if first else True
    assert len(link.code) == 21
    assert "\u2026" not in message.text
    size = measure(message.text)
    assert size.segments <= 2
    if not details:  # the default copy: GSM-7, one segment, two with the opt-out line
        assert size.encoding == "GSM-7"
        assert size.segments <= (2 if first else 1), message.text


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=400),
    after=st.text(max_size=200),
    base=bases,
    first=st.booleans(),
)
def test_property_any_text_keeps_its_link_within_two_segments(
    before: str, after: str, base: str, first: bool
) -> None:
    url = f"{base}/d/Ab3_dE-fGh1JkLmN0pQ2s"
    out = sms_text(f"{before} {url} {after}", link=url, first_to_number=first, max_segments=2)
    assert url in out
    assert measure(out).segments <= 2
    # No "…" of its own: a cut ends in three GSM-7 dots (a text in UCS-2 keeps its own).
    assert out.count("\u2026") <= (before + after).count("\u2026")


# -- the link on every channel --------------------------------------------------------


def test_push_carries_the_link_as_its_url_and_email_in_text_and_html() -> None:
    event = due(ReminderPurpose.REMINDER)
    sub = PushSubscription(
        endpoint="https://fcm.googleapis.com/fcm/send/abc", p256dh="B" * 87, auth="c2VjcmV0"
    )
    client = prefs(event.clinic_id, contacts=ContactPoints(email="a@example.org", push=sub))
    link = done_link(event, links(BASES[0]), NOW)
    assert link is not None
    rendered = render_reminder(event, client, policy("Northside"), link)
    kw: dict[str, Any] = {
        "prefs": client,
        "rendered": rendered,
        "links": links(BASES[0]),
        "link": link,
        "first_sms": False,
    }
    push = build_message(event, channel=Channel.PUSH, **kw)
    assert push.url == link.url
    assert link.url not in push.push_title
    email = build_message(event, channel=Channel.EMAIL, **kw)
    assert link.url in email.text
    assert f'href="{link.url}"' in email.html


def test_encouragement_has_no_link() -> None:
    assert done_link(due(ReminderPurpose.ENCOURAGEMENT), links(BASES[0]), NOW) is None


async def test_webpush_payload_carries_title_body_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from notifier.providers import webpush as module
    from notifier.providers.base import OutboundMessage

    captured: dict[str, Any] = {}

    class Answer:
        headers = {"Location": "https://push.example/m/1"}

    async def fake_webpush(**kw: Any) -> Answer:
        captured.update(kw)
        return Answer()

    monkeypatch.setattr(module, "webpush_async", fake_webpush)
    monkeypatch.setattr(module.WebPushProvider, "_vapid", lambda _: "signer")
    provider = module.WebPushProvider(private_key="k", subject="mailto:ops@example.org")
    sub = PushSubscription(endpoint="https://push.example/s/1", p256dh="B" * 87, auth="c2VjcmV0")
    url = f"{BASES[0]}/d/Ab3_dE-fGh1JkLmN0pQ2s"
    message = OutboundMessage(
        Channel.PUSH, "rem-1", to_push=sub, text="An activity", push_title="Northside", url=url
    )
    await provider.send(message)
    await provider.aclose()
    assert json.loads(captured["data"]) == {"title": "Northside", "body": "An activity", "url": url}


def test_an_unsubscribe_token_signed_before_a_rotation_still_works() -> None:
    claims = UnsubscribeClaims(str(uuid.uuid4()), str(uuid.uuid4()), "email")
    old = ("old-secret-" + "o" * 32,)
    token = sign_unsubscribe(old, claims)
    rotated = ("new-secret-" + "n" * 32, *old)
    assert verify_unsubscribe(rotated, token) == claims
    assert verify_unsubscribe(rotated[:1], token) is None  # once the old one is dropped
    assert verify_unsubscribe(rotated, sign_unsubscribe(rotated, claims)) == claims


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_send_renders_only_its_channels_parts_and_the_same_text(language: str) -> None:
    """A send renders the parts of its channels alone (``CHANNEL_PARTS``): each is the
    text a full render gives, in every language, with a 30-character clinic name, a real
    base URL and UUID ids; the parts no channel of the send carries stay empty."""
    clinic = policy(LONGEST_NAMES[0][:30], allow_activity_details=True)
    for purpose in (*LINKED, ReminderPurpose.ENCOURAGEMENT):
        event = due(purpose)
        client = prefs(event.clinic_id, language=language)
        link = done_link(event, links(BASES[0]), NOW)
        whole = asdict(render_reminder(event, client, clinic, link))
        for channel, parts in CHANNEL_PARTS.items():
            some = asdict(render_reminder(event, client, clinic, link, channels=(channel,)))
            assert {p: some[p] for p in parts} == {p: whole[p] for p in parts}
            assert all(some[p] == "" for p in whole if p not in parts and p != "opt_out")
