"""Which clinics each EHR tenant may publish for, and the check of a delivered event.

Each tenant connects with its own RabbitMQ user and sets the ``user_id`` message property
to it; RabbitMQ refuses a message whose ``user_id`` is not the connection's user, so on a
delivered message it names the publisher. ``tenants`` maps those users to the clinic ids
they may speak for (``*``: any clinic, for our own console). An empty mapping turns the
check off (development and most tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shared.errors import PermanentError
from shared.topology import Exchange, Topology

ANY_CLINIC = "*"
Tenants = Mapping[str, frozenset[str]]

# RabbitMQ accepts almost any user name; these are the ones a variable can carry unambiguously.
_USER = re.compile(r"^[A-Za-z0-9._@:-]{1,128}$")
_CLINIC = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # the contracts' ``Ref``


class TenantRefusedError(PermanentError):
    """The publisher may not speak for the event's clinic: dead-lettered with the reason."""


def parse_tenants(text: str) -> dict[str, frozenset[str]]:
    """``user=clinic-a,clinic-b;other=clinic-c;console=*`` into a mapping.

    Raises ``ValueError`` saying which entry is wrong. Blank entries are ignored, so an
    empty or blank text gives an empty mapping (not enforced)."""
    tenants: dict[str, frozenset[str]] = {}
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        user, sep, clinics_text = (s.strip() for s in entry.partition("="))
        if not sep:
            raise ValueError(f"entry {entry!r} is not 'user=clinic,clinic'")
        if user in tenants:
            raise ValueError(f"user {user!r} is listed twice")
        tenants[user] = _clinics(user, [c.strip() for c in clinics_text.split(",")])
    return tenants


def normalise_tenants(value: Mapping[str, str | Iterable[str]]) -> dict[str, frozenset[str]]:
    """A mapping given in code (user -> clinic ids, or one comma-separated text), checked."""
    tenants: dict[str, frozenset[str]] = {}
    for user, clinics in value.items():
        items = clinics.split(",") if isinstance(clinics, str) else clinics
        tenants[user] = _clinics(user, [str(c).strip() for c in items])
    return tenants


def _clinics(user: str, clinics: list[str]) -> frozenset[str]:
    if not _USER.match(user):
        raise ValueError(f"user {user!r} is not a RabbitMQ user name (letters, digits, ._@:-)")
    if not clinics or any(not c for c in clinics):
        raise ValueError(f"user {user!r} has an empty clinic id")
    if ANY_CLINIC in clinics and len(clinics) > 1:
        raise ValueError(f"user {user!r}: '*' (any clinic) stands alone")
    for clinic in clinics:
        if clinic != ANY_CLINIC and not _CLINIC.match(clinic):
            raise ValueError(f"user {user!r}: {clinic!r} is not a clinic id")
    return frozenset(clinics)


def refusal(user_id: str | None, clinic_id: str, tenants: Tenants) -> str | None:
    """Why a publisher may not send an event for ``clinic_id``, or None if it may."""
    if not user_id:
        return "message has no user_id: set the user_id property to your RabbitMQ user name"
    allowed = tenants.get(user_id)
    if allowed is None:
        return f"publisher {user_id!r} is not a configured tenant"
    if ANY_CLINIC in allowed or clinic_id in allowed:
        return None
    return f"publisher {user_id!r} may not speak for clinic {clinic_id!r}"


@dataclass(frozen=True)
class TenantCheck:
    """What the consumer needs: the tenants and the exchange whose messages are checked.

    Messages arriving from any other exchange (a retry back through the requeue exchange,
    an internal event) were either checked on their first delivery or come from our own
    services, which tenants' permissions keep them from writing to."""

    tenants: Tenants
    inbound_exchange: str

    def check(self, exchange: str | None, user_id: str | None, clinic_id: str | None) -> None:
        if exchange != self.inbound_exchange or clinic_id is None:
            return
        if reason := refusal(user_id, clinic_id, self.tenants):
            raise TenantRefusedError(reason)


def tenant_check(tenants: Tenants, topology: Topology) -> TenantCheck | None:
    """The check for a service's consumers, or None when no tenants are configured."""
    if not tenants:
        return None
    return TenantCheck(tenants, topology.exchange(Exchange.INBOUND))


def connection_user(amqp_url: str) -> str:
    """The user an AMQP URL logs in as (aio-pika's default ``guest`` when it names none)."""
    return unquote(urlsplit(amqp_url).username or "guest")
