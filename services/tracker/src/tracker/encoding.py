"""Compact encodings of what the tracker keeps per reminder, per timeline entry and per
completion, so a client's month costs half the memory it used to.

The decisions (``decide/``) keep working on readable names; only the store encodes and
decodes. What shrinks it (measured by ``bench/tracker_memory.py``):
- a reminder is one hash with one-letter fields; its messages are fields of it
  (``<channel>.s|p|l``) rather than a hash each; ranks are not stored (the status says it)
  and an emptied field is deleted, not kept as ``''``: a small hash stays a listpack;
- a timeline entry is one field ``e`` holding its values in a fixed order (joined by the
  unit separator, or JSON when a value holds one), times as epoch seconds: a stream whose
  entries all have the same fields stores the names once;
- a completion is its rating, note, source and time with its announcement's claim in
  front (``1``: claimed, ``0``: released), not a JSON object beside a claim key.
Values written before this encoding (readable names, JSON objects) are still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# -- the reminder hash --------------------------------------------------------------------

_SHORT = {
    "rev": "v",
    "best": "b",
    "best_channel": "bc",
    "assignment_id": "a",
    "client_ref": "c",
    "occurrence_date": "d",
    "purpose": "p",
    "correlation_id": "x",
    "reason": "r",
    "timeline:pending": "q",
}
_LONG = {short: long for long, short in _SHORT.items()}
_PREFIXES = (("announced:", "!"), ("tl:", "~"))
_MESSAGE_SHORT = {"status": "s", "provider": "p", "left": "l"}
_MESSAGE_LONG = {short: long for long, short in _MESSAGE_SHORT.items()}
DROPPED = frozenset({"best_rank", "rank"})  # derivable from the status: not stored
REV = _SHORT["rev"]


def reminder_field(name: str) -> str:
    """The stored name of a reminder field (the decisions' readable name)."""
    if name in _SHORT:
        return _SHORT[name]
    for long, short in _PREFIXES:
        if name.startswith(long):
            return short + name.removeprefix(long)
    return name


def reminder_fields(fields: Mapping[str, str]) -> dict[str, str]:
    return {reminder_field(k): v for k, v in fields.items() if k not in DROPPED}


def message_fields(channel: str, fields: Mapping[str, str]) -> dict[str, str]:
    """A message's fields as fields of its reminder's hash."""
    return {f"{channel}.{_MESSAGE_SHORT[k]}": v for k, v in fields.items() if k in _MESSAGE_SHORT}


def decode_reminder(stored: Mapping[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The reminder's fields by readable name, and its messages by channel."""
    reminder: dict[str, str] = {}
    messages: dict[str, dict[str, str]] = {}
    for name, value in stored.items():
        channel, dot, short = name.rpartition(".")
        if dot and short in _MESSAGE_LONG and channel.isalpha():
            messages.setdefault(channel, {})[_MESSAGE_LONG[short]] = value
        elif name in _LONG:
            reminder[_LONG[name]] = value
        else:
            reminder[_long_prefix(name)] = value
    return reminder, messages


def _long_prefix(name: str) -> str:
    for long, short in _PREFIXES:
        if name.startswith(short):
            return long + name.removeprefix(short)
    return name


# -- timeline entries ---------------------------------------------------------------------

ENTRY_FIELD = "e"
_SEP = "\x1f"  # ASCII unit separator: in no id, time or reason code
ENTRY_ORDER = (
    "at",
    "kind",
    "reminder_id",
    "assignment_id",
    "occurrence_date",
    "purpose",
    "channel",
    "provider",
    "reason",
    "source",
    "until",
    "from",
    "slot",
)
_TIMES = frozenset({"at", "until", "from"})


def encode_entry(entry: Mapping[str, str]) -> dict[str, str]:
    """One stream field: the values in ``ENTRY_ORDER`` (trailing empties left out)."""
    values = [_time(entry.get(k, "")) if k in _TIMES else entry.get(k, "") for k in ENTRY_ORDER]
    while values and not values[-1]:
        values.pop()
    if any(_SEP in v for v in values):  # starts with "[", where a joined one never does
        return {ENTRY_FIELD: json.dumps(values, separators=(",", ":"))}
    return {ENTRY_FIELD: _SEP.join(values)}


def decode_entry(stored: Mapping[str, str]) -> dict[str, str]:
    """An entry by name; an entry written before this encoding is already one."""
    raw = stored.get(ENTRY_FIELD)
    if raw is None or len(stored) != 1:
        return dict(stored)
    values = json.loads(raw) if raw.startswith("[") else raw.split(_SEP)
    found = dict(zip(ENTRY_ORDER, values, strict=False))
    return {k: _iso(v) if k in _TIMES else v for k, v in found.items() if v}


def _time(value: str) -> str:
    """An ISO time as epoch seconds, with the microseconds after a dot when there are any
    (they order what happened within a second, as the console shows it)."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        return value
    seconds = int(at.replace(microsecond=0).timestamp())
    return f"{seconds}.{at.microsecond:06d}" if at.microsecond else str(seconds)


def _iso(value: str) -> str:
    whole, _, micros = value.partition(".")
    if not (whole.isdigit() and (micros.isdigit() or not micros)):
        return value
    at = datetime.fromtimestamp(int(whole), UTC)
    return at.replace(microsecond=int(micros or 0)).isoformat()


# -- completions --------------------------------------------------------------------------

CLAIMED, RELEASED = "1", "0"


def encode_completion(data: Mapping[str, Any]) -> str:
    """A completion as stored, claimed: what it says, without the empty parts."""
    kept = {k: v for k, v in data.items() if v is not None}
    if isinstance(kept.get("at"), str):
        kept["at"] = int(datetime.fromisoformat(kept["at"]).timestamp())
    return CLAIMED + json.dumps(kept, separators=(",", ":"))


def decode_completion(raw: str) -> dict[str, Any]:
    """What a completion says; a value from before this encoding is plain JSON."""
    body = raw[1:] if raw[:1] in (CLAIMED, RELEASED) else raw
    data = json.loads(body)
    return dict(data) if isinstance(data, dict) else {}
