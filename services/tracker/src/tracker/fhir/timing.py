"""A FHIR ``Timing`` as our recurrence: an RFC 5545 RRULE, reminder times of day, and
the local days it is bounded by. Pure; every refusal names the element.

Our occurrences are calendar days in the client's time zone, so a Timing that repeats
within a day (``periodUnit`` h, min or s), or that hangs on daily events (``when``,
``offset``: "after breakfast"), has no faithful mapping and is refused rather than
approximated. Elements about how long the activity takes (``duration*``) or a range of
acceptable rates (``frequencyMax``, ``periodMax``, ``countMax``) do not change when we
remind, and are ignored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.timing import Timing, TimingRepeat

from tracker.fhir.outcome import Unmappable

MAX_TIMES_OF_DAY = 8  # the contract's Schedule.times_of_day limit
_FREQ = {"d": "DAILY", "wk": "WEEKLY", "mo": "MONTHLY", "a": "YEARLY"}
_DAYS = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
# Timing.code (GTSAbbreviation) values that repeat at most once a day.
_CODES = {
    "QD": "FREQ=DAILY",
    "QOD": "FREQ=DAILY;INTERVAL=2",
    "WK": "FREQ=WEEKLY",
    "MO": "FREQ=MONTHLY",
}


@dataclass(frozen=True)
class Recurrence:
    """What a Timing says, in our terms: ``rrule`` None when it does not repeat (only
    bounds: one activity within them). ``count`` is left out of ``rrule`` so that the
    resource around the Timing (a Task's ``restriction.repetitions``) can supply it."""

    rrule: str | None
    times_of_day: tuple[time, ...] | None = None
    start: date | None = None
    end: date | None = None
    count: int | None = None

    def with_count(self, count: int | None) -> str:
        rule = self.rrule or ""
        total = self.count if self.count is not None else count
        return rule if total is None else f"{rule};COUNT={total}"


def recurrence(timing: Timing, path: str, zone: ZoneInfo) -> Recurrence:
    """``path`` names the Timing itself, e.g. ``Task.input[0].valueTiming``."""
    if timing.event:
        raise Unmappable.at(
            f"{path}.event", "a list of single instants is not supported: give repeat"
        )
    if timing.repeat is None:
        return Recurrence(_from_code(timing, path))
    repeat, at = timing.repeat, f"{path}.repeat"
    _refuse_event_relative(repeat, at)
    start, end = _bounds(repeat, at, zone)
    if not _repeats(repeat):
        return Recurrence(None, None, start, end)
    count = _positive_int(repeat.count, f"{at}.count")
    return Recurrence(_rule(repeat, at), _times(repeat, at), start, end, count)


def _repeats(repeat: TimingRepeat) -> bool:
    """False for a Timing of bounds alone ("some time between these days")."""
    rules = ("frequency", "period", "periodUnit", "dayOfWeek", "timeOfDay", "count")
    return any(getattr(repeat, name) for name in rules)


def _from_code(timing: Timing, path: str) -> str:
    codes = [c.code for c in (timing.code.coding or ())] if timing.code else []
    for code in codes:
        if code in _CODES:
            return _CODES[code]
    if codes:
        raise Unmappable.at(
            f"{path}.code",
            f"timing code {codes[0]!r} is not supported (QD, QOD, WK or MO; or give repeat)",
            "not-supported",
        )
    raise Unmappable.at(f"{path}.repeat", "a Timing needs repeat (or a code such as QD)")


def _refuse_event_relative(repeat: TimingRepeat, at: str) -> None:
    if repeat.when:
        raise Unmappable.at(
            f"{at}.when",
            "times relative to daily events are not supported: give timeOfDay",
            "not-supported",
        )
    if repeat.offset is not None:
        raise Unmappable.at(f"{at}.offset", "offset goes with when, which is not supported")
    for name in ("boundsDuration", "boundsRange"):
        if getattr(repeat, name) is not None:
            raise Unmappable.at(
                f"{at}.{name}", "give the bounds as boundsPeriod (start and end days)"
            )


def _rule(repeat: TimingRepeat, at: str) -> str:
    unit = repeat.periodUnit or "d"
    if unit not in _FREQ:
        raise Unmappable.at(
            f"{at}.periodUnit",
            f"period unit {unit!r} repeats within a day; occurrences are days (use d, wk, mo "
            "or a, with timeOfDay for the reminder times)",
            "not-supported",
        )
    period = _positive_int(repeat.period, f"{at}.period") or 1
    frequency = _positive_int(repeat.frequency, f"{at}.frequency") or 1
    days = [_DAYS[d] for d in repeat.dayOfWeek or () if d in _DAYS]
    if days and unit in ("d", "wk"):
        # "Daily on Mon, Wed, Fri" and "once each on Mon, Wed, Fri every week" are the
        # same days; the frequency counts them.
        interval = period if unit == "wk" else 1
        return _with_interval(f"FREQ=WEEKLY;BYDAY={','.join(days)}", interval)
    if days:
        raise Unmappable.at(
            f"{at}.dayOfWeek", f"dayOfWeek goes with periodUnit d or wk, not {unit}"
        )
    # Several times a day, each at a timeOfDay: one occurrence a day, reminded at each.
    per_time = unit == "d" and period == 1 and len(repeat.timeOfDay or ()) == frequency
    if frequency > 1 and not per_time:
        raise Unmappable.at(
            f"{at}.frequency",
            f"{frequency} times per {period} {unit} cannot be told apart as days: give "
            "dayOfWeek (weekly) or, for several times a day, one timeOfDay per time",
            "not-supported",
        )
    return _with_interval(f"FREQ={_FREQ[unit]}", period)


def _with_interval(rule: str, interval: int) -> str:
    return rule if interval == 1 else f"{rule};INTERVAL={interval}"


def _times(repeat: TimingRepeat, at: str) -> tuple[time, ...] | None:
    times = tuple(t for t in repeat.timeOfDay or () if t is not None)
    if len(times) > MAX_TIMES_OF_DAY:
        raise Unmappable.at(
            f"{at}.timeOfDay", f"at most {MAX_TIMES_OF_DAY} times of day, not {len(times)}"
        )
    return tuple(sorted(set(times))) or None


def _bounds(repeat: TimingRepeat, at: str, zone: ZoneInfo) -> tuple[date | None, date | None]:
    period = repeat.boundsPeriod
    if period is None:
        return None, None
    start = local_day(period.start, f"{at}.boundsPeriod.start", zone)
    end = local_day(period.end, f"{at}.boundsPeriod.end", zone)
    return start, end


def local_day(value: Any, at: str, zone: ZoneInfo) -> date | None:
    """A FHIR date or dateTime as the client's local day; a partial date (a year, a
    month) does not name one and is refused."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(zone).date()
    if isinstance(value, date):
        return value
    raise Unmappable.at(at, f"{value!r} is not a full date (YYYY-MM-DD)")


def _positive_int(value: Decimal | int | None, at: str) -> int | None:
    if value is None:
        return None
    if value != int(value) or value < 1:
        raise Unmappable.at(at, f"must be a whole number of at least 1, not {value}")
    return int(value)
