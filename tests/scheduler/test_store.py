"""The timer store's compact client state: packed timer lists and records without their
Nones read back the same, and a re-plan on the real Redis removes exactly the old timers
that left the plan, whichever layout the old list was stored in."""

from __future__ import annotations

import asyncio
import types
import typing
from datetime import UTC, date, datetime, timedelta
from typing import cast

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from scheduler.keys import Keys
from scheduler.replan import KeyedLocks
from scheduler.state import AssignmentRecord, ClientState, Status, note_due_timers
from scheduler.store import TimerStore
from shared.contracts import QuietHours, RuleOverride
from shared.contracts.vocabulary import ReminderPurpose
from shared.planning.ids import TimerMember, pack_members, unpack_members
from tests.scheduler.support import assignment_at

MEMBERS = [
    "c1/asg-1|20261201|r|0900|1796115600000",
    "c1/asg-1|20261202|n|N2000|1796241600000",
    "c1/asg-2|20261201|l|L1-1800|1796148000000",
]


def test_packing_keeps_every_member_and_writes_each_key_once() -> None:
    packed = pack_members(MEMBERS)
    assert unpack_members(packed) == MEMBERS
    assert packed.count("c1/asg-1") == 1
    assert len(packed) == len("\n".join(MEMBERS)) - len("c1/asg-1|")
    assert unpack_members(pack_members([])) == []


def test_the_older_one_member_per_line_layout_still_reads() -> None:
    assert unpack_members("\n".join(MEMBERS) + "\n") == MEMBERS


def _optional_fields_default_to_none(model: type[BaseModel], seen: set[type]) -> list[str]:
    """Fields that allow None but default to something else (exclude_none would lose a
    None there), in ``model`` and every model inside it."""
    wrong: list[str] = []
    seen.add(model)
    for name, info in model.model_fields.items():
        args = typing.get_args(info.annotation)
        if types.NoneType in args and not info.is_required() and info.default is not None:
            wrong.append(f"{model.__name__}.{name}")
        for arg in (info.annotation, *args):
            inner = typing.get_args(arg) or (arg,)
            for cls in inner:
                if isinstance(cls, type) and issubclass(cls, BaseModel) and cls not in seen:
                    wrong += _optional_fields_default_to_none(cls, seen)
    return wrong


def test_a_record_without_its_nones_reads_back_the_same() -> None:
    assert _optional_fields_default_to_none(AssignmentRecord, set()) == []
    plain = AssignmentRecord(version=2, assignment=assignment_at(1, datetime.now(UTC)))
    full = plain.model_copy(
        update={
            "status": Status.PAUSED,
            "paused_until": date(2026, 12, 24),
            "done": [date(2026, 12, 1)],
            "assignment": plain.assignment.model_copy(  # type: ignore[union-attr]
                update={"overrides": RuleOverride(quiet_hours=QuietHours(), spread_minutes=0)}
            ),
        }
    )
    for record in (plain, full, AssignmentRecord(status=Status.CANCELLED)):
        compact = record.model_dump_json(exclude_none=True)
        assert AssignmentRecord.model_validate_json(compact) == record


def member(day: int, at: datetime, key: str = "c1/asg-1") -> tuple[str, int]:
    m = TimerMember(key, date(2026, 12, day), ReminderPurpose.REMINDER, "0900", at)
    return m.encode(), m.score


@pytest.mark.integration
@pytest.mark.parametrize("legacy", [False, True])
async def test_a_replan_removes_the_timers_that_left_the_plan(
    redis: Redis, namespace: str, legacy: bool
) -> None:
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 2))
    soon = datetime.now(UTC) + timedelta(hours=1)
    a, b, c = member(1, soon), member(2, soon), member(3, soon, "c1/asg-2")
    roll = datetime.now(UTC) + timedelta(days=1)
    assert await store.commit(ClientState(client_key="c1/cl-1"), [a, b], {}, roll)
    shard = store.keys.shard(store.keys.shard_of("c1/cl-1"))
    if legacy:  # as an older version stored it: one whole member per line
        await redis.hset(shard.client("c1/cl-1"), "timers", f"{a[0]}\n{b[0]}")
    state = await store.load_client("c1/cl-1")
    assert state.timers == [a[0], b[0]]
    await redis.zadd(shard.due, {b[0]: 42}, xx=True)  # b is claimed (leased) right now
    assert await store.commit(state, [b, c], {}, roll)
    due = dict(
        cast(list[tuple[bytes, float]], await redis.zrange(shard.due, 0, -1, withscores=True))
    )
    assert due == {b[0].encode(): 42, c[0].encode(): c[1]}  # a gone, b keeps its lease
    assert (await store.load_client("c1/cl-1")).timers == [b[0], c[0]]
    assert not await store.commit(state, [c], {}, roll)  # a stale revision changes nothing


def test_timers_that_came_due_are_kept_as_sent_for_eight_days() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    past, later = member(1, now - timedelta(minutes=5)), member(2, now + timedelta(minutes=5))
    state = ClientState(client_key="c1/cl-1", timers=[past[0], later[0]])
    state.sent = [int((now - timedelta(days=9)).timestamp()), int(now.timestamp()) - 86_400]
    note_due_timers(state, now)
    assert state.sent_at() == (now - timedelta(days=1), now - timedelta(minutes=5))
    assert state.timers == [past[0], later[0]]  # the commit's ``remove`` still needs them


@pytest.mark.integration
async def test_what_was_sent_reads_back_and_an_empty_record_is_removed(
    redis: Redis, namespace: str
) -> None:
    store = TimerStore(redis, Keys(f"{namespace}:bs:scheduler", 2))
    roll = datetime.now(UTC) + timedelta(days=1)
    state = ClientState(client_key="c1/cl-1", sent=[1_796_115_600, 1_796_119_200])
    assert await store.commit(state, [], {}, roll)
    state = await store.load_client("c1/cl-1")
    assert state.sent == [1_796_115_600, 1_796_119_200]
    state.sent = []
    assert await store.commit(state, [], {}, roll)
    shard = store.keys.shard(store.keys.shard_of("c1/cl-1"))
    assert not await redis.hexists(shard.client("c1/cl-1"), "sent")


async def test_changes_to_one_client_wait_for_each_other_and_locks_are_released() -> None:
    locks = KeyedLocks()
    inside: list[str] = []

    async def change(key: str, tag: str) -> None:
        async with locks.hold(key):
            inside.append(f"{tag}+")
            await asyncio.sleep(0.01)
            inside.append(f"{tag}-")

    await asyncio.gather(change("a", "1"), change("a", "2"), change("b", "3"))
    a_only = [step for step in inside if step[0] in "12"]
    assert a_only in (["1+", "1-", "2+", "2-"], ["2+", "2-", "1+", "1-"])
    assert len(locks) == 0
