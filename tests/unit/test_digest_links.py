"""A digest's link code and page on plain values."""

from __future__ import annotations

from datetime import date

from shared.links import (
    CODE_LENGTH,
    digest_code,
    digest_url,
    done_code,
    done_url,
    is_authentic,
)
from tracker import pages

SECRETS = ("a-newer-link-secret-of-some-length", "an-older-link-secret-of-some-length")
CLINIC = "northside-community-psychotherapy-and-counselling-centre"
REMINDER = "rem-5b0f1f0c2f6e4c1d9a3b2c1d0e9f8a7b"


def test_a_digest_code_is_a_code_of_its_own_as_short_as_a_done_code() -> None:
    code = digest_code(SECRETS, CLINIC, REMINDER)
    assert len(code) == CODE_LENGTH
    assert is_authentic(SECRETS, code)
    assert is_authentic(SECRETS[1:] + SECRETS[:1], code)  # still verifies after a rotation
    assert code != done_code(SECRETS, CLINIC, REMINDER)  # never the reminder's own link
    assert code == digest_code(SECRETS, CLINIC, REMINDER)  # a re-send keeps it
    assert code != digest_code(SECRETS, "another-clinic-with-the-same-ids", REMINDER)
    base = "https://go.example-clinic.org/"
    assert digest_url(base, code) == f"https://go.example-clinic.org/g/{code}"
    assert len(digest_url(base, code)) == len(done_url(base, code))


def test_the_page_escapes_titles_and_offers_a_button_per_activity_not_done() -> None:
    day = date(2026, 11, 23)
    html = pages.digest(
        "en",
        [
            pages.DigestItem(1, "reminder", day, done=False, activity="<b>Thought record</b>"),
            pages.DigestItem(2, "nudge", day, done=True),
            pages.DigestItem(3, "lead", None, done=False),
        ],
        recorded=2,
    )
    assert "&lt;b&gt;Thought record&lt;/b&gt;" in html
    assert "<b>Thought" not in html
    assert html.count("<button") == 1
    assert 'action="?item=1"' in html
    assert "Activity 2" in html
    assert "Done - thank you" in html
    assert "no longer records it" in html
    assert "it's recorded" in html
    assert "homework" not in html.lower()
