"""The envelope every event carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.fields import Ref, UtcDatetime

SCHEMA_VERSION = 1


# Namespace of derived event ids (uuid5). Do not change: ids would stop matching.
_DERIVED = UUID("6f1c1a52-3b0e-4c38-9d1f-6a3f7d0b2c11")


def utcnow() -> datetime:
    return datetime.now(UTC)


def derived_event_id(*parts: str) -> UUID:
    """The same id every time the same fact is announced (a reminder re-fired after a
    crash, a send announced again after a redelivery), so consumers see the repeat."""
    return uuid5(_DERIVED, "|".join(parts))


class Envelope(TypedDict):
    """The envelope fields a publisher of an EHR event must choose itself."""

    event_id: UUID
    occurred_at: datetime
    correlation_id: str


def new_envelope(correlation_id: str | None = None) -> Envelope:
    """A fresh envelope for an event that starts something (a new id, now, and a new
    correlation id unless given): ``ActivityAssigned(**new_envelope(), ...)``.

    Make the event id once per fact and keep it when re-sending: deduplication is by it.
    """
    return {
        "event_id": uuid4(),
        "occurred_at": utcnow(),
        "correlation_id": correlation_id or str(uuid4()),
    }


class Model(BaseModel):
    """Frozen and forward compatible: unknown fields are ignored, not refused."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


class Event(Model):
    """Fields common to every event on every stream.

    ``type`` is the discriminator and also the routing key the event travels under.
    """

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; redeliveries keep it.")
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    occurred_at: UtcDatetime = Field(
        default_factory=utcnow, description="When it happened, time-zone-aware; stored as UTC."
    )
    clinic_id: Ref
    correlation_id: str = Field(
        default_factory=lambda: str(uuid4()),
        max_length=128,
        description="Id of the request or event that started this chain; copied to every effect.",
    )
    causation_id: UUID | None = Field(
        default=None, description="event_id of the event that directly caused this one."
    )

    @classmethod
    def type_tag(cls) -> str:
        """The ``type`` literal of this event class (also its routing key)."""
        tag = cls.model_fields["type"].default
        assert isinstance(tag, str)
        return tag

    def caused(self) -> dict[str, object]:
        """Envelope fields for an event caused by this one (same clinic and correlation)."""
        return {
            "clinic_id": self.clinic_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.event_id,
        }
