"""Load a client's state, apply a change, re-plan, commit: atomically per client.

Every input event ends here. Concurrent replicas are resolved by the commit's check
on the client's revision: the loser reads again and re-applies its change. Within one
replica, changes to the same client wait for each other instead: with a prefetch of
dozens, a busy client's events would otherwise all re-plan at once and all but one lose
the revision check, round after round (measured: 972 of 4,700 events of one client
gave up and went through the retry queues).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from scheduler.announce import Cause, client_plan
from scheduler.state import ClientState, Status, note_due_timers
from scheduler.store import EventRef, TimerStore
from shared.contracts import ActivityAssigned, ClientPlan, ClinicPolicy
from shared.contracts.vocabulary import Channel
from shared.errors import TransientError
from shared.planning.ids import TimerMember
from shared.planning.model import AssignmentPlanInput, ClientContext, Plan
from shared.planning.plan import plan_client
from shared.planning.rules import effective_rule

COMMIT_ATTEMPTS = 8

CAPPED = Counter(
    "bs_scheduler_reminders_capped_total",
    "Reminder candidates not planned because of a client's caps (counted per re-plan).",
)
REPLANS = Counter("bs_scheduler_replans_total", "Client re-plans committed.")


def client_key(clinic_id: str, client_ref: str) -> str:
    return f"{clinic_id}/{client_ref}"


def policy_key(clinic_id: str, policy_id: str) -> str:
    return f"{clinic_id}/{policy_id}"


class KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


# Hands a client's committed plan (by client key) to the announcer: never waits.
Announce = Callable[[str, ClientPlan], None]


class Replanner:
    def __init__(
        self,
        store: TimerStore,
        horizon: timedelta,
        roll_after: timedelta,
        wake_within: timedelta,
        wake: asyncio.Event,
        *,
        announce: Announce,
    ) -> None:
        self.store = store
        self.horizon = horizon
        self.roll_after = roll_after
        self.wake_within = wake_within
        self.wake = wake
        self.announce = announce
        self._clients = KeyedLocks()

    async def change(
        self,
        key: str,
        mutate: Callable[[ClientState], bool],
        cause: Cause,
        *,
        uses: Mapping[str, ClinicPolicy] | None = None,
        event: EventRef | None = None,
        always_announce: bool = False,
    ) -> bool:
        """Apply ``mutate`` to the client and re-plan; False if it changed nothing. A plan
        whose timers changed (or ``always_announce``) is announced as caused by ``cause``.

        ``uses``: policies (by policy key) the change makes the client use, just read by
        the caller: the client is recorded as their user as it is loaded, and the plan
        does not read them again. ``event``: the input event, checked against those
        already handled as the state is loaded (raises ``AlreadyHandled``)."""
        async with self._clients.hold(key):
            return await self._change(
                key, mutate, cause, uses=uses or {}, event=event, always_announce=always_announce
            )

    async def _change(
        self,
        key: str,
        mutate: Callable[[ClientState], bool],
        cause: Cause,
        *,
        uses: Mapping[str, ClinicPolicy],
        event: EventRef | None,
        always_announce: bool,
    ) -> bool:
        for attempt in range(COMMIT_ATTEMPTS):
            if attempt == 0:
                state = await self.store.load_client(key, event, uses)
            else:
                state = await self.store.load_client(key)
            # The event committed last but not marked seen: the replica may have died
            # before announcing its plan, so this delivery queues the announcement again.
            again = event is not None and state.last_event == event[1]
            if not mutate(state) and not again:
                return False
            if event is not None:
                state.last_event = event[1]
            committed = await self._commit(state, uses)
            if committed is not None:
                plan, moved, at = committed
                if moved or again or always_announce:
                    self._announce(state.client_key, plan, cause, at)
                return True
        raise TransientError(f"client {key} kept changing under us; retrying later")

    async def replan(self, key: str, cause: Cause, always_announce: bool = False) -> bool:
        return await self.change(key, lambda _: True, cause, always_announce=always_announce)

    def _announce(self, client_key: str, plan: Plan, cause: Cause, at: datetime) -> None:
        self.announce(client_key, client_plan(client_key, plan, cause, at))

    async def _commit(
        self, state: ClientState, uses: Mapping[str, ClinicPolicy]
    ) -> tuple[Plan, bool, datetime] | None:
        """The plan committed, whether its timers differ from those still pending before
        and the time it was planned at (later than any plan committed before it); None if
        the client changed meanwhile."""
        now = datetime.now(UTC)
        before = _pending(state.timers, now)
        note_due_timers(state, now)
        inputs, channels, fire = await self._inputs(state, uses)
        plan = Plan(reminders=(), horizon_end=now + self.horizon)
        if inputs and state.reachable(channels):
            prefs = state.prefs
            context = ClientContext(
                client_key=state.client_key,
                timezone=prefs.timezone if prefs else None,
                quiet_hours=prefs.quiet_hours if prefs else None,
            )
            plan = plan_client(context, inputs, now, self.horizon, sent=state.sent_at())
            CAPPED.inc(plan.capped)
        members = [TimerMember.of(r) for r in plan.reminders]
        timers = [(m.encode(), m.score) for m in members]
        if not await self.store.commit(state, timers, fire, now + self.roll_after):
            return None
        REPLANS.inc()
        if timers and min(s for _, s in timers) < (now + self.wake_within).timestamp() * 1000:
            self.wake.set()
            await self.store.wake_others()
        return plan, {m for m, _ in timers} != before, now

    async def _inputs(
        self, state: ClientState, uses: Mapping[str, ClinicPolicy]
    ) -> tuple[list[AssignmentPlanInput], set[Channel], dict[str, str]]:
        inputs: list[AssignmentPlanInput] = []
        channels: set[Channel] = set()
        fire: dict[str, str] = {}
        policies: dict[str, ClinicPolicy | None] = dict(uses)
        for key, rec in sorted(state.assignments.items()):
            a = rec.assignment
            if a is None or rec.status is Status.CANCELLED:
                continue
            pkey = policy_key(a.clinic_id, a.policy_id)
            if pkey not in policies:
                policies[pkey] = await self.store.policy(pkey)
            policy = policies[pkey]
            if policy is None:
                continue  # the handler refuses these; a stored one waits for its policy
            fire[key] = fire_info(a.client_ref, rec.version, a, policy.policy_id, rec.trace)
            channels |= set(effective_rule(a, policy, None).channels)
            inputs.append(
                AssignmentPlanInput(
                    key=key,
                    assignment=a,
                    policy=policy,
                    done=frozenset(rec.done),
                    paused=rec.status is Status.PAUSED,
                    paused_until=rec.paused_until,
                )
            )
        return inputs, channels, fire


def _pending(members: list[str], now: datetime) -> set[str]:
    """The stored timers still to fire (a member ends ``|<epoch ms>``)."""
    now_ms = now.timestamp() * 1000
    return {m for m in members if int(m.rsplit("|", 1)[1]) >= now_ms}


def fire_info(
    client_ref: str,
    version: int,
    a: ActivityAssigned,
    policy_id: str,
    trace: str | None = None,
) -> str:
    """What a reminder.due needs beyond the timer member, kept once per assignment."""
    info = {
        "c": client_ref,
        "v": version,
        "k": a.activity.kind.value,
        "t": a.activity.title,
        "p": policy_id,
        "r": a.correlation_id,
    }
    if trace:  # only with tracing on: the firing loop publishes inside this trace
        info["tp"] = trace
    return json.dumps(info)
