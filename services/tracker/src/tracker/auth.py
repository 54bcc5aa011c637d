"""Who may see what on the dashboard: the ops token sees every clinic, a clinic token one."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException

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
