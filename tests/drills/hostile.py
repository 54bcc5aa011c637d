"""Hostile and malformed EHR events, generated with hypothesis, mixed with valid ones.

Each generated item says whether the contract accepts it (``valid``), decided by the
contract itself, so the drill's expectations never drift from the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts import ehr_event_adapter
from shared.contracts.examples import examples

INJECTIONS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "<script>alert(1)</script>",
    "'; DROP TABLE clients; --",
    "${jndi:ldap://127.0.0.1/x}",
    "\u202eevil\u0000null",
    "../../etc/passwd",
    "%s%s%s%n",
]
EHR_TAGS = [
    "activity.assigned",
    "activity.updated",
    "activity.cancelled",
    "activity.completed",
    "client.preferences.changed",
    "session.upcoming",
]


@dataclass(frozen=True)
class Item:
    routing_key: str
    body: bytes
    valid: bool


def _base(tag: str, n: int) -> dict[str, Any]:
    data: dict[str, Any] = examples()[tag].model_dump(mode="json")
    data["event_id"] = str(uuid4())  # a fresh id each, so nothing is deduplicated away
    data["correlation_id"] = f"drill-{n}"
    if "assignment_id" in data:
        data["assignment_id"] = f"asg-drill-{n % 50}"
    if tag in ("activity.updated", "activity.cancelled"):
        data["version"] = 2 + n
    return data


BAD_VALUES = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=30),
    st.sampled_from(INJECTIONS),
    st.just("x" * 100_000),
    st.just("2026-11-21T09:00:00"),  # naive datetime
    st.just("Mars/Olympus_Mons"),  # unknown time zone
    st.just("FREQ=SOMETIMES;BYDAY=ZZ"),  # invalid RRULE
    st.just("+1 (555) 0100"),  # not E.164
)


def _mutate(data: dict[str, Any], draw: Any) -> dict[str, Any]:
    """Replace, delete or add one field somewhere in the event."""
    target = data
    path = [k for k, v in data.items() if isinstance(v, dict)]
    if path and draw(st.booleans()):
        target = data[draw(st.sampled_from(path))]
    key = draw(st.sampled_from(sorted(target) or ["type"]))
    action = draw(st.sampled_from(["replace", "delete", "replace"]))
    if action == "delete":
        target.pop(key, None)
    else:
        target[key] = draw(BAD_VALUES)
    return data


KINDS = ("valid", "valid_injection", "mutated", "mutated", "garbage")


@st.composite
def items(draw: Any, kind: str, n: int) -> Item:
    tag = draw(st.sampled_from(EHR_TAGS))
    data = _base(tag, n)
    if kind == "garbage":
        raw = draw(
            st.one_of(
                st.binary(max_size=200),
                st.just(b"{not json"),
                st.just(b"[]"),
                st.just(json.dumps({"type": "activity.exploded"}).encode()),
            )
        )
        return Item(tag, raw, _accepts(raw))
    if kind == "valid_injection" and "activity" in data:
        data["activity"]["title"] = draw(st.sampled_from(INJECTIONS))[:200]
    if kind == "valid_injection" and tag == "activity.completed":
        data["note"] = draw(st.sampled_from(INJECTIONS))
    if kind == "mutated":
        data = _mutate(data, draw)
    raw = json.dumps(data, default=str).encode()
    return Item(tag, raw, _accepts(raw))


def _accepts(raw: bytes) -> bool:
    try:
        ehr_event_adapter.validate_json(raw)
    except ValidationError:
        return False
    return True


def generate(count: int) -> list[Item]:
    """``count`` items, deterministic for a given count; the mix of kinds is fixed (40% are
    meant to be valid), hypothesis chooses everything else."""
    out: list[Item] = []
    for k, kind in enumerate(KINDS):
        share = count // len(KINDS) + (1 if k < count % len(KINDS) else 0)
        out.extend(_generate_kind(kind, share, start=len(out)))
    return out


def _generate_kind(kind: str, count: int, start: int) -> list[Item]:
    got: list[Item] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        # n only names ids and versions; it never changes what is drawn.
        got.append(data.draw(items(kind, start + len(got))))

    while len(got) < count:
        collect()
    return got[:count]
