"""The done link's and the digest's pages in every language, on plain values: written in
the page's language (its ``lang`` too), kind, naming no activity unless given one."""

from __future__ import annotations

from datetime import date

import pytest

from shared.messages.catalogue import LANGUAGES
from shared.messages.pages import day_in_words, page_texts
from tracker import pages

DAY = date(2026, 12, 3)
NOTICES = ("recorded", "already", "expired", "invalid", "not_ready", "outdated", "unavailable")


def _plain(text: str) -> str:
    """As the HTML writes it (the page escapes "&", "<" and ">" only)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def assert_kind_and_private(html: str, language: str) -> None:
    assert f'<html lang="{language}">' in html
    assert "homework" not in html.lower()
    assert "<script" not in html
    assert "http" not in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_confirm_page_asks_in_the_language_and_names_only_the_day(language: str) -> None:
    t = page_texts(language)
    html = pages.confirm(language, DAY)
    assert_kind_and_private(html, language)
    assert _plain(t.confirm_title) in html
    assert _plain(t.confirm_for.format(day=day_in_words(t, DAY))) in html
    assert f'<button type="submit">{_plain(t.confirm_button)}</button>' in html
    assert html.count("<button") == 1
    assert "action=" not in html  # posts back to the URL that was opened


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NOTICES)
def test_every_notice_in_every_language(language: str, name: str) -> None:
    told = getattr(page_texts(language), name)
    html = pages.notice(language, lambda t: getattr(t, name))
    assert_kind_and_private(html, language)
    assert f"<h1>{_plain(told.title)}</h1>" in html
    for line in told.lines:
        assert f"<p>{_plain(line)}</p>" in html
    assert "<button" not in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_digest_page_in_every_language(language: str) -> None:
    t = page_texts(language)
    items = [
        pages.DigestItem(1, "reminder", DAY, done=False),
        pages.DigestItem(2, "nudge", DAY, done=True),
        pages.DigestItem(3, "lead", None, done=False),
    ]
    html = pages.digest(language, items)
    assert_kind_and_private(html, language)
    assert f"<h1>{_plain(t.digest_title.format(count=3))}</h1>" in html
    assert _plain(t.digest_intro) in html
    for n in (1, 2, 3):
        assert _plain(t.activity.format(number=n)) in html
    assert _plain(f"{day_in_words(t, DAY)}, {t.purposes['reminder']}") in html
    assert _plain(t.line_button.format(number=1)) in html
    assert html.count("<button") == 1
    assert _plain(t.line_done) in html
    assert _plain(t.line_gone) in html
    assert _plain(t.digest_waiting) in html

    after = pages.digest(language, [pages.DigestItem(1, "reminder", DAY, done=True)], 1)
    assert _plain(t.digest_thanks) in after
    assert _plain(t.digest_all_done) in after
    assert f"<h1>{_plain(t.digest_title_one)}</h1>" in after


def test_a_digest_names_activities_only_when_given_and_escapes_them() -> None:
    named = pages.DigestItem(1, "reminder", DAY, done=False, activity="<b>Registro de ánimo</b>")
    html = pages.digest("es", [named])
    assert "Actividad 1: &lt;b&gt;Registro de ánimo&lt;/b&gt;" in html
    assert "<b>" not in html
    assert "ánimo" not in pages.digest("es", [pages.DigestItem(1, "reminder", DAY, False)])


def test_a_language_we_have_no_texts_for_reads_english_and_cannot_break_the_page() -> None:
    html = pages.confirm('x"><script>', DAY)
    assert "Did you get to your practice?" in html
    assert "<script>" not in html
