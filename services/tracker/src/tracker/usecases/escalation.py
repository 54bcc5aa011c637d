"""Clinician alerts: misses happen by time passing, not by a message, so a periodic sweep
checks every active assignment. Each run of misses is alerted once, claimed before the
publish (released if it fails); replicas sweeping side by side share the claims."""

from __future__ import annotations

from redis.exceptions import RedisError

from shared.contracts import ClinicianAlert, ClinicPolicy
from shared.logging import get_logger
from tracker import metrics
from tracker.decide.escalation import alert
from tracker.decide.timeline import escalation_entry
from tracker.keys import scoped
from tracker.usecases.publishing import Announcing, publish_claimed

log = get_logger("tracker.escalation")


class Escalations(Announcing):
    async def sweep(self) -> int:
        """Check every active assignment; returns how many alerts this sweep sent."""
        sent = 0
        policies: dict[tuple[str, str | None], ClinicPolicy | None] = {}
        for clinic_id, assignment_id in await self.store.active_assignments():
            record, completions = await self.store.assignment_view(clinic_id, assignment_id)
            if record is None:  # expired after its retention
                await self.store.forget_active(clinic_id, assignment_id)
                continue
            which = (clinic_id, record.policy_id)
            if which not in policies:
                policies[which] = await self.store.policy(clinic_id, record.policy_id)
            found = alert(record, completions, policies[which], self.clock())
            if found is None:
                continue
            claim = ("alert", scoped(clinic_id, assignment_id), found.run_started.isoformat())
            days = self.store.retention.assignment_days
            if not await self.store.claim_once(*claim, days=days):
                continue

            async def release(claim: tuple[str, ...] = claim) -> None:
                await self.store.release(*claim)

            await publish_claimed(self.publisher, found.event, release)
            metrics.ALERTS_SENT.inc()
            await self._on_timeline(found.event)
            sent += 1
        return sent

    async def _on_timeline(self, event: ClinicianAlert) -> None:
        """The alert on the client's timeline; a failure here loses a line, not the alert."""
        now = self.clock()
        entry = escalation_entry(
            event.assignment_id, event.consecutive_missed, event.last_missed_date, now
        )
        try:
            await self.store.add_to_timeline(event.clinic_id, event.client_ref, [entry], now)
        except RedisError:
            log.warning("alert not put on the timeline", assignment_id=event.assignment_id)
