"""Redis round trips of one SMS send, counted on the real Redis: the send loads the
client's and the clinic's slots in one pipeline and its number's flags in a second call
(the number's hash is in the client's record), reserves its lease, cap slot and rate
token (the client's and the provider's slots, re-checking the assignment) in a third,
and records the outcome (client, provider and number slots) in a fourth. On a cluster
each pipeline is one concurrent call per slot: the same four waits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis.asyncio.client import Pipeline

from notifier.callback_url import CallbackRef
from notifier.statuses import carried
from tests.notifier.conftest import Rig, reminder

pytestmark = pytest.mark.integration

MAX_ROUND_TRIPS = 4


@contextmanager
def counting(client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the commands sent one by one, and ``pipeline`` for each pipeline sent."""
    calls: list[str] = []
    command, execute = client.execute_command, Pipeline.execute

    async def one(*args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return await command(*args, **options)

    async def pipeline(self: Pipeline, raise_on_error: bool = True) -> Any:
        calls.append("pipeline")
        return await execute(self, raise_on_error)

    with monkeypatch.context() as patch:
        patch.setattr(client, "execute_command", one)
        patch.setattr(Pipeline, "execute", pipeline)
        yield calls


async def test_one_sms_send_takes_at_most_four_round_trips(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = rig.runtime.dispatcher.store.redis
    await rig.prefs()
    await rig.runtime.dispatcher.handle(reminder("cl-d", 0))  # loads the scripts
    with counting(client, monkeypatch) as calls:
        await rig.runtime.dispatcher.handle(reminder("cl-d", 1, reminder_id=str(uuid.uuid4())))
    assert len(rig.sms.sent) == 2
    assert len(calls) <= MAX_ROUND_TRIPS, calls


async def test_a_status_callback_for_one_reminder_reads_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callback URL says how many reminders its message carried: for one, the status
    goes out without a lookup; a URL without the count (an older release's) or a
    digest's looks the send record up, once."""
    clinic, client, reminder_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    redis = rig.runtime.dispatcher.store.redis
    with counting(redis, monkeypatch) as calls:
        one = await carried(rig.runtime, clinic, CallbackRef(clinic, reminder_id, None, client, 1))
    assert (one, calls) == ([reminder_id], [])
    for count in (None, 3):
        with counting(redis, monkeypatch) as calls:
            ref = CallbackRef(clinic, reminder_id, None, client, count)
            # No send record here: the named reminder alone, after one read.
            assert await carried(rig.runtime, clinic, ref) == [reminder_id]
        assert len(calls) == 1, calls
