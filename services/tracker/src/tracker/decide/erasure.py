"""A client's erasure, decided on plain values: which of the keys found name the client
(or hold its data), and when the services' reports make a completion.

What the tracker holds about a client (``keys.py``): its assignment index
``client:<clinic>/<client>`` and through it each assignment's record, completions,
once-claims (``once:<what>:<clinic>/<assignment>:...``) and ``active`` member; its
timeline and plan; its member of the clinic's client index; each of its reminders'
hash (which names the client; ``r:`` or the previous layout's ``reminder:`` with a
``message:`` hash per channel), its legacy once-claims and its entries in the clinic's
failures stream; its done links (``link:<code>``, which name it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.contracts import Channel
from shared.erasure import SERVICES
from tracker.keys import Keys, scoped

NO_CHANNEL = "none"  # the message key of a failure before any channel was chosen


@dataclass(frozen=True)
class Found:
    """What the load found about the client (every key a full name)."""

    clinic_id: str
    client_ref: str
    assignment_ids: list[str]
    # The clinic's reminder hashes (either layout): key -> the client ref each names
    # ('' if none).
    reminders: dict[str, str]
    # Done links: key -> (clinic, client) each names.
    links: dict[str, tuple[str, str]]
    once_keys: list[str]
    # The clinic's failures stream: (entry id, the reminder it names).
    failures: list[tuple[str, str]]


@dataclass(frozen=True)
class Targets:
    """What one commit deletes: keys by kind, ``active`` members, failures entries."""

    delete: dict[str, list[str]] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)
    failure_ids: list[str] = field(default_factory=list)

    def kinds_and_keys(
        self, *, without: Iterable[str] = (), only: Iterable[str] | None = None
    ) -> tuple[list[str], list[str]]:
        """The keys to delete with the kind of each, of the kinds ``only`` names (all if
        None) that ``without`` does not."""
        skip, keep = set(without), None if only is None else set(only)
        wanted = {
            kind: keys
            for kind, keys in self.delete.items()
            if kind not in skip and (keep is None or kind in keep)
        }
        kinds = [kind for kind, keys in wanted.items() for _ in keys]
        return kinds, [key for keys in wanted.values() for key in keys]


# Every kind of data the tracker reports a count of (zero when none was found).
KINDS = (
    "assignments",
    "completions",
    "once_claims",
    "reminders",
    "messages",
    "links",
    "timeline",
    "plan",
    "client_index",
    "clinic_client_entries",
    "active_entries",
    "failure_entries",
)
# The kinds whose keys are not the clinic's (on a cluster: each its own slot).
GLOBAL_KINDS = ("links",)


def erasure_targets(keys: Keys, found: Found) -> Targets:
    clinic, client = found.clinic_id, found.client_ref
    reminder_ids = _reminder_ids(keys, found)
    scopes = [scoped(clinic, ref) for ref in [*found.assignment_ids, *reminder_ids]]
    delete = {
        "assignments": [keys.assignment(clinic, a) for a in found.assignment_ids],
        "completions": [keys.completions(clinic, a) for a in found.assignment_ids],
        "once_claims": [k for k in found.once_keys if _names_scope(keys, clinic, k, scopes)],
        "reminders": sorted(k for k, owner in found.reminders.items() if owner == client),
        "messages": [
            keys.legacy_message(clinic, r, channel)
            for r in reminder_ids
            for channel in [*(c.value for c in Channel), NO_CHANNEL]
        ],
        "links": [k for k, owner in found.links.items() if owner == (clinic, client)],
        "timeline": [keys.timeline(clinic, client)],
        "plan": [keys.plan(clinic, client)],
        "client_index": [keys.client(clinic, client)],
    }
    wanted = set(reminder_ids)
    return Targets(
        delete=delete,
        active=[scoped(clinic, a) for a in found.assignment_ids],
        failure_ids=[entry for entry, reminder in found.failures if reminder in wanted],
    )


def _reminder_ids(keys: Keys, found: Found) -> list[str]:
    tag = "{" + scoped(found.clinic_id, "")
    ids: set[str] = set()
    for head in (keys.of(found.clinic_id, "r", tag), keys.of(found.clinic_id, "reminder", tag)):
        ids.update(
            key.removeprefix(head).removesuffix("}")
            for key, client in found.reminders.items()
            if client == found.client_ref and key.startswith(head) and key.endswith("}")
        )
    return sorted(ids)


def _names_scope(keys: Keys, clinic_id: str, key: str, scopes: Iterable[str]) -> bool:
    """A once-claim ``once:<what>:<clinic>/<id>[:...]`` of one of ``scopes``."""
    rest = key.removeprefix(keys.once_prefix(clinic_id))
    return any(f":{scope}:" in f":{rest}:" for scope in scopes)


def counts_of(*raws: str) -> dict[str, int]:
    """The commit's counts (JSON, one per call of it, summed) with every kind present."""
    counts = dict.fromkeys(KINDS, 0)
    for raw in raws:
        for kind, n in dict(json.loads(raw) or {}).items():
            counts[str(kind)] = counts.get(str(kind), 0) + int(n)
    return {kind: counts[kind] for kind in KINDS}


def completed_counts(reports: Mapping[str, str]) -> dict[str, dict[str, int]] | None:
    """The counts per service once every service reported (gather hash fields), else
    None."""
    if not all(service in reports for service in SERVICES):
        return None
    return {service: _ints(json.loads(reports[service])) for service in SERVICES}


def _ints(raw: object) -> dict[str, int]:
    return {str(k): int(v) for k, v in dict(raw).items()} if isinstance(raw, dict) else {}
