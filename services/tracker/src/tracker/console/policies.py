"""The policy console: a clinic's reminder policies, their history, a preview of an
unsaved edit, and saving it as the next version.

A save publishes ``clinic.policy.changed`` to the inbound exchange, as the clinic's EHR
and the policy CLI do, so the scheduler re-plans and the notifier renders with it. Two
editors starting from the same version cannot both save: the next version is claimed
in Redis first (``TrackerStore.claim_policy_version``), and the later save is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError

from shared.contracts import ClinicPolicy, ClinicPolicyChanged, new_envelope
from shared.links import CODE_LENGTH, done_url
from shared.logging import get_logger
from tracker.auth import CurrentViewer
from tracker.console.assets import page
from tracker.decide.policies import (
    FieldError,
    SampleClient,
    changes,
    field_errors,
    history_entry,
    preview,
    saved_by,
    template_problems,
)
from tracker.runtime import Runtime
from tracker.store import TrackerStore
from tracker.usecases.publishing import Publisher

log = get_logger("tracker.console.policies")
SAMPLE_CODE = "x" * CODE_LENGTH  # as long as a real done-link code
Clinic = Annotated[str | None, Field(description="The clinic (the ops token must name it).")]


class PreviewRequest(BaseModel):
    policy: dict[str, Any] = Field(description="The policy as edited (not saved).")
    sample: dict[str, Any] = Field(
        default_factory=dict,
        description="The sample client: timezone, frequency or rrule, times_of_day, "
        "quiet_hours, activity_kind, activity_title, language.",
    )


class SaveRequest(BaseModel):
    policy: dict[str, Any] = Field(description="The edited policy; its version is set here.")
    base_version: int = Field(ge=0, description="The version the edit started from.")
    editor: str | None = Field(default=None, max_length=80, description="Who edited (shown).")


class Invalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


def invalid_response(errors: list[FieldError]) -> JSONResponse:
    count = len(errors)
    detail = f"{count} setting{'s' * (count != 1)} to fix; see the fields marked"
    return JSONResponse({"detail": detail, "errors": [e.as_dict() for e in errors]}, 422)


def parse_policy(data: dict[str, Any], policy_id: str, version: int) -> ClinicPolicy:
    """The edited policy under the contract's rules; unknown fields are refused (a
    misspelt setting must not be silently ignored, as in a policy file)."""
    try:
        return ClinicPolicy.model_validate(
            {**data, "policy_id": policy_id, "version": version}, extra="forbid"
        )
    except ValidationError as exc:
        raise Invalid(field_errors(exc)) from None


def parse_sample(data: dict[str, Any]) -> SampleClient:
    try:
        return SampleClient.model_validate(data, extra="forbid")
    except ValidationError as exc:
        raise Invalid(field_errors(exc, prefix="sample")) from None


def parse_preview(body: PreviewRequest) -> tuple[ClinicPolicy, SampleClient]:
    """Both parts checked, so every problem is listed at once."""
    errors: list[FieldError] = []
    policy_id = str(body.policy.get("policy_id") or "preview")
    policy = sample = None
    try:
        policy = parse_policy(body.policy, policy_id, 1)
    except Invalid as exc:
        errors += exc.errors
    try:
        sample = parse_sample(body.sample)
    except Invalid as exc:
        errors += exc.errors
    if policy is None or sample is None:
        raise Invalid(errors)
    return policy, sample


def policies_router(runtime: Runtime, publisher: Publisher) -> APIRouter:
    router = APIRouter(tags=["console: policies"])

    @router.get("/console/policies", include_in_schema=False)
    async def policies_page() -> HTMLResponse:
        return page("policies.html")

    @router.get("/api/console/policies")
    async def list_policies(viewer: CurrentViewer, clinic: Clinic = None) -> dict[str, Any]:
        """The clinic's policies, each at its latest version."""
        clinic_id = viewer.require_clinic(clinic)
        store = runtime.store
        rows = [await _summary(store, clinic_id, pid) for pid in await store.policy_ids(clinic_id)]
        return {"clinic": clinic_id, "policies": [r for r in rows if r is not None]}

    @router.post("/api/console/policies/preview", response_model=None)
    async def preview_policy(
        viewer: CurrentViewer, body: PreviewRequest, request: Request
    ) -> dict[str, Any] | JSONResponse:
        """What a sample client would receive over the next 7 days under this (unsaved)
        policy: the scheduler's planner and the notifier's texts, nothing sent."""
        try:
            policy, sample = parse_preview(body)
        except Invalid as exc:
            return invalid_response(exc.errors)
        link = done_url(str(request.base_url), SAMPLE_CODE)
        result = preview(policy, sample, runtime.clock(), link)
        result["warnings"] = [e.as_dict() for e in template_problems(policy.messaging.templates)]
        return result

    @router.get("/api/console/policies/{policy_id}")
    async def get_policy(
        viewer: CurrentViewer, policy_id: str, clinic: Clinic = None
    ) -> dict[str, Any]:
        """The policy as stored now, the version to edit from, and who saved each version."""
        clinic_id = viewer.require_clinic(clinic)
        store = runtime.store
        policy = await store.stored_policy(clinic_id, policy_id)
        history = await store.policy_history(clinic_id, policy_id)
        if policy is None and not history:
            raise HTTPException(404, f"clinic {clinic_id} has no policy {policy_id!r}")
        version = policy.version if policy else 0
        claimed = await store.claimed_version(clinic_id, policy_id)
        return {
            "clinic": clinic_id,
            "policy_id": policy_id,
            "policy": policy.model_dump(mode="json") if policy else None,
            "version": version,
            "latest_version": max(version, claimed),
            "history": history,
        }

    @router.post("/api/console/policies/{policy_id}", response_model=None)
    async def save_policy(
        viewer: CurrentViewer, policy_id: str, body: SaveRequest, clinic: Clinic = None
    ) -> dict[str, Any] | JSONResponse:
        """Save the edit as version ``base_version + 1`` and publish it; 409 when another
        save took that version first, 422 with a list of field problems."""
        clinic_id = viewer.require_clinic(clinic)
        try:
            policy = parse_policy(body.policy, policy_id, body.base_version + 1)
        except Invalid as exc:
            return invalid_response(exc.errors)
        return await save(
            runtime, publisher, policy, body, clinic_id=clinic_id, viewer_clinic=viewer.clinic_id
        )

    return router


async def _summary(store: TrackerStore, clinic_id: str, policy_id: str) -> dict[str, Any] | None:
    policy = await store.stored_policy(clinic_id, policy_id)
    if policy is None:
        return None
    history = await store.policy_history(clinic_id, policy_id)
    last = history[0] if history else {}
    return {
        "policy_id": policy_id,
        "version": policy.version,
        "clinic_name": policy.messaging.clinic_name,
        "channels": [c.value for c in policy.channels],
        "saved_at": last.get("at"),
        "saved_by": last.get("who"),
    }


async def save(
    runtime: Runtime,
    publisher: Publisher,
    policy: ClinicPolicy,
    body: SaveRequest,
    *,
    clinic_id: str,
    viewer_clinic: str | None,
) -> dict[str, Any]:
    """Claim the version, publish, store: the claim is given back if the publish fails."""
    store, policy_id = runtime.store, policy.policy_id
    previous = await store.stored_policy(clinic_id, policy_id)
    editor = (body.editor or "").strip() or None
    summary = changes(previous, policy)
    entry = history_entry(policy.version, saved_by(viewer_clinic), runtime.clock(), summary, editor)
    stored = previous.version if previous else 0
    taken, latest = await store.claim_policy_version(
        clinic_id, policy_id, body.base_version, entry, stored
    )
    if not taken:
        raise HTTPException(
            409,
            f"version {latest} of this policy was saved after the version {body.base_version} "
            "you edited; nothing was saved. Reload it, then make your change again.",
        )
    event = ClinicPolicyChanged(**new_envelope(), clinic_id=clinic_id, policy=policy)
    try:
        await publisher.publish(event)
    except Exception:
        await store.release_policy_version(clinic_id, policy_id, policy.version)
        log.exception("policy save not published", policy_id=policy_id)
        raise HTTPException(503, "the policy could not be published; nothing was saved") from None
    await store.put_policy(clinic_id, policy)  # at once; the event's echo is a no-op
    return {
        "clinic": clinic_id,
        "policy_id": policy_id,
        "version": policy.version,
        "event_id": str(event.event_id),
        "history_entry": entry,
    }
