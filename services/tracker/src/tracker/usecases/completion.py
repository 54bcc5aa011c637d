"""Completions (EHR, SMS reply, done link): recorded once per occurrence, announced once,
followed by an encouragement when the clinic's policy asks for one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker import metrics
from tracker.decide.completion import CompletionInput, decide, may_encourage
from tracker.decide.timeline import completion_entry
from tracker.usecases.publishing import Announcing, publish_claimed


class Completions(Announcing):
    async def record(self, c: CompletionInput, caused: Mapping[str, Any]) -> bool:
        """Record once per occurrence and announce it; True if this call recorded it."""
        now = self.clock()
        record = policy = None
        if may_encourage(c, now):  # only then is the assignment and its policy read
            record = await self.store.assignment(c.clinic_id, c.assignment_id)
            if record is not None and record.policy_id is not None:
                policy = await self.store.policy(c.clinic_id, record.policy_id)
        plan = decide(c, caused, record, policy, now)
        store, day = self.store, c.occurrence_date
        entry = completion_entry(
            c.assignment_id, day, c.source.value, c.completed_at, c.reminder_id
        )
        added, claimed, encourage = await store.commit_completion(
            c.clinic_id,
            c.assignment_id,
            day,
            plan.data,
            plan.encouragement is not None,
            client_ref=c.client_ref,
            entry=entry,
            now=now,
        )
        counter = metrics.COMPLETIONS_RECORDED if added else metrics.COMPLETIONS_DUPLICATE
        counter.labels(c.source.value).inc()

        async def release_both() -> None:
            await store.release_completion(c.clinic_id, c.assignment_id, day)
            if encourage:
                await store.release_encouragement(c.clinic_id, c.assignment_id, day)

        async def release_encouragement() -> None:
            await store.release_encouragement(c.clinic_id, c.assignment_id, day)

        if claimed:
            await publish_claimed(self.publisher, plan.recorded, release_both)
        # Not only after a fresh completion claim: a retry after the encouragement's
        # publish failed finds the completion claimed and must still encourage.
        if encourage and plan.encouragement is not None:
            await publish_claimed(self.publisher, plan.encouragement, release_encouragement)
        return added
