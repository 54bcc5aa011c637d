"""Local wall-clock times to instants, deterministically across DST changes.

- A local time that does not exist (spring forward, e.g. 02:30 on the day clocks jump
  from 02:00 to 03:00) is shifted forward by the gap: 02:30 becomes 03:30.
- A local time that occurs twice (fall back) is the first occurrence (``fold=0``).

Both fall out of Python's zoneinfo rules for ``fold=0`` followed by a round trip to
UTC, which is why this module is so short.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts import QuietHours
from shared.quiet_hours import end_of_quiet, quiet_at


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """The UTC instant of local ``at`` on ``day`` (see the module's DST rules)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).replace(fold=0).astimezone(UTC)


def spread_offset(client_key: str, slot: str, spread_minutes: int) -> timedelta:
    """A stable offset inside the delivery window, so a clinic's clients do not all fire
    at the same second; the same client and slot always get the same offset."""
    if spread_minutes <= 0:
        return timedelta(0)
    digest = hashlib.blake2b(f"{client_key}|{slot}".encode(), digest_size=8).digest()
    return timedelta(seconds=int.from_bytes(digest, "big") % (spread_minutes * 60))


def outside_quiet(
    instant: datetime, timezone: str, window: QuietHours, offset: timedelta
) -> datetime:
    """Move an instant that falls in quiet hours to the end of the window (never drop it).

    The window's end gets the same spread offset, so a night's reminders do not all fire
    at 08:00:00; if that offset would land back in quiet hours, the bare end is used.
    """
    if not quiet_at(instant, timezone, window):
        return instant
    end = end_of_quiet(instant, timezone, window)
    spread = end + offset
    return spread if not quiet_at(spread, timezone, window) else end
