"""Assignments and clinic policies as the EHR changes them: load the record, decide its
next version (``tracker.decide.assignments``), compare-and-set it with its indexes."""

from __future__ import annotations

from collections.abc import Callable

from shared.contracts import ActivityAssigned, ActivityUpdated, ClinicPolicyChanged
from shared.errors import TransientError
from tracker.decide.assignments import Lifecycle, assigned, lifecycle
from tracker.decide.policies import EHR, changes, history_entry
from tracker.records import AssignmentRecord
from tracker.store import TrackerStore

ATTEMPTS = 5  # refused commits in a row before the message is retried

Change = Callable[[AssignmentRecord | None], AssignmentRecord | None]


class Assignments:
    def __init__(self, store: TrackerStore) -> None:
        self.store = store

    async def assigned(self, event: ActivityAssigned | ActivityUpdated) -> None:
        await self.change(event.clinic_id, event.assignment_id, lambda r: assigned(r, event))

    async def lifecycle(self, event: Lifecycle) -> None:
        await self.change(event.clinic_id, event.assignment_id, lambda r: lifecycle(r, event))

    async def policy(self, event: ClinicPolicyChanged) -> None:
        """Kept if newer, with a line in the policy's history: from the EHR (or the policy
        CLI) unless a console save wrote the version's line already. The line goes
        first: both writes are idempotent, so a retry after either fails completes both."""
        clinic_id, new = event.clinic_id, event.policy
        previous = await self.store.stored_policy(clinic_id, new.policy_id)
        if previous is None or new.version > previous.version:
            entry = history_entry(new.version, EHR, event.occurred_at, changes(previous, new))
            await self.store.add_policy_history(clinic_id, new.policy_id, entry)
        await self.store.put_policy(clinic_id, new)

    async def change(
        self, clinic_id: str, assignment_id: str, change: Change
    ) -> AssignmentRecord | None:
        """``change`` returns None to leave the record as it is. Two round trips; again
        when another replica wrote the record in between."""
        for _ in range(ATTEMPTS):
            loaded, current = await self.store.load_assignment(clinic_id, assignment_id)
            new = change(current)
            if new is None:
                return current
            if await self.store.commit_assignment(loaded, new):
                return new
        raise TransientError(f"assignment {assignment_id!r} kept changing; try again")
