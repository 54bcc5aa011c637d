"""The texts of the pages a client opens, in every language, and which language a page is
written in (pure): the client's, else the browser's, else the clinic's, else English.
Also a digest's link label, which says the link opens a list."""

from __future__ import annotations

import re
import string
import uuid
from dataclasses import fields
from datetime import date

import pytest

from shared.contracts import Messaging, ReminderPurpose
from shared.links import digest_code, digest_url
from shared.messages.catalogue import CATALOGUE, LANGUAGES
from shared.messages.pages import accepted, day_in_words, page_language, page_texts
from shared.messages.phrasing import Notice, PageTexts
from shared.messages.sms_text import MAX_SMS_SEGMENTS, measure, sms_text, to_gsm7
from shared.messages.templates import RenderInput, render

FORBIDDEN = ("homework", "tarea", "deberes", "devoir", "tarefa de casa", "dever de casa")
# Which placeholders each text takes (none for the others).
PLACEHOLDERS = {
    "day": {"weekday", "day", "month"},
    "confirm_for": {"day"},
    "digest_title": {"count"},
    "activity": {"number"},
    "line_button": {"number"},
}


def _texts(pages: PageTexts) -> dict[str, str]:
    """Every text of the pages, by field name (a notice's lines numbered)."""
    out: dict[str, str] = {}
    for field in fields(pages):
        value = getattr(pages, field.name)
        if isinstance(value, Notice):
            out[f"{field.name}.title"] = value.title
            out |= {f"{field.name}.{n}": line for n, line in enumerate(value.lines)}
        elif isinstance(value, str):
            out[field.name] = value
        else:
            out |= {f"{field.name}.{k}": v for k, v in value.items()}
    return out


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_page_text_kind_and_without_details(language: str) -> None:
    pages = CATALOGUE[language].pages
    assert len(pages.weekdays.split()) == 7
    assert len(pages.months.split()) == 12
    assert set(pages.purposes) == {"reminder", "nudge", "lead"}
    for name, text in _texts(pages).items():
        assert text, name
        assert text.strip() == text, name
        assert not any(word in text.lower() for word in FORBIDDEN), name
        assert "http" not in text, name
        assert "<" not in text, name
        assert _placeholders(text) == PLACEHOLDERS.get(name, set()), name


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_differ_from_english(language: str) -> None:
    """A missing translation would be a copy of the English."""
    if language == "en":
        return
    mine, english = _texts(page_texts(language)), _texts(page_texts("en"))
    same = {name for name in mine if mine[name] == english[name]}
    assert same <= {"day"}, same  # French writes a date as English does


def test_a_day_in_words_in_each_language() -> None:
    day = date(2026, 12, 3)  # a Thursday
    said = {language: day_in_words(page_texts(language), day) for language in LANGUAGES}
    assert said == {
        "en": "Thursday 3 December",
        "es": "jueves 3 de diciembre",
        "fr": "jeudi 3 décembre",
        "pt": "quinta-feira, 3 de dezembro",
    }
    assert day_in_words(page_texts("pt"), date(2027, 3, 1)) == "segunda-feira, 1 de março"


def test_the_browser_s_languages_most_wanted_first() -> None:
    assert accepted("es-MX,es;q=0.9,en;q=0.8") == ["es-MX", "es", "en"]
    assert accepted("en;q=0.2, pt-BR , fr;q=0.5") == ["pt-BR", "fr", "en"]
    assert accepted("fr;q=0, *;q=0.1, de") == ["de"]  # refused and "*" left out
    for junk in (None, "", ",,,", ";q=1", "es;q=abc", "es;q=7", "es;level=1", "x" * 5000):
        assert accepted(junk) in ([], ["x" * 5000]), junk
    assert len(accepted(",".join(["en"] * 500))) <= 16  # a long header is not read through


def test_the_page_language_client_then_browser_then_clinic_then_english() -> None:
    assert page_language("pt-BR", "es-MX,es;q=0.9", "fr") == "pt"  # the client's own
    assert page_language(None, "es-MX,es;q=0.9", "fr") == "es"  # the phone's
    assert page_language(None, "de-DE,de;q=0.9,fr;q=0.5", "es") == "fr"  # one we have
    assert page_language("de", "de-AT,de", "es") == "es"  # none we have: the clinic's
    assert page_language(None, None, "pt-BR") == "pt"
    assert page_language(None, None, None) == "en"
    assert page_language("ja", "ja-JP", "ko") == "en"
    assert page_texts("xx") is page_texts("en")


def _digest(language: str, count: int, link: str) -> tuple[str, str]:
    data = RenderInput(
        purpose=ReminderPurpose.REMINDER,
        clinic_name="Centro de Psicología Integral",
        activity_title="Exposure: ride the bus two stops alone",
        allow_activity_details=False,
        done_link=link,
        count=count,
        variant_key=f"clinic-{uuid.uuid4()}/client-1",
        variant_day=date(2026, 11, 23),
    )
    messaging = Messaging(clinic_name="Centro de Psicología Integral", default_language=language)
    rendered = render(data, messaging, language)
    return rendered.sms, rendered.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_digest_link_says_it_opens_a_list_and_fits_one_segment(language: str) -> None:
    texts = CATALOGUE[language]
    base = "https://reminders.northside-counsel.org/"[:40]
    link = digest_url(base, digest_code(("k2-" + "n" * 40,), str(uuid.uuid4()), "rem-1"))
    sms, html = _digest(language, 12, link)
    assert f" {texts.see_prompt} {link}" in sms
    assert texts.done_prompt not in sms
    assert f">{texts.see_them}</a>" in html
    assert texts.mark_done not in html
    fitted = sms_text(sms, link=link, first_to_number=False, max_segments=MAX_SMS_SEGMENTS)
    assert (measure(fitted).encoding, measure(fitted).segments) == ("GSM-7", 1), fitted
    assert fitted.endswith(f"{to_gsm7(texts.see_prompt)} {link}")
    # One reminder keeps its done prompt and button.
    one, one_html = _digest(language, 1, link)
    assert f" {texts.done_prompt} {link}" in one
    assert f">{texts.mark_done}</a>" in one_html
    assert re.search(r"\d", texts.see_prompt) is None
