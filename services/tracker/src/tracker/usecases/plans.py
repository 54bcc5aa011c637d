"""The scheduler's plans of its clients: the latest one kept per client (newest wins, by
the time it was planned), its moved and held-back decisions put on the timeline once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.contracts import ClientPlan, utcnow
from tracker.decide.timeline import plan_change
from tracker.store import TrackerStore

ATTEMPTS = 3  # a refused commit: another replica kept a plan meanwhile


class Plans:
    def __init__(self, store: TrackerStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    async def changed(self, clinic_id: str, plan: ClientPlan) -> bool:
        """True if this plan is now the client's latest."""
        for _ in range(ATTEMPTS):
            loaded = await self.store.load_plan(clinic_id, plan.client_ref)
            change = plan_change(loaded, plan)
            if change is None:
                return False
            now = self.clock()
            if await self.store.commit_plan(clinic_id, plan.client_ref, change, now):
                return True
        return False
