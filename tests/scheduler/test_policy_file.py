"""Reading a policy file: the shipped example is valid, and every kind of bad file is
refused with the field's path and the reason, never with a traceback."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from scheduler.policy_file import MAX_BYTES, PolicyFileError, parse_policy_file
from shared.contracts.examples import example_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "services/scheduler/policies/example.yaml"

MINIMAL = """
clinic_id: clinic-1
policy:
  policy_id: p1
  version: 2
  messaging: {clinic_name: Test clinic}
"""


def problems(text: str, clinic: str | None = None) -> list[str]:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_file(text, clinic)
    return caught.value.problems


def test_the_shipped_example_is_the_documented_example_policy() -> None:
    event = parse_policy_file(EXAMPLE.read_bytes())
    assert event.clinic_id == "clinic-001"
    assert event.policy == example_policy()


def test_clinic_from_the_command_line_wins_over_the_file() -> None:
    assert parse_policy_file(MINIMAL, "clinic-2").clinic_id == "clinic-2"
    assert parse_policy_file(MINIMAL.replace("clinic_id: clinic-1", ""), "c3").clinic_id == "c3"


def test_yaml_1_1_traps_do_not_change_the_meaning() -> None:
    text = MINIMAL.replace(
        "messaging: {clinic_name: Test clinic}",
        "quiet_hours: {start: 21:30, end: 07:00}\n"
        "  messaging: {clinic_name: Test clinic, default_language: no}",
    )
    policy = parse_policy_file(text).policy
    assert policy.quiet_hours.start == time(21, 30)  # not the base-60 integer 1290
    assert policy.messaging.default_language == "no"  # Norwegian, not False


def test_every_field_problem_is_listed_with_its_path_and_reason() -> None:
    text = """
clinic_id: clinic-1
policy:
  policy_id: p1
  version: 0
  quiet_hour: {start: "22:00", end: "07:00"}
  channels: [sms, fax]
  default_rule: {times_of_day: ["25:00"]}
  messaging: {clinic_name: Test clinic}
"""
    assert problems(text) == [
        "policy.version: Input should be greater than or equal to 1 (got 0)",
        "policy.channels[1]: Input should be 'sms', 'email' or 'push' (got 'fax')",
        "policy.default_rule.times_of_day[0]: Input should be in a valid time format, "
        "hour value is outside expected range of 0-23 (got '25:00:00')",
        "policy.quiet_hour: unknown field (misspelt? see policies/example.yaml)",
    ]


def test_a_rule_across_fields_names_the_object() -> None:
    text = MINIMAL + "  caps: {per_day: 5, per_week: 3}\n"
    assert problems(text) == ["policy.caps: caps.per_week must be at least caps.per_day"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file: expected a mapping with clinic_id and policy, got empty"),
        ("- a\n- b\n", "file: expected a mapping with clinic_id and policy, got a list"),
        ("policy: [1\n", "line 2, column 1: not valid YAML: expected ',' or ']'"),
        ("policy: {}\npolicy: {}\n", "line 2, column 1: not valid YAML: duplicate key 'policy'"),
        ("policy: !!python/object:os.system {}\n", "not valid YAML: could not determine"),
        (MINIMAL.replace("clinic_id: clinic-1", ""), "clinic_id: missing: give it in the file"),
        ("clinic_id: c\npolcy: {}\n", "polcy: unknown top-level field"),
        ("clinic_id: c\npolcy: {}\n", "policy: missing: put the policy's fields under"),
        ("clinic_id: Jane Doe\n" + MINIMAL.split("\n", 2)[2], "clinic_id: String should match"),
        ("[" * 5000, "file: not valid YAML"),
        ("x: " + "a" * MAX_BYTES, f"file: larger than {MAX_BYTES} bytes"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_reason(text: str, expected: str) -> None:
    assert any(p.startswith(expected) or expected in p for p in problems(text)), problems(text)


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    assert problems("\n".join(lines)) == ["file: more than 20000 values (alias expansion?)"]
