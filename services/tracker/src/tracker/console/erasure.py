"""The console's erase action (operations only): erase a client of a clinic, as the
clinic's EHR would with ``client.erased``.

The action publishes that very event to the inbound exchange (the console's connection
user may speak for any clinic, see ``shared.tenancy``), so the three services erase the
client exactly as for the EHR's request, and the EHR hears ``client.erasure.completed``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from shared.contracts import ClientErased, new_envelope
from shared.logging import get_logger
from tracker.auth import CurrentViewer
from tracker.console.timeline import NOT_ALLOWED, ClientRef, Clinic
from tracker.usecases.publishing import Publisher

log = get_logger("tracker.console.erasure")


def erasure_router(publisher: Publisher) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/api/console/clients/{client_ref}/erase",
        tags=["console"],
        summary="Erase everything the services hold about a client (operations only)",
        response_description="The client.erased event published: each service deletes the "
        "client's data, then the EHR gets client.erasure.completed with the counts.",
        status_code=202,
        responses={**NOT_ALLOWED, 503: {"description": "The event could not be published."}},
    )
    async def erase(viewer: CurrentViewer, client_ref: ClientRef, clinic: Clinic = None) -> Any:
        viewer.require_ops()
        clinic_id = viewer.require_clinic(clinic)
        event = ClientErased(**new_envelope(), clinic_id=clinic_id, client_ref=client_ref)
        try:
            await publisher.publish(event)
        except Exception:
            log.exception("erasure not published")
            raise HTTPException(503, "the erasure could not be published; try again") from None
        log.info("client erasure requested from the console", event_id=str(event.event_id))
        return {"clinic": clinic_id, "client_ref": client_ref, "event_id": str(event.event_id)}

    return router
