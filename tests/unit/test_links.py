"""Done-link codes: short, stable per reminder, scoped by clinic, rotatable, tamper-evident."""

from __future__ import annotations

import string
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from shared.links import CODE_LENGTH, done_code, done_url, is_authentic

NEW, OLD = "k" * 40 + "-newest", "k" * 40 + "-older"
URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_code_is_short_url_safe_and_stable() -> None:
    clinic, reminder = str(uuid4()), "rem-" + uuid4().hex
    code = done_code([NEW], clinic, reminder)
    assert len(code) == CODE_LENGTH
    assert set(code) <= URL_SAFE
    assert done_code([NEW, OLD], clinic, reminder) == code  # the newest secret makes it
    assert is_authentic([NEW], code)
    url = done_url("https://reminders.example-clinic.org/", code)
    assert url == f"https://reminders.example-clinic.org/d/{code}"


def test_same_reminder_id_in_two_clinics_gets_two_codes() -> None:
    reminder = "rem-" + uuid4().hex
    assert done_code([NEW], "clinic-a", reminder) != done_code([NEW], "clinic-b", reminder)


def test_rotation_keeps_sent_codes_working() -> None:
    sent = done_code([OLD], "clinic-a", "rem-1")
    assert is_authentic([NEW, OLD], sent)
    assert not is_authentic([NEW], sent)  # once the old secret is retired, it stops


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=40))
def test_made_up_codes_are_refused(code: str) -> None:
    real = done_code([NEW], "clinic-a", "rem-1")
    if code != real:
        assert not is_authentic([NEW], code)


def test_one_changed_character_is_refused() -> None:
    code = done_code([NEW], "clinic-a", "rem-1")
    for i in range(len(code)):
        changed = code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1 :]
        assert not is_authentic([NEW], changed)
