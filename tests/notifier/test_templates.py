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
