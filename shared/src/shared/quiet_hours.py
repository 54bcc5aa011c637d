"""Quiet hours in the client's own time zone: the scheduler plans around them, the
notifier checks them again at send time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts.policy import QuietHours


def is_quiet(local: time, window: QuietHours) -> bool:
    """Whether a local wall-clock time falls inside the window (start inclusive, end exclusive)."""
    if window.start < window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end  # spans midnight


def quiet_at(instant: datetime, timezone: str, window: QuietHours) -> bool:
    return is_quiet(instant.astimezone(ZoneInfo(timezone)).time(), window)


def end_of_quiet(instant: datetime, timezone: str, window: QuietHours) -> datetime:
    """The first instant at or after ``instant`` that is outside the window (UTC).

    A reminder that would fall inside quiet hours moves here; it is never dropped.
    The end time is resolved in local time on the right day, so DST changes inside
    the window are handled (a missing local time moves forward with ``fold=0``).
    """
    tz = ZoneInfo(timezone)
    local = instant.astimezone(tz)
    if not is_quiet(local.time(), window):
        return instant.astimezone(UTC)
    day = local.date()
    if window.start >= window.end and local.time() >= window.start:
        day += timedelta(days=1)  # inside the evening part: quiet ends tomorrow morning
    naive_end = datetime.combine(day, window.end)
    end = naive_end.replace(tzinfo=tz)
    # Round-trip through UTC normalises a non-existent local time (spring forward).
    return end.astimezone(UTC)
