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
from pydantic import (
    AfterValidator,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    WithJsonSchema,
)

_E164_PATTERN = r"^\+[1-9]\d{6,14}$"
_E164 = re.compile(_E164_PATTERN)
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


# The published JSON Schemas state each rule as far as JSON Schema can (a pattern, a
# format, else a description), so an integrator's own validator catches most mistakes
# before a message is sent; the validators above stay the authority (a real tz database
# lookup, a real RRULE parse). Each pattern accepts everything its validator accepts.
_TZ_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "maxLength": 64,
        "pattern": r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$",
        "description": "IANA time zone name from the tz database, e.g. 'Europe/Berlin' or "
        "'America/New_York' (not a UTC offset such as '+01:00'); unknown names are refused.",
        "examples": ["Europe/Berlin"],
    }
)
_E164_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": _E164_PATTERN,
        "description": "Phone number in E.164 form: '+', then the country code and number, "
        "7 to 15 digits in all, no spaces or punctuation.",
        "examples": ["+15005550006"],
    }
)
_RRULE_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "maxLength": 1000,
        "pattern": r"^\s*(RRULE:)?[A-Za-z]+=[^;]+(;[A-Za-z]+=[^;]+)*\s*$",
        "description": "RFC 5545 recurrence rule (the RRULE value, optionally prefixed "
        "'RRULE:'), e.g. 'FREQ=WEEKLY;BYDAY=MO,WE,FR'. It must not contain DTSTART: the "
        "schedule's start is used. It must parse and yield at least one occurrence.",
        "examples": ["FREQ=WEEKLY;BYDAY=MO,WE,FR"],
    }
)
_LOCAL_TIME_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?$",
        "description": "Local time of day in the client's time zone, 'HH:MM' or 'HH:MM:SS', "
        "without an offset.",
        "examples": ["09:00"],
    }
)

UtcDatetime = Annotated[datetime, AfterValidator(_require_aware)]
"""A time-zone-aware instant, normalised to UTC. Naive datetimes are refused."""

TimeZoneName = Annotated[
    str, StringConstraints(max_length=64), AfterValidator(_check_timezone), _TZ_SCHEMA
]
PhoneE164 = Annotated[str, AfterValidator(_check_e164), _E164_SCHEMA]
Email = EmailStr
RRule = Annotated[
    str, StringConstraints(max_length=1000), AfterValidator(_check_rrule), _RRULE_SCHEMA
]
LocalTime = Annotated[
    time, BeforeValidator(_parse_hhmm), AfterValidator(_naive_time), _LOCAL_TIME_SCHEMA
]
Ref = Annotated[str, StringConstraints(pattern=_REF)]
"""An opaque identifier: letters, digits and . _ : - only (never a name or contact point)."""
ShortText = Annotated[str, StringConstraints(max_length=200)]
Note = Annotated[str, StringConstraints(max_length=2000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
PositiveVersion = Annotated[int, Field(ge=1)]
