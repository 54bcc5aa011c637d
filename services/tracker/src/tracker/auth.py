"""Who may see what on the dashboard and the console: the ops token sees every clinic, a
clinic token one. Routes take ``CurrentViewer`` (declared in the OpenAPI document as the
bearer security scheme) and check the clinic they serve with ``Viewer.clinic_scope`` or
``Viewer.require_clinic``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tracker.settings import TrackerSettings


@dataclass(frozen=True)
class Viewer:
    clinic_id: str | None  # None: operations, every clinic

    @property
    def is_ops(self) -> bool:
        return self.clinic_id is None

    def clinic_scope(self, requested: str | None) -> str | None:
        """The clinic to show (None = all); refuses another clinic's data with 403."""
        if self.is_ops:
            return requested or None
        if requested and requested != self.clinic_id:
            raise HTTPException(403, "this token may only see its own clinic")
        return self.clinic_id

    def require_clinic(self, requested: str | None) -> str:
        """One clinic's page or record: a clinic token's own (another's is 403); the ops
        token must name it (422)."""
        scope = self.clinic_scope(requested)
        if scope is None:
            raise HTTPException(422, "name the clinic (query parameter clinic)")
        return scope

    def require_ops(self) -> None:
        if not self.is_ops:
            raise HTTPException(403, "only the operations token may do this")


def viewer_for(settings: TrackerSettings, authorization: str | None) -> Viewer:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    token = token.strip()
    if hmac.compare_digest(token.encode(), settings.ops_token.get_secret_value().encode()):
        return Viewer(None)
    for candidate, clinic_id in settings.clinic_tokens.items():
        if hmac.compare_digest(token.encode(), candidate.encode()):
            return Viewer(clinic_id)
    raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False, description="The ops token or a clinic's token.")


def current_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer:
    header = f"Bearer {credentials.credentials}" if credentials else None
    return viewer_for(request.app.state.runtime.settings, header)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
