"""The status callback URL of one message names its reminder (pure).

Twilio posts a message's status to the ``StatusCallback`` URL it was given with that
message, and signs the whole URL, query included. So the URL says which clinic, client
and reminder (and the EHR's correlation id) the status is about, and how many reminders
the message carried: for one, the webhook needs no lookup at all; for a digest, only the
send record (in the client's hash slot, ``keys.py``) that names the others.
The ids are opaque refs (letters, digits and ``. _ : -``): quoted, they stay as
they are, so no HTTP client on the way re-encodes them and breaks the signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from pydantic import TypeAdapter, ValidationError

from shared.contracts.fields import Ref

if TYPE_CHECKING:
    from notifier.providers.base import OutboundMessage

CLINIC, REMINDER, CORRELATION, CLIENT, CARRIES = "clinic", "reminder", "correlation", "client", "n"
_REF: TypeAdapter[str] = TypeAdapter(Ref)


@dataclass(frozen=True)
class CallbackRef:
    clinic_id: str
    reminder_id: str
    correlation_id: str | None = None
    # The client, whose hash slot holds the send record (a digest's other reminders);
    # None in URLs of releases before the records were kept per client.
    client_ref: str | None = None
    # How many reminders the message carried (a digest: more than one); None in URLs of
    # releases before it was named, whose callbacks look the send record up.
    carries: int | None = None


def message_ref(message: OutboundMessage) -> CallbackRef:
    """What a message's callback URL names."""
    return CallbackRef(
        message.clinic_id,
        message.reminder_id,
        message.correlation_id,
        message.client_ref,
        message.carries,
    )


def status_callback_url(base: str, ref: CallbackRef) -> str:
    params = {CLINIC: ref.clinic_id, REMINDER: ref.reminder_id}
    if ref.correlation_id and _is_ref(ref.correlation_id):  # a free-form one stays out
        params[CORRELATION] = ref.correlation_id
    if ref.client_ref and _is_ref(ref.client_ref):
        params[CLIENT] = ref.client_ref
    if ref.carries is not None:
        params[CARRIES] = str(ref.carries)
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params, quote_via=quote, safe=':')}"


def callback_ref(query: Mapping[str, str]) -> CallbackRef | None:
    """The reminder a callback URL names; None for a URL without one (a message sent by
    a release before URLs named it) or with ids that are not refs."""
    clinic, reminder = query.get(CLINIC, ""), query.get(REMINDER, "")
    if not (_is_ref(clinic) and _is_ref(reminder)):
        return None
    correlation, client, carries = query.get(CORRELATION), query.get(CLIENT, ""), query.get(CARRIES)
    return CallbackRef(
        clinic,
        reminder,
        correlation if correlation else None,
        client if _is_ref(client) else None,
        # Anything but a plain count is read as unknown: the send record answers then.
        int(carries) if carries and carries.isascii() and carries.isdigit() else None,
    )


def _is_ref(value: str) -> bool:
    try:
        _REF.validate_python(value)
    except ValidationError:
        return False
    return True
