"""The policy console's pure parts: errors in words per field, what a version changed,
and the preview (the scheduler's planner and the notifier's texts on a sample client)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import ClinicPolicy, ReminderPurpose
from shared.messages.catalogue import CATALOGUE
from shared.messages.sms_text import measure
from shared.planning.model import AssignmentPlanInput, ClientContext
from shared.planning.plan import plan_client
from tracker.decide.policies import (
    FieldError,
    SampleClient,
    changes,
    field_errors,
    message_parts,
    preview,
    rendered_for,
    sample_assignment,
    saved_by,
    template_problems,
)

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday, 07:00 in Berlin
LINK = "https://tracker.example.org/d/xxxxxxxxxxxxxxxxxxxxx"
REMINDER = ReminderPurpose.REMINDER


def policy(**changes_: Any) -> ClinicPolicy:
    data: dict[str, Any] = {
        "policy_id": "pol-1",
        "version": 1,
        "messaging": {"clinic_name": "Sunrise Clinic"},
        "default_rule": {"times_of_day": ["09:00"], "nudges": [{"if_not_done_by": "20:00"}]},
        "caps": {"per_day": 3, "per_week": 21},
    }
    for key, value in changes_.items():
        data[key] = value
    return ClinicPolicy.model_validate(data)


def errors_of(data: dict[str, Any]) -> list[FieldError]:
    base = {"policy_id": "pol-1", "version": 1, "messaging": {"clinic_name": "A"}}
    with pytest.raises(ValidationError) as caught:
        ClinicPolicy.model_validate({**base, **data}, extra="forbid")
    return field_errors(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"caps": {"per_day": 0}}, FieldError("caps.per_day", "must be at least 1")),
        ({"caps": {"per_day": 30}}, FieldError("caps.per_day", "must be at most 24")),
        (
            {"caps": {"per_day": 5, "per_week": 3}},
            FieldError("caps.per_week", "must be at least caps.per_day"),
        ),
        (
            {"default_rule": {"times_of_day": ["9am"]}},
            FieldError("default_rule.times_of_day.0", "must be a time of day such as 09:00"),
        ),
        (
            {"channels": ["sms", "sms"]},
            FieldError("channels", "must list each channel at most once, and at least one"),
        ),
        (
            {"channels": ["fax"]},
            FieldError("channels.0", "must be one of: 'sms', 'email' or 'push'"),
        ),
        (
            {"messaging": {"clinic_name": "A", "default_language": "English"}},
            FieldError("messaging.default_language", "must be a language code such as en or pt-BR"),
        ),
        ({"quiet_hour": {}}, FieldError("quiet_hour", "is not a setting of a policy (misspelt?)")),
        (
            {"escalation": {"after_missed": "x"}},
            FieldError("escalation.after_missed", "must be a whole number"),
        ),
    ],
)
def test_each_problem_is_named_by_its_field_in_words(
    data: dict[str, Any], expected: FieldError
) -> None:
    assert expected in errors_of(data)


def test_a_sample_clients_errors_are_named_under_sample() -> None:
    with pytest.raises(ValidationError) as caught:
        SampleClient.model_validate({"timezone": "Mars/Olympus"})
    [error] = field_errors(caught.value, prefix="sample")
    assert error.field == "sample.timezone"
    assert "unknown IANA time zone" in error.message


def test_what_changed_is_one_short_line() -> None:
    old = policy()
    new = policy(
        caps={"per_day": 2, "per_week": 21},
        quiet_hours={"start": "22:00", "end": "07:30"},
        messaging={"clinic_name": "Sunrise Clinic", "templates": {"en": {"sms": "x" * 80}}},
    )
    summary = changes(old, new)
    assert "caps.per_day 3 → 2" in summary
    assert "quiet_hours.start 21:00 → 22:00" in summary
    assert "messaging.templates.en.sms added" in summary
    assert changes(None, new) == "first version"
    nudged = policy(
        default_rule={"times_of_day": ["09:00"], "nudges": [{"if_not_done_by": "21:00"}]}
    )
    assert changes(old, nudged) == "default_rule.nudges 20:00 → 21:00"
    assert changes(old, old.model_copy(update={"version": 2})) == "no change"


def test_who_saved() -> None:
    assert saved_by(None) == "ops"
    assert saved_by("clinic-a") == "clinic clinic-a"


def test_the_preview_is_the_planners_plan_with_the_notifiers_texts() -> None:
    p = policy()
    sample = SampleClient(timezone="Europe/Berlin")
    result = preview(p, sample, NOW, LINK)
    # The very plan the scheduler would make for this client.
    plan = plan_client(
        ClientContext("preview/sample", "Europe/Berlin"),
        [AssignmentPlanInput("preview/sample", sample_assignment(p, sample, NOW), p)],
        NOW,
        timedelta(days=7),
    )
    planned = [i for i in result["items"] if i["held_back"] is None]
    assert [i["at"] for i in planned] == [r.fire_at.isoformat() for r in plan.reminders]
    assert result["counts"]["planned"] == 14  # 7 days: a reminder and a nudge each
    assert result["counts"]["only_if_not_done"] == 7
    first = planned[0]
    assert (first["weekday"], first["local_date"]) == ("Mon", "2026-03-02")
    assert first["local_time"].startswith("09:")  # 09:00 plus the delivery window
    assert first["sms"].startswith("Sunrise Clinic: ")
    assert LINK in first["sms"]
    assert first["sms_segments"] == measure(first["sms"]).segments == 1
    nudge = next(i for i in planned if i["purpose"] == "nudge")
    assert nudge["only_if_not_done"] is True


def test_the_preview_shows_what_quiet_hours_moved_and_caps_held_back() -> None:
    p = policy(
        default_rule={"times_of_day": ["09:00", "22:30"], "nudges": [{"if_not_done_by": "20:00"}]},
        caps={"per_day": 2, "per_week": 21},
    )
    result = preview(p, SampleClient(timezone="Europe/Berlin"), NOW, LINK)
    moved = [i for i in result["items"] if i["moved_from_local"]]
    assert moved
    assert all(i["moved_from_local"].split()[1].startswith("22:") for i in moved)
    assert all(i["local_time"] >= "08:00" for i in moved)  # the end of quiet hours
    held = [i for i in result["items"] if i["held_back"]]
    assert held
    assert {i["held_back"] for i in held} == {"cap_per_day"}
    assert result["counts"]["held_back_by_caps"] == len(held)
    # The client's own quiet hours win over the clinic's.
    own = SampleClient(timezone="Europe/Berlin", quiet_hours={"start": "23:00", "end": "07:00"})
    assert preview(p, own, NOW, LINK)["counts"]["moved_by_quiet_hours"] == 0


def test_the_preview_follows_the_clients_language_and_the_clinics_templates() -> None:
    p = policy(
        messaging={
            "clinic_name": "Clínica Sol",
            "templates": {"pt": {"sms": "{{ clinic_name }}: há uma atividade à sua espera."}},
        }
    )
    result = preview(p, SampleClient(language="pt"), NOW, LINK)
    assert result["language"] == "pt"
    item = result["items"][0]
    assert item["sms"] == "Clinica Sol: ha uma atividade à sua espera."  # GSM-7 stand-ins
    assert item["sms_encoding"] == "GSM-7"
    languages = {(x["language"], x["purpose"]) for x in result["examples"]}
    assert {("en", "reminder"), ("pt", "reminder"), ("pt", "nudge")} <= languages


def test_a_template_that_does_not_parse_is_named() -> None:
    [problem] = template_problems({"en": {"sms": "{{ clinic_name ", "subject": "ok"}})
    assert problem.field == "messaging.templates.en.sms"
    assert "the default is sent" in problem.message


def test_the_preview_steps_through_the_phrasings_day_by_day_as_the_notifier_does() -> None:
    result = preview(policy(), SampleClient(language="es-MX"), NOW, LINK)
    reminders = [i for i in result["items"] if i["purpose"] == "reminder"]
    assert len(reminders) == 7
    # Never the same sentence two days running; over a week, every phrasing (five).
    assert all(a["sms"] != b["sms"] for a, b in pairwise(reminders))
    assert len({i["sms"] for i in reminders}) == len(CATALOGUE["es"].phrasings[REMINDER])
    assert all(LINK in i["sms"] for i in reminders)
    day = date.fromisoformat(reminders[2]["occurrence"])
    sent = rendered_for(policy().messaging, REMINDER, "es-MX", "Thought record", LINK, day=day)
    assert reminders[2]["sms"] == message_parts(sent, LINK)["sms"]
    # The examples show the first phrasing in the sample's language too.
    languages = {(x["language"], x["purpose"]) for x in result["examples"]}
    assert {("en", "reminder"), ("es-MX", "reminder")} <= languages
