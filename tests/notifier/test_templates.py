"""Templates: minimum PHI by default, sandboxed clinic overrides, every purpose."""

from __future__ import annotations

import pytest

from shared.contracts import Messaging, ReminderPurpose
from shared.messages.templates import RenderInput, render

TITLE = "Exposure: leave the house alone"


def data(purpose: ReminderPurpose = ReminderPurpose.REMINDER, allow: bool = False) -> RenderInput:
    return RenderInput(
        purpose=purpose,
        clinic_name="Riverside <Counselling>",
        activity_title=TITLE,
        allow_activity_details=allow,
        done_link="https://t.example/done/abc",
    )


@pytest.mark.parametrize("purpose", list(ReminderPurpose))
def test_defaults_name_the_clinic_never_the_activity(purpose: ReminderPurpose) -> None:
    out = render(data(purpose), None, "en")
    for part in (out.sms, out.subject, out.text, out.html, out.push_title, out.push_body):
        assert TITLE not in part
        assert "homework" not in part.lower()
    assert out.sms.startswith("Riverside <Counselling>:")
    assert "Riverside &lt;Counselling&gt;" in out.html  # autoescaped
    if purpose is ReminderPurpose.REMINDER:
        assert "an activity is waiting" in out.sms
        assert "https://t.example/done/abc" in out.sms


def test_title_only_in_the_body_when_the_clinic_allows() -> None:
    out = render(data(allow=True), None, "en")
    assert TITLE in out.sms
    assert TITLE not in out.subject
    assert TITLE not in out.push_title


def test_clinic_template_per_language_and_injection_is_harmless() -> None:
    messaging = Messaging(
        clinic_name="X",
        templates={
            "de": {"sms": "{{ clinic_name }}: eine Übung wartet. {{ done_link }}"},
            "en": {
                "reminder.sms": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                "html": "<b>{{ activity }}</b>",
            },
        },
    )
    de = render(data(), messaging, "de-AT")
    assert de.sms.startswith("Riverside <Counselling>: eine Übung wartet.")
    en = render(data(allow=True), messaging, "en")
    assert "subclasses" not in en.sms
    assert "class" not in en.sms
    assert "an activity is waiting" in en.sms
    evil = RenderInput(
        purpose=ReminderPurpose.REMINDER,
        clinic_name="C",
        activity_title="<script>alert(1)</script>",
        allow_activity_details=True,
        done_link=None,
    )
    assert "<script>" not in render(evil, messaging, "en").html


@pytest.mark.parametrize(
    ("language", "phrase", "label"),
    [
        ("en", "3 ", "See your activities"),
        ("es", "3 ", "Ver tus actividades"),
        ("fr", "3 ", "Voir vos activités"),
        ("pt-BR", "3 ", "Ver suas atividades"),
    ],
)
def test_a_digest_names_the_count_in_every_language_with_one_link(
    language: str, phrase: str, label: str
) -> None:
    digest = RenderInput(
        purpose=ReminderPurpose.NUDGE,
        clinic_name="Riverside",
        activity_title=TITLE,
        allow_activity_details=True,
        done_link="https://t.example/g/abc",
        count=3,
        variant_key="clinic-1/client-1",
    )
    out = render(digest, None, language)
    assert phrase in out.sms
    assert out.sms.count("https://t.example/g/abc") == 1
    assert TITLE not in out.sms  # a digest names no single activity
    assert f">{label}</a>" in out.html
    assert "3" in out.subject


def test_an_explicit_footer_wins_and_the_default_follows_the_language() -> None:
    assert render(data(), None, "fr").text.endswith(
        "Vous pouvez arrêter ces messages à tout moment."
    )
    custom = RenderInput(
        purpose=ReminderPurpose.REMINDER,
        clinic_name="Riverside",
        activity_title=TITLE,
        allow_activity_details=False,
        done_link=None,
        footer="Questions? Call 555-0100.",
    )
    assert render(custom, None, "es").text.endswith("Questions? Call 555-0100.")


def test_a_client_reads_our_texts_in_their_language_before_the_clinic_s_in_another() -> None:
    messaging = Messaging(
        clinic_name="Riverside",
        default_language="en",
        templates={"en": {"sms": "{{ clinic_name }}: your practice is waiting. {{ done_link }}"}},
    )
    assert render(data(), messaging, "en").sms.startswith("Riverside <Counselling>: your practice")
    spanish = render(data(), messaging, "es-MX").sms
    assert spanish.startswith("Riverside <Counselling>: te espera una actividad")
    # No built-in texts in the client's language: the clinic's own wording, as before.
    assert render(data(), messaging, "de").sms.startswith("Riverside <Counselling>: your practice")
