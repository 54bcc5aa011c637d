"""The pure parts of a client's erasure: what each service picks to delete, the reports,
and the completion the tracker answers with."""

from __future__ import annotations

import json
import uuid

from notifier.unsubscribe import UnsubscribeClaims, applies
from scheduler.erasure import erasure_targets as scheduler_targets
from scheduler.state import AssignmentRecord, ClientState
from shared.contracts import ClientErased, new_envelope, outbound_event_adapter
from shared.erasure import erasure_report, glob_escape
from tracker.decide.erasure import (
    KINDS,
    Found,
    completed_counts,
    counts_of,
    erasure_targets,
)
from tracker.keys import Keys
from tracker.usecases.erasure import completion

CLINIC = "clinic-riverside-dialectical-behaviour-therapy-programme-2c4e"
OTHER = "clinic-hillcrest-anxiety-and-mood-clinic-collaborative-8d1f"
CLIENT = str(uuid.uuid4())
ASSIGNMENT = str(uuid.uuid4())
KEYS = Keys("t-erasure:bs:tracker")


def erased() -> ClientErased:
    return ClientErased(**new_envelope(), clinic_id=CLINIC, client_ref=CLIENT)


def test_the_scheduler_deletes_the_clients_timers_and_its_assignments_fire_entries() -> None:
    key = f"{CLINIC}/{ASSIGNMENT}"
    state = ClientState(
        client_key=f"{CLINIC}/{CLIENT}",
        rev=3,
        assignments={key: AssignmentRecord(version=1)},
        timers=[f"{key}|20261203|r|0900|1796288400000"],
    )
    targets = scheduler_targets(state)
    assert targets.timers == state.timers
    assert targets.fire == [key]


def found(**changes: object) -> Found:
    base: dict[str, object] = {
        "clinic_id": CLINIC,
        "client_ref": CLIENT,
        "assignment_ids": [ASSIGNMENT],
        "reminders": {},
        "links": {},
        "once_keys": [],
        "failures": [],
    }
    return Found(**{**base, **changes})  # type: ignore[arg-type]


def test_the_tracker_picks_only_this_clinics_client_among_identical_refs() -> None:
    mine, theirs, anothers = "rem-" + "a" * 32, "rem-" + "b" * 32, "rem-" + "c" * 32
    link_mine, link_other = KEYS.key("link", "Abc12345xyz"), KEYS.key("link", "Zyx98765abc")
    targets = erasure_targets(
        KEYS,
        found(
            reminders={
                KEYS.reminder(CLINIC, mine): CLIENT,
                KEYS.reminder(CLINIC, anothers): "client-someone-else",
                KEYS.reminder(CLINIC, theirs): "",
            },
            links={link_mine: (CLINIC, CLIENT), link_other: (OTHER, CLIENT)},
            once_keys=[
                KEYS.once("completion", f"{CLINIC}/{ASSIGNMENT}", "2026-12-03"),
                KEYS.once("alert", f"{CLINIC}/{ASSIGNMENT}1", "2026-12-03"),
                KEYS.once("outcome", f"{CLINIC}/{mine}", "delivered"),
            ],
            failures=[("1-0", mine), ("2-0", anothers)],
        ),
    )
    assert targets.delete["reminders"] == [KEYS.reminder(CLINIC, mine)]
    assert KEYS.legacy_message(CLINIC, mine, "sms") in targets.delete["messages"]
    assert targets.delete["links"] == [link_mine]
    assert targets.delete["once_claims"] == [
        KEYS.once("completion", f"{CLINIC}/{ASSIGNMENT}", "2026-12-03"),
        KEYS.once("outcome", f"{CLINIC}/{mine}", "delivered"),
    ]
    assert targets.delete["assignments"] == [KEYS.assignment(CLINIC, ASSIGNMENT)]
    assert targets.delete["timeline"] == [KEYS.timeline(CLINIC, CLIENT)]
    assert targets.active == [f"{CLINIC}/{ASSIGNMENT}"]
    assert targets.failure_ids == ["1-0"]
    kinds, keys = targets.kinds_and_keys()
    assert len(kinds) == len(keys)
    assert all(OTHER not in k for k in keys)


def test_counts_name_every_kind_and_a_completion_waits_for_every_service() -> None:
    assert counts_of("{}") == dict.fromkeys(KINDS, 0)
    assert counts_of(json.dumps({"timeline": 1}))["timeline"] == 1
    reports = {"scheduler": json.dumps({"timers": 2}), "tracker": json.dumps({"plan": 1})}
    assert completed_counts(reports) is None
    reports["notifier"] = json.dumps({"contacts": 1})
    assert completed_counts({**reports, "_announced": "1"}) == {
        "scheduler": {"timers": 2},
        "notifier": {"contacts": 1},
        "tracker": {"plan": 1},
    }


def test_the_completion_keeps_its_id_however_often_it_is_announced() -> None:
    event = erased()
    report = erasure_report(event, "notifier", {"contacts": 1})
    assert (report.erasure_event_id, report.causation_id) == (event.event_id, event.event_id)
    counts = {"scheduler": {}, "notifier": {"contacts": 1}, "tracker": {}}
    first, again = completion(report, counts), completion(report, counts)
    assert first.event_id == again.event_id != event.event_id
    assert first.correlation_id == event.correlation_id
    wire = outbound_event_adapter.validate_json(first.model_dump_json())
    assert wire == first


def test_scan_patterns_match_a_tenants_ref_literally() -> None:
    assert glob_escape("clinic[1]*?\\") == "clinic\\[1\\]\\*\\?\\\\"
    assert glob_escape(CLINIC) == CLINIC


class Clients:
    def __init__(self, known: set[tuple[str, str]]) -> None:
        self.known = known

    async def preferences(self, clinic_id: str, client_ref: str) -> object | None:
        return object() if (clinic_id, client_ref) in self.known else None


async def test_an_unsubscribe_link_of_an_erased_client_applies_to_nothing() -> None:
    clients = Clients({(OTHER, CLIENT)})  # the other clinic's client of the same ref
    assert not await applies(clients, UnsubscribeClaims(CLINIC, CLIENT, "email"))
    assert await applies(clients, UnsubscribeClaims(OTHER, CLIENT, "email"))
