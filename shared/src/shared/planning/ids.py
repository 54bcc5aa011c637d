"""Reminder ids and the compact timer member that stands for a planned reminder in Redis.

A timer member is ``<clinic>/<assignment>|<YYYYMMDD>|<purpose letter>|<slot>|<epoch ms>``:
short (memory per pending reminder is the member plus sorted-set overhead) and enough to
rebuild the reminder at fire time. The reminder id leaves the instant out, so it stays
the same across redeliveries, replicas and re-plans that move the reminder in time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.model import PlannedReminder

_LETTER = {
    ReminderPurpose.REMINDER: "r",
    ReminderPurpose.LEAD: "l",
    ReminderPurpose.NUDGE: "n",
    ReminderPurpose.ENCOURAGEMENT: "e",
}
_PURPOSE = {v: k for k, v in _LETTER.items()}


def reminder_id(key: str, occurrence: date, purpose: ReminderPurpose, slot: str) -> str:
    raw = f"{key}|{occurrence.isoformat()}|{purpose.value}|{slot}"
    return "rem-" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class TimerMember:
    key: str
    occurrence: date
    purpose: ReminderPurpose
    slot: str
    fire_at: datetime

    @property
    def clinic_id(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def assignment_id(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def reminder_id(self) -> str:
        return reminder_id(self.key, self.occurrence, self.purpose, self.slot)

    @property
    def score(self) -> int:
        return int(self.fire_at.timestamp() * 1000)

    def encode(self) -> str:
        day = self.occurrence.strftime("%Y%m%d")
        return f"{self.key}|{day}|{_LETTER[self.purpose]}|{self.slot}|{self.score}"

    @classmethod
    def decode(cls, member: str) -> TimerMember:
        key, day, letter, slot, ms = member.split("|")
        return cls(
            key=key,
            occurrence=date(int(day[:4]), int(day[4:6]), int(day[6:])),  # strptime is slow
            purpose=_PURPOSE[letter],
            slot=slot,
            fire_at=datetime.fromtimestamp(int(ms) / 1000, UTC),
        )

    @classmethod
    def of(cls, r: PlannedReminder) -> TimerMember:
        return cls(r.key, r.occurrence, r.purpose, r.slot, r.fire_at)


def assignment_key(clinic_id: str, assignment_id: str) -> str:
    return f"{clinic_id}/{assignment_id}"


def pack_members(members: Iterable[str]) -> str:
    """A client's timer members as kept in its state, each assignment key written once:
    one line ``<key>\t<rest>\t<rest>...`` per assignment, for members ``<key>|<rest>``.
    A client's members share a handful of keys, so this saves ~20 bytes per timer."""
    grouped: dict[str, list[str]] = {}
    for member in members:
        key, _, rest = member.partition("|")
        grouped.setdefault(key, []).append(rest)
    return "\n".join("\t".join([key, *rests]) for key, rests in grouped.items())


def unpack_members(packed: str) -> list[str]:
    """The members back; a line without a tab is a whole member (the older layout)."""
    members: list[str] = []
    for line in filter(None, packed.split("\n")):
        key, *rests = line.split("\t")
        members.extend([f"{key}|{rest}" for rest in rests] if rests else [key])
    return members
