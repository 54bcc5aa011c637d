"""Validated field types used across the contracts.

Each type refuses bad input with a message that names the problem, because these
messages end up in dead-letter reasons that an EHR integrator reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, StringConstraints

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Identifiers from the EHR are opaque, but never free text: this keeps names,
# emails and phone numbers out of fields that are logged.
_REF = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "datetime must carry a time zone offset (for example 2026-11-21T09:00:00Z)"
        )
    return value.astimezone(UTC)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f"unknown IANA time zone {value!r} (expected e.g. 'Europe/Berlin')"
        ) from exc
    return value


def _check_e164(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError("phone number must be in E.164 form: '+' then 7 to 15 digits")
    return value


def _check_rrule(value: str) -> str:
    body = value.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if "DTSTART" in body.upper():
        raise ValueError("RRULE must not contain DTSTART: the schedule's start is used")
    try:
        rrulestr(body, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"RRULE does not parse per RFC 5545: {exc}") from exc
    return body


def _parse_hhmm(value: object) -> object:
    """Accept 'HH:MM' as well as 'HH:MM:SS' for local times of day."""
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        return f"{value}:00"
    return value


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("time of day is local to the client: give it without an offset")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_require_aware)]
"""A time-zone-aware instant, normalised to UTC. Naive datetimes are refused."""

TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]
PhoneE164 = Annotated[str, AfterValidator(_check_e164)]
Email = EmailStr
RRule = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_check_rrule)]
LocalTime = Annotated[time, BeforeValidator(_parse_hhmm), AfterValidator(_naive_time)]
Ref = Annotated[str, StringConstraints(pattern=_REF)]
"""An opaque identifier: letters, digits and . _ : - only (never a name or contact point)."""
ShortText = Annotated[str, StringConstraints(max_length=200)]
Note = Annotated[str, StringConstraints(max_length=2000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
PositiveVersion = Annotated[int, Field(ge=1)]
