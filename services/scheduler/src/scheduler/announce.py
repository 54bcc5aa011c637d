"""What re-plans tell the tracker: each client's new plan, published in batches.

``client_plan`` is pure: a plan and its cause in, the batch item out. The reminder ids
are the timers' own (``TimerMember.reminder_id``), so the tracker can match a planned
item to the ``reminder.due`` and notifications that follow it.

``Announcer`` collects the items and publishes them as ``client.plans.changed``, one
batch per clinic: a publish per re-plan cost more than the re-plan (see the event's
docstring). It keeps only the newest plan per client, and keeps a batch until its
publish succeeds, so a broker outage delays announcements but loses none while the
process lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from shared.contracts import ClientPlan, ClientPlansChanged, Event
from shared.contracts.internal import MAX_PLAN_ITEMS, MAX_PLANS_PER_BATCH
from shared.logging import get_logger
from shared.planning.ids import reminder_id
from shared.planning.model import HeldBack, Plan, PlannedReminder

log = get_logger("scheduler.announce")

FLUSH_AT = 200  # pending plans that start a round before its time
# A batch's body stays well under the consumers' default limit (256 KiB).
MAX_BATCH_BYTES = 192 * 1024
LAST_FLUSH_SECONDS = 5.0  # at shutdown: a broker that is down does not hold the stop up

Publish = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class Cause:
    """Why a client was re-planned: the causing event's type and envelope (or a fresh
    envelope for the horizon's roll, which no event causes)."""

    type: str
    clinic_id: str
    correlation_id: str
    causation_id: UUID | None = None

    @classmethod
    def of(cls, event: Event, type_: str | None = None) -> Cause:
        """The envelope ``event.caused()`` gives (same clinic and correlation)."""
        return cls(type_ or event.type_tag(), event.clinic_id, event.correlation_id, event.event_id)

    @classmethod
    def rolled(cls, client_key: str) -> Cause:
        clinic_id = client_key.split("/", 1)[0]
        return cls("horizon.rolled", clinic_id, correlation_id=str(uuid4()))


def client_plan(client_key: str, plan: Plan, cause: Cause, planned_at: datetime) -> ClientPlan:
    upcoming = plan.reminders[:MAX_PLAN_ITEMS]  # the planner returns them in time order
    held = plan.held_back[:MAX_PLAN_ITEMS]
    assert plan.horizon_end is not None  # the planner always sets it
    return ClientPlan.model_validate(
        {
            "client_ref": client_key.split("/", 1)[1],
            "cause": cause.type,
            "causation_id": cause.causation_id,
            "correlation_id": cause.correlation_id,
            "planned_at": planned_at,
            "upcoming": [_planned(r) for r in upcoming],
            "held_back": [_held(h) for h in held],
            "horizon_end": plan.horizon_end,
            "truncated": len(plan.reminders) > len(upcoming) or len(plan.held_back) > len(held),
        }
    )


# Items as dicts: the model's validator builds them in one pass, several times faster
# than a model (or model_construct) per item.
def _planned(r: PlannedReminder) -> dict[str, object]:
    return {
        "reminder_id": reminder_id(r.key, r.occurrence, r.purpose, r.slot),
        "assignment_id": r.key.split("/", 1)[1],
        "occurrence_date": r.occurrence,
        "purpose": r.purpose,
        "planned_for": r.fire_at,
        "slot": r.slot,
        "moved_from": r.moved_from,
    }


def _held(h: HeldBack) -> dict[str, object]:
    r = h.reminder
    return {
        "assignment_id": r.key.split("/", 1)[1],
        "occurrence_date": r.occurrence,
        "purpose": r.purpose,
        "would_fire_at": r.fire_at,
        "reason": h.reason,
    }


class Announcer:
    """The plans waiting to be announced, newest per client, published in rounds.

    ``add`` only records (a re-plan never waits on the broker); ``run`` publishes every
    ``every`` seconds, or as soon as ``flush_at`` are waiting, and once more when it is
    cancelled (the service cancels its loops before it stops the broker)."""

    def __init__(
        self,
        publish: Publish,
        every: float,
        *,
        flush_at: int = FLUSH_AT,
        max_plans: int = MAX_PLANS_PER_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.publish = publish
        self.every = every
        self.flush_at = flush_at
        self.max_plans = max_plans
        self.max_bytes = max_bytes
        self._pending: dict[str, ClientPlan] = {}  # by client key (clinic/client)
        self._sizes: dict[str, tuple[ClientPlan, int]] = {}  # a plan measured, its length
        self._due = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, client_key: str, plan: ClientPlan) -> None:
        """Announce ``plan`` in the next round (instead of an older one still waiting)."""
        self._pending[client_key] = plan
        if len(self._pending) >= self.flush_at:
            self._due.set()

    async def run(self) -> None:
        try:
            while True:
                await self._next_round()
                if not await self.flush():
                    await asyncio.sleep(self.every)  # retried next round, not at once
        except asyncio.CancelledError:
            await self._last_flush()
            raise

    async def flush(self) -> bool:
        """Publish everything waiting, one batch per clinic (split to fit); False if a
        publish failed (its plans stay for the next round)."""
        batches = list(self._batches())
        if not batches:
            return True
        results = await asyncio.gather(
            *(self._publish(clinic, plans) for clinic, plans in batches), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning(
                "plans not announced; retried next round",
                batches=len(failed),
                pending=len(self._pending),
                error=f"{type(failed[0]).__name__}: {failed[0]}",
            )
        return not failed

    async def _publish(self, clinic_id: str, plans: list[tuple[str, ClientPlan]]) -> None:
        event = ClientPlansChanged(clinic_id=clinic_id, plans=tuple(p for _, p in plans))
        await self.publish(event)
        for key, plan in plans:  # a newer plan that came meanwhile stays
            if self._pending.get(key) is plan:
                del self._pending[key]
                self._sizes.pop(key, None)

    def _batches(self) -> Iterator[tuple[str, list[tuple[str, ClientPlan]]]]:
        by_clinic: dict[str, list[tuple[str, ClientPlan]]] = {}
        for key, plan in self._pending.items():
            by_clinic.setdefault(key.split("/", 1)[0], []).append((key, plan))
        for clinic_id, plans in by_clinic.items():
            batch: list[tuple[str, ClientPlan]] = []
            size = 0
            for key, plan in plans:
                length = self._size(key, plan)
                if batch and (len(batch) >= self.max_plans or size + length > self.max_bytes):
                    yield clinic_id, batch
                    batch, size = [], 0
                batch.append((key, plan))
                size += length
            yield clinic_id, batch

    def _size(self, key: str, plan: ClientPlan) -> int:
        """Its JSON length, measured once (a failed round does not measure it again)."""
        measured = self._sizes.get(key)
        if measured is not None and measured[0] is plan:
            return measured[1]
        size = len(plan.model_dump_json()) + 1
        self._sizes[key] = (plan, size)
        return size

    async def _next_round(self) -> None:
        try:
            async with asyncio.timeout(self.every):
                await self._due.wait()
        except TimeoutError:
            pass
        self._due.clear()

    async def _last_flush(self) -> None:
        try:
            async with asyncio.timeout(LAST_FLUSH_SECONDS):
                await self.flush()
        except TimeoutError:
            pass
        if self._pending:
            log.warning("plans not announced at shutdown", pending=len(self._pending))
