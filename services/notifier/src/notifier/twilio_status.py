"""Twilio message statuses as our DeliveryStatus (pure)."""

from __future__ import annotations

from shared.contracts import DeliveryStatus

_STATUSES: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
OPTED_OUT_CODE = "21610"


def map_status(status: str, error_code: str | None) -> DeliveryStatus | None:
    """None for statuses that say nothing about our message (e.g. inbound ``received``)."""
    if error_code == OPTED_OUT_CODE:
        return DeliveryStatus.OPTED_OUT
    return _STATUSES.get(status.strip().lower())
