"""What every service needs to erase a client (``client.erased``): its report to the
tracker, and SCAN patterns that match a tenant's refs literally.

Each service deletes what it holds about the client in one atomic script per slot group,
then reports its counts per kind of data; the tracker answers the EHR once all three
services reported (``client.erasure.completed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from shared.contracts import ClientErased, ClientErasureReported

ServiceName = Literal["scheduler", "notifier", "tracker"]
SERVICES: tuple[ServiceName, ...] = ("scheduler", "notifier", "tracker")


def erasure_report(
    event: ClientErased, service: ServiceName, counts: Mapping[str, int]
) -> ClientErasureReported:
    """The report of one service's erasure. Its id is new each time: a repeat (which
    deletes nothing more) reports again, with zero counts."""
    return ClientErasureReported(
        clinic_id=event.clinic_id,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        erasure_event_id=event.event_id,
        client_ref=event.client_ref,
        service=service,
        counts=dict(counts),
    )


def glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis SCAN/KEYS pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
