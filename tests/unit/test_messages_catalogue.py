"""The built-in texts in every language: every phrasing fits an SMS with its link whole,
follows the domain's rules (no "homework", no activity unless allowed, never in a
subject or on a lock screen), rotates per client and day, and the language falls back
from the client's to the clinic's to English (pure)."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from itertools import pairwise
from typing import get_args

import pytest
from jinja2 import Environment, meta

from shared.contracts import Messaging, ReminderPurpose
from shared.contracts.fields import ShortText
from shared.links import done_code, done_url
from shared.messages.catalogue import CATALOGUE, LANGUAGES, phrasings, text_language
from shared.messages.sms_text import ELLIPSIS, MAX_SMS_SEGMENTS, measure, sms_text, to_gsm7
from shared.messages.templates import Rendered, RenderInput, render

MAX_NAME = get_args(ShortText)[1].max_length  # what a clinic may call itself: 200
ONE_SEGMENT_NAME = 30  # the name the one-segment promise is made for (notifier README)
# The longest tracker base URL the notifier README allows (40), real-looking.
BASE = "https://reminders.northside-counsel.org/"[:40]
NAMES = tuple(  # cut to exactly the longest allowed
    name[:MAX_NAME]
    for name in (
        "Northside Counselling & Therapy Centre for Families, Couples and Young People "
        "(Riverside, Harbour View and St. Mary's Wellbeing Practice sites), part of the "
        "Greater Northside Community Mental Health Partnership Trust",
        "Centro de Psicología Integral y Terapia Cognitivo-Conductual de Córdoba, Málaga y "
        "Sevilla para Niños, Adolescentes, Adultos y Familias: Atención Presencial y en "
        "Línea con Psicólogas, Psiquiatras y Psicoterapeutas Colegiadas",
    )
)
TITLE = "Exposure: ride the bus two stops alone"
LINKED = (ReminderPurpose.REMINDER, ReminderPurpose.NUDGE, ReminderPurpose.LEAD)
FORBIDDEN = ("homework", "tarea", "deberes", "devoir", "tarefa de casa", "dever de casa")
DAY = date(2026, 11, 23)


def link() -> str:
    code = done_code(("k2-" + "n" * 40,), str(uuid.uuid4()), "rem-" + uuid.uuid4().hex)
    return done_url(BASE, code)


def every_phrasing(
    language: str,
    purpose: ReminderPurpose,
    name: str,
    *,
    count: int = 1,
    allow: bool = False,
    url: str | None = None,
) -> list[Rendered]:
    """Each phrasing once: a client steps to the next phrasing each day."""
    choices = len(phrasings(CATALOGUE[language], purpose, count))
    key = f"{uuid.uuid4()}/{uuid.uuid4()}"
    out = []
    for offset in range(choices):
        data = RenderInput(
            purpose=purpose,
            clinic_name=name,
            activity_title=TITLE,
            allow_activity_details=allow,
            done_link=url,
            count=count,
            variant_key=key,
            variant_day=DAY + timedelta(days=offset),
        )
        out.append(render(data, Messaging(clinic_name=name, default_language=language), language))
    assert len({r.sms for r in out}) == choices  # every phrasing, once
    return out


CASES = [
    (language, purpose, count)
    for language in LANGUAGES
    for purpose in ReminderPurpose
    for count in (1, 12)  # 12: a digest with a two-digit count
    if not (count > 1 and purpose is ReminderPurpose.ENCOURAGEMENT)
]


def test_every_language_has_every_purpose_in_at_least_three_phrasings() -> None:
    assert set(LANGUAGES) >= {"en", "es", "fr", "pt"}
    for texts in CATALOGUE.values():
        assert set(texts.phrasings) == set(ReminderPurpose)
        for choices in (*texts.phrasings.values(), texts.digest):
            assert len(choices) >= 3
            assert len({p.lead for p in choices}) == len(choices)
        for purpose, choices in texts.phrasings.items():
            for phrasing in choices:
                assert _variables(phrasing.lead) <= {"detail"}
                assert _variables(phrasing.subject) == set()  # never the activity
                if purpose in LINKED:  # a reminder can name its activity (if allowed)
                    assert _variables(phrasing.lead) == {"detail"}
        for phrasing in texts.digest:
            assert _variables(phrasing.lead) == _variables(phrasing.subject) == {"count"}
        assert "STOP" in texts.opt_out


def _variables(source: str) -> set[str]:
    return set(meta.find_undeclared_variables(Environment().parse(source)))


@pytest.mark.parametrize(("language", "purpose", "count"), CASES)
def test_every_phrasing_fits_one_gsm7_segment_with_its_link_whole(
    language: str, purpose: ReminderPurpose, count: int
) -> None:
    """The notifier README's promise: a clinic name of up to 30 characters, a tracker
    base URL of up to 40, one segment, nothing left out."""
    url = link() if purpose in LINKED else None
    for rendered in every_phrasing(
        language, purpose, NAMES[1][:ONE_SEGMENT_NAME].rstrip(), count=count, url=url
    ):
        text = sms_text(
            rendered.sms, link=url, first_to_number=False, max_segments=MAX_SMS_SEGMENTS
        )
        size = measure(text)
        assert (size.encoding, size.segments) == ("GSM-7", 1), (size, text)
        assert ELLIPSIS not in text
        if url:
            assert text.endswith(" " + url)
        first = sms_text(
            rendered.sms,
            link=url,
            first_to_number=True,
            max_segments=MAX_SMS_SEGMENTS,
            opt_out=rendered.opt_out,
        )
        assert measure(first).segments <= MAX_SMS_SEGMENTS
        assert measure(first).encoding == "GSM-7"
        assert first.endswith(" " + to_gsm7(rendered.opt_out))
        assert ELLIPSIS not in first


@pytest.mark.parametrize(("language", "purpose", "count"), CASES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("allow", [False, True])
def test_every_phrasing_with_the_longest_clinic_name_keeps_its_link_within_budget(
    language: str, purpose: ReminderPurpose, count: int, name: str, allow: bool
) -> None:
    assert len(name) == MAX_NAME
    assert len(BASE) == 40
    url = link() if purpose in LINKED else None
    for rendered in every_phrasing(language, purpose, name, count=count, allow=allow, url=url):
        for first in (False, True):
            text = sms_text(
                rendered.sms,
                link=url,
                first_to_number=first,
                max_segments=MAX_SMS_SEGMENTS,
                opt_out=rendered.opt_out,
            )
            assert measure(text).segments <= MAX_SMS_SEGMENTS, text
            assert measure(text).encoding == "GSM-7"
            if url:
                assert re.search(rf"(^| ){re.escape(url)}( |$)", text), text  # whole, alone
            if first:
                assert "STOP" in text


@pytest.mark.parametrize(("language", "purpose", "count"), CASES)
def test_every_phrasing_keeps_to_the_domain_rules(
    language: str, purpose: ReminderPurpose, count: int
) -> None:
    url = link() if purpose in LINKED else None
    name = "Riverside Counselling"
    for allow in (False, True):
        for out in every_phrasing(language, purpose, name, count=count, allow=allow, url=url):
            parts = (out.sms, out.subject, out.text, out.html, out.push_title, out.push_body)
            for part in parts:
                assert not any(word in part.lower() for word in FORBIDDEN), part
                assert part == part.strip()
            # Subjects and lock screens never name the activity; the body only if allowed.
            assert TITLE not in out.subject + out.push_title
            if allow and count == 1 and purpose in LINKED:
                assert TITLE in out.sms  # where the clinic allows it, it helps to know which
            if not allow:
                assert all(TITLE not in part for part in parts)
            assert out.sms.startswith(f"{name}: ")
            assert out.subject.startswith(f"{name}: ")
            assert out.push_title == name
            assert out.push_body[:2].lstrip("¡¿")[:1].isupper() or out.push_body[0].isdigit()
            if count > 1:
                assert str(count) in out.sms
                assert str(count) in out.subject
            if url:
                assert out.sms.endswith(url)
                assert url in out.text
                assert f'href="{url}"' in out.html
            else:
                assert "href" not in out.html


def test_a_client_gets_the_next_phrasing_each_day_and_a_redelivery_the_same() -> None:
    key = f"{uuid.uuid4()}/{uuid.uuid4()}"

    def sms(day: date, purpose: ReminderPurpose = ReminderPurpose.REMINDER) -> str:
        data = RenderInput(
            purpose, "Riverside", TITLE, False, None, variant_key=key, variant_day=day
        )
        return render(data, None, "en").sms

    days = [DAY + timedelta(days=n) for n in range(30)]
    texts = [sms(d) for d in days]
    assert texts == [sms(d) for d in days]  # a redelivery renders the same
    assert all(a != b for a, b in pairwise(texts))  # never yesterday's
    for step in (2, 3, 4, 7):  # every other day, twice a week, weekly: all five in turn
        assert len(set(texts[::step])) == 5
    assert len(set(texts[:5])) == 5  # a daily reminder goes through all five


def test_clients_start_at_different_phrasings() -> None:
    def first(key: str) -> str:
        data = RenderInput(
            ReminderPurpose.REMINDER, "R", TITLE, False, None, variant_key=key, variant_day=DAY
        )
        return render(data, None, "es").sms

    assert len({first(f"{uuid.uuid4()}/{uuid.uuid4()}") for _ in range(60)}) == 5


def test_without_a_key_the_first_phrasing() -> None:
    data = RenderInput(ReminderPurpose.REMINDER, "Sunrise Clinic", TITLE, False, None)
    assert render(data, None, "en").sms == "Sunrise Clinic: an activity is waiting for you today."


@pytest.mark.parametrize(
    ("client", "clinic", "expected"),
    [
        ("es-MX", "en", "es"),
        ("pt-BR", "fr", "pt"),
        ("FR-ca", "en", "fr"),
        ("de", "fr", "fr"),  # no German texts: the clinic's default
        ("de-AT", "nl", "en"),  # neither: English
        (None, "es", "es"),
        (None, None, "en"),
    ],
)
def test_language_falls_back_from_the_client_to_the_clinic_to_english(
    client: str | None, clinic: str | None, expected: str
) -> None:
    assert text_language(client, clinic) == expected


def test_the_rendered_language_follows_the_fallbacks() -> None:
    data = RenderInput(
        ReminderPurpose.REMINDER, "Centro Sur", TITLE, False, "https://t.example/d/x"
    )
    spanish_clinic = Messaging(clinic_name="Centro Sur", default_language="es")
    assert "te espera una actividad" in render(data, spanish_clinic, "de").sms
    assert "¿Listo? Toca https://t.example/d/x" in render(data, spanish_clinic, "es-US").sms
    assert "une activité vous attend" in render(data, spanish_clinic, "fr").sms
    assert "an activity is waiting" in render(data, None, "de").sms
    assert render(data, spanish_clinic, "es").opt_out == "Responde STOP para darte de baja."
    assert render(data, spanish_clinic, "es").text.startswith("Hola:")


def test_a_clinic_template_wins_over_the_built_in_language() -> None:
    messaging = Messaging(
        clinic_name="Centro Sur",
        default_language="es",
        templates={"es": {"sms": "{{ clinic_name }}: tu práctica. {{ done_link }}"}},
    )
    data = RenderInput(ReminderPurpose.NUDGE, "Centro Sur", TITLE, False, "https://t.example/d/x")
    out = render(data, messaging, "es-MX")
    assert out.sms == "Centro Sur: tu práctica. https://t.example/d/x"
    assert out.subject.startswith("Centro Sur: ")  # the parts it does not override: built in
    assert out.push_body in {
        p.lead.replace("{{ detail }}", "").capitalize()
        for p in CATALOGUE["es"].phrasings[ReminderPurpose.NUDGE]
    }
