"""A client's timeline, decided on plain values: what each fact puts on it, and the
rows the console shows, with a reason in words for every decision.

An entry is a flat map of short texts: ids, times, channel, provider, status and a
reason code (provider reasons scrubbed). Never a contact point, a message text or a
client's note: the tracker holds none (the notifier keeps contact points and texts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from shared.contracts import ClientPlan, DeliveryStatus
from tracker.adherence import Completion
from tracker.delivery import is_failure
from tracker.encoding import ENTRY_ORDER
from tracker.privacy import scrub
from tracker.records import AssignmentRecord

Entry = dict[str, str]
PENDING = "timeline:pending"  # reminder field: entries waiting for the reminder's client
SEEN = "tl:"  # reminder field prefix: a (channel, kind, reason) already on the timeline
PLAN_SEEN = "seen:"  # plan hash field prefix: a plan decision already on the timeline
MAX_PENDING = 20
ABOUT = ("assignment_id", "occurrence_date", "purpose")  # a reminder's, on its first entry

KIND_WORDS = {
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Not delivered",
    "failed": "Failed",
    "bounced": "Bounced",
    "complained": "Reported as spam: no more emails to this address",
    "channel_off": "Channel stopped",
    "channel_on": "Channel resumed",
    "opted_out": "Not sent: opted out",
    "suppressed": "Not sent",
    "queued": "Queued",
    "retrying": "Failed, will be retried",
    "moved": "Moved by quiet hours",
    "held_back": "Held back by a cap",
    "completed": "Completed",
    "escalated": "Clinician alerted",
}
REASON_WORDS = {
    "opted_out": "the client opted out of this channel",
    "completed": "the activity was already done",
    "already_done": "the activity was already done",
    "paused": "the activity is paused",
    "cancelled": "the activity was cancelled",
    "no_consent": "no consent for this channel",
    "no_contact": "no contact point for this channel",
    "quiet_hours": "quiet hours in the client's time zone",
    "cap": "the client's message cap was reached",
    "cap_per_day": "the client's daily message cap was reached",
    "cap_per_week": "the client's weekly message cap was reached",
    "duplicate": "a reminder for it was already sent",
    "sms_keyword": "the client replied STOP or START",
    "unsubscribe_link": "the client used the email's unsubscribe link",
    "email_complaint": "the client reported a reminder email as spam",
    "push_revoked": "the push subscription ended (the browser or device dropped it)",
}
SOURCE_WORDS = {
    "ehr": "recorded in the EHR",
    "link": "the client tapped the done link",
    "sms": "the client replied DONE by text",
    "app": "the client marked it in the app",
}
PURPOSE_WORDS = {
    "reminder": "reminder",
    "lead": "reminder ahead of the due day",
    "nudge": "nudge (only if not done by then)",
    "encouragement": "encouragement after a completion",
}


def _iso(value: datetime | date | None) -> str:
    return value.isoformat() if value is not None else ""


def compact(entry: Mapping[str, str | None]) -> Entry:
    """Empty fields are left out: a stream entry holds only what is known."""
    return {k: v for k, v in entry.items() if v}


# -- what a delivery fact puts on the timeline ------------------------------------------


@dataclass(frozen=True)
class DeliveryStep:
    """What one delivery fact adds: entries for the client's stream (when the client is
    known), fields for the reminder hash (markers, the pending list)."""

    entries: list[Entry] = field(default_factory=list)
    reminder: dict[str, str] = field(default_factory=dict)
    client_ref: str | None = None


def delivery_kind(status: DeliveryStatus, reason: str | None, until: datetime | None) -> str:
    if status is DeliveryStatus.SUPPRESSED and reason == "quiet_hours" and until is not None:
        return "moved"
    return status.value


def delivery_step(
    meta: Mapping[str, str],
    *,
    reminder_id: str,
    channel: str,
    status: DeliveryStatus,
    provider: str | None,
    reason: str | None,
    at: datetime,
    until: datetime | None = None,
) -> DeliveryStep:
    """Each (channel, kind, reason) of a reminder goes on the timeline once, however
    often its event arrives. ``meta`` is the reminder's hash with this fact's additions
    (client, assignment, day, purpose); without a client yet the entry waits in the hash
    and goes out with the first fact that names it."""
    kind = delivery_kind(status, reason, until)
    keep_reason = is_failure(status) or status is DeliveryStatus.SUPPRESSED
    shown = scrub(reason) if reason and keep_reason else None
    marker = f"{SEEN}{channel}:{kind}|{shown or ''}"
    pending = _pending(meta)
    fields: dict[str, str] = {}
    new: list[Entry] = []
    if marker not in meta:
        fields[marker] = "1"
        entry = {
            "at": _iso(at),
            "kind": kind,
            "reminder_id": reminder_id,
            "channel": channel,
            "provider": provider,
            "reason": shown,
            "until": _iso(until),
        }
        new.append(compact(entry))
    client = meta.get("client_ref")
    if client is None:
        if new:
            fields[PENDING] = json.dumps((pending + new)[-MAX_PENDING:])
        return DeliveryStep([], fields, None)
    if pending:
        fields[PENDING] = ""
    entries = pending + new
    # What the reminder is about goes on its first entry only: the console's rows take
    # it from there for the reminder's later ones (``timeline_rows``), and a month of
    # entries holds a third less.
    earlier = any(k.startswith(SEEN) for k in meta)
    if entries and (pending or not earlier):
        about = {k: meta[k] for k in ABOUT if k in meta}
        entries[0] = {**about, **entries[0]}
    return DeliveryStep(entries, fields, client if entries else None)


def _pending(meta: Mapping[str, str]) -> list[Entry]:
    raw = meta.get(PENDING)
    if not raw:
        return []
    found = json.loads(raw)
    return [dict(e) for e in found] if isinstance(found, list) else []


def retry_entry(
    reminder_id: str, channel: str, provider: str | None, reason: str, at: datetime
) -> Entry:
    """A failed attempt the notifier retries: each one goes on the timeline."""
    return compact(
        {
            "at": _iso(at),
            "kind": "retrying",
            "reminder_id": reminder_id,
            "channel": channel,
            "provider": provider,
            "reason": scrub(reason),
        }
    )


def completion_entry(
    assignment_id: str,
    occurrence_date: date,
    source: str,
    completed_at: datetime,
    reminder_id: str | None = None,
) -> Entry:
    """A completion as the timeline shows it: never the client's note."""
    return compact(
        {
            "at": _iso(completed_at),
            "kind": "completed",
            "assignment_id": assignment_id,
            "occurrence_date": occurrence_date.isoformat(),
            "source": source,
            "reminder_id": reminder_id,
        }
    )


def escalation_entry(
    assignment_id: str, consecutive_missed: int, last_missed: date, at: datetime
) -> Entry:
    return compact(
        {
            "at": _iso(at),
            "kind": "escalated",
            "assignment_id": assignment_id,
            "occurrence_date": last_missed.isoformat(),
            "reason": f"missed_{consecutive_missed}",
        }
    )


# -- the scheduler's plan ---------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """The latest plan to keep, and its decisions new to the timeline."""

    at: int  # the plan's time in microseconds: newest wins
    plan: str  # the plan as JSON
    entries: list[Entry]
    seen: dict[str, str]  # PLAN_SEEN fields to add (value: the occurrence day)
    forget: list[str]  # PLAN_SEEN fields of days long past


def micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def plan_change(loaded: Mapping[str, str], plan: ClientPlan) -> PlanChange | None:
    """None when a newer (or the same) plan is kept already. Each moved and held-back
    decision goes on the timeline once, when it is first planned."""
    at = micros(plan.planned_at)
    if at <= int(loaded.get("at") or -1):
        return None
    decided = _iso(plan.planned_at)
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for item in plan.upcoming:
        if item.moved_from is None:
            continue
        key = f"{PLAN_SEEN}moved|{item.reminder_id}|{_iso(item.planned_for)}"
        if key in loaded or key in seen:
            continue
        seen[key] = item.occurrence_date.isoformat()
        entry = {
            "at": decided,
            "kind": "moved",
            "reminder_id": item.reminder_id,
            "assignment_id": item.assignment_id,
            "occurrence_date": item.occurrence_date.isoformat(),
            "purpose": item.purpose.value,
            "reason": "quiet_hours",
            "until": _iso(item.planned_for),
            "from": _iso(item.moved_from),
            "slot": item.slot,
        }
        entries.append(compact(entry))
    for held in plan.held_back:
        day = held.occurrence_date.isoformat()
        key = f"{PLAN_SEEN}held|{held.assignment_id}|{day}|{held.purpose.value}|{held.reason}"
        if key in loaded or key in seen:
            continue
        seen[key] = day
        entry = {
            "at": decided,
            "kind": "held_back",
            "assignment_id": held.assignment_id,
            "occurrence_date": day,
            "purpose": held.purpose.value,
            "reason": held.reason,
            "from": _iso(held.would_fire_at),
        }
        entries.append(compact(entry))
    # A day long past is never planned again: its markers can go.
    oldest = (plan.planned_at - timedelta(days=2)).date().isoformat()
    forget = [k for k, v in loaded.items() if k.startswith(PLAN_SEEN) and v < oldest]
    return PlanChange(at, plan.model_dump_json(), entries, seen, forget)


# -- rows for the console ---------------------------------------------------------------


def reason_words(code: str | None) -> str | None:
    if not code:
        return None
    if code.startswith("missed_") and code[7:].isdigit():
        return f"{code[7:]} planned days in a row were missed"
    return REASON_WORDS.get(code, code.replace("_", " "))


def words(entry: Mapping[str, str]) -> str:
    """One line saying what happened and why."""
    kind = entry.get("kind", "")
    text = KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())
    if kind == "completed":
        source = entry.get("source", "")
        return f"{text}: {SOURCE_WORDS.get(source, source)}"
    if kind == "delivered":
        return text
    why = reason_words(entry.get("reason"))
    if kind in ("sent", "queued") or why is None:
        return text
    return f"{text}: {why}"


def row(stream_id: str, entry: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {k: entry.get(k) or None for k in ENTRY_ORDER}
    found["id"] = stream_id
    found["words"] = words(entry)
    return found


def timeline_rows(entries: Iterable[tuple[str, Mapping[str, str]]]) -> list[dict[str, Any]]:
    """Newest first by the time each thing happened (the stream id breaks ties: arrival).
    A reminder's later entries get what it is about from its first one."""
    rows = [row(i, e) for i, e in entries]
    about: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["reminder_id"] and r["assignment_id"] and r["kind"] != "completed":
            about.setdefault(r["reminder_id"], {k: r[k] for k in ABOUT})
    for r in rows:
        if r["reminder_id"] and not r["assignment_id"] and r["reminder_id"] in about:
            r.update(about[r["reminder_id"]])
    return _newest_first(rows)


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["at"] or "", _stream_order(r["id"])), reverse=True)


def _stream_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return (int(ms or 0), int(seq or 0)) if ms.isdigit() else (0, 0)


def slot_words(slot: str) -> str:
    """The policy slot a planned reminder came from, in words (0900, L1-1800, N2000)."""
    if slot.startswith("L") and "-" in slot:
        days, _, hhmm = slot[1:].partition("-")
        ahead = "a day" if days == "1" else f"{days} days"
        return f"{ahead} ahead, at {_hhmm(hhmm)}"
    if slot.startswith("N"):
        return f"a nudge if not done by {_hhmm(slot[1:])}"
    return f"the policy's time {_hhmm(slot)}"


def _hhmm(raw: str) -> str:
    return f"{raw[:2]}:{raw[2:4]}" if len(raw) == 4 and raw.isdigit() else raw


def plan_rows(plan: ClientPlan | None, now: datetime) -> dict[str, Any]:
    """The scheduler's upcoming reminders (why at that time) and those the caps held
    back, still ahead of ``now``."""
    if plan is None:
        return {"known": False, "upcoming": [], "held_back": []}
    upcoming = [
        {
            "reminder_id": i.reminder_id,
            "assignment_id": i.assignment_id,
            "occurrence_date": i.occurrence_date.isoformat(),
            "purpose": i.purpose.value,
            "planned_for": _iso(i.planned_for),
            "slot": i.slot,
            "moved_from": _iso(i.moved_from) or None,
            "why": _why(i.slot, i.moved_from is not None),
        }
        for i in plan.upcoming
        if i.planned_for >= now
    ]
    held = [
        {
            "assignment_id": h.assignment_id,
            "occurrence_date": h.occurrence_date.isoformat(),
            "purpose": h.purpose.value,
            "would_fire_at": _iso(h.would_fire_at),
            "reason": h.reason,
            "why": f"Held back: {REASON_WORDS[h.reason]}",
        }
        for h in plan.held_back
        if h.would_fire_at >= now
    ]
    return {
        "known": True,
        "planned_at": _iso(plan.planned_at),
        "cause": plan.cause,
        "horizon_end": _iso(plan.horizon_end),
        "truncated": plan.truncated,
        "upcoming": upcoming,
        "held_back": held,
    }


def _why(slot: str, moved: bool) -> str:
    text = f"Planned for {slot_words(slot)}"
    return f"{text}; moved by quiet hours" if moved else text


def for_reminder(
    rows: Sequence[dict[str, Any]], reminder_id: str, assignment_id: str | None, day: str | None
) -> list[dict[str, Any]]:
    """A reminder's own rows, and the completion of its occurrence."""

    def mine(r: Mapping[str, Any]) -> bool:
        if r["reminder_id"] == reminder_id:
            return True
        same_day = r["assignment_id"] == assignment_id and r["occurrence_date"] == day
        return r["kind"] == "completed" and assignment_id is not None and same_day

    return [r for r in rows if mine(r)]


def activity_rows(
    records: Sequence[AssignmentRecord], completions: Mapping[str, Mapping[date, Completion]]
) -> list[dict[str, Any]]:
    """A client's activities with their status: kinds and counts, never a title or note."""
    rows = []
    for r in sorted(records, key=lambda r: r.assignment_id):
        done = sorted(completions.get(r.assignment_id, {}))
        schedule = r.schedule
        rows.append(
            {
                "assignment_id": r.assignment_id,
                "activity_kind": r.activity_kind,
                "status": r.status,
                "version": r.version,
                "policy_id": r.policy_id,
                "frequency": _frequency(r),
                "start": schedule.start.isoformat() if schedule else None,
                "completed_days": len(done),
                "last_completed": done[-1].isoformat() if done else None,
            }
        )
    return rows


REMINDER_FIELDS = ("client_ref", "assignment_id", "occurrence_date", "purpose")


def reminder_view(
    reminder_id: str,
    meta: Mapping[str, str],
    messages: Mapping[str, Mapping[str, str]],
    rows: Sequence[dict[str, Any]],
    planned: dict[str, Any] | None,
) -> dict[str, Any]:
    """One reminder's life: what is known of it, its outcome, each channel's state, and
    its timeline (entries still waiting for its client included)."""
    pending = [("", e) for e in _pending(meta)]
    known = {k: meta.get(k) for k in REMINDER_FIELDS}
    mine = for_reminder(rows, reminder_id, known["assignment_id"], known["occurrence_date"])
    best = meta.get("best")
    return {
        "reminder_id": reminder_id,
        **known,
        "outcome": best,
        "outcome_channel": meta.get("best_channel"),
        "reason": meta.get("reason"),
        "reason_words": reason_words(meta.get("reason")),
        "channels": [
            {"channel": channel, "status": m.get("status"), "provider": m.get("provider")}
            for channel, m in sorted(messages.items())
            if m
        ],
        "planned": planned,
        "timeline": _newest_first([*timeline_rows(pending), *mine]),
    }


def _frequency(record: AssignmentRecord) -> str | None:
    schedule = record.schedule
    if schedule is None:
        return None
    return schedule.frequency.value if schedule.frequency else "custom (RRULE)"
