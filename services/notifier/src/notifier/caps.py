"""Caps count what was sent: at most ``caps.per_day`` / ``caps.per_week`` messages per
client (clinic + client_ref) per LOCAL day and ISO week, across every activity and
purpose, encouragements included.

The scheduler applies caps when it plans, but a plan is not a send: a completion frees
planned slots, a re-plan moves reminders. So the notifier reserves a slot right before
sending, in the script that also takes the rate token (``lua.RESERVE``): it adds the
reminder to the day's and the week's set only if both are under the cap. A reminder
that already holds a slot keeps it (a redelivery, a retry after a provider outage, even
on the next day) and counts once. A reservation is given back (``lua.SETTLE``) when
nothing was sent in the end.

Keys, in the client's hash slot with its reminders' ledgers (``keys.py``, ``C``):
``C:caps:d:<YYYY-MM-DD>``, ``C:caps:w:<YYYY-Www>`` (sets of reminder ids) and
``C:caps:held:<reminder id>`` (which day and week it counted in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAY_TTL_SECONDS = 3 * 86400  # a local day ends at most ~26 h after it starts in UTC
WEEK_TTL_SECONDS = 9 * 86400


@dataclass(frozen=True)
class Period:
    day: str  # YYYY-MM-DD, the client's local day
    week: str  # YYYY-Www, its ISO week


def period(now: datetime, timezone: str) -> Period:
    """The client's local day and ISO week at ``now``."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    year, week, _ = local.isocalendar()
    return Period(local.isoformat(), f"{year}-W{week:02d}")
