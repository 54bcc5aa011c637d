"""``python -m notifier.migrate`` on the real Redis: keys written in the layout of the
release before hash tags are found again in the tagged layout, once."""

from __future__ import annotations

import json
import uuid

import pytest
from redis.asyncio import Redis

from notifier.assignment_store import AssignmentStore
from notifier.directory import Directory, address_hash
from notifier.keys import Keys, number_hash
from notifier.migrate import Migration
from shared.contracts import (
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    new_envelope,
)
from shared.contracts.examples import example_policy

pytestmark = pytest.mark.integration

CLINIC = "northside-community-counselling-and-wellbeing-centre"
PHONE = "+15551230987"
EMAIL = "river.client@example.org"


async def test_the_previous_layout_moves_to_the_tagged_one_and_twice_is_harmless(
    redis: Redis, namespace: str
) -> None:
    prefix = f"{namespace}:bs:notifier"
    keys, client, assignment = Keys(prefix), str(uuid.uuid4()), str(uuid.uuid4())
    prefs = ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=client,
        version=3,
        timezone="America/Chicago",
        contacts=ContactPoints(sms=PHONE, email=EMAIL),
        consent=ChannelConsent(sms=True, email=True),
    )
    policy = example_policy()
    number, address = number_hash(PHONE), address_hash(EMAIL)
    # As the previous release wrote them (its record kept no number hash).
    await redis.hset(f"{prefix}:client:{CLINIC}:{client}", "version", 3)
    await redis.hset(f"{prefix}:client:{CLINIC}:{client}", "data", prefs.model_dump_json())
    await redis.expire(f"{prefix}:client:{CLINIC}:{client}", 86_400)
    await redis.sadd(f"{prefix}:optout:{CLINIC}:{client}", "email")
    await redis.sadd(f"{prefix}:assignments-of:{CLINIC}:{client}", assignment)
    state = {"version": 2, "status": "cancelled"}
    await redis.hset(f"{prefix}:assignment:{CLINIC}/{assignment}", "rev", 4)
    await redis.hset(f"{prefix}:assignment:{CLINIC}/{assignment}", "data", json.dumps(state))
    await redis.hset(f"{prefix}:policy:{CLINIC}:{policy.policy_id}", "version", policy.version)
    await redis.hset(
        f"{prefix}:policy:{CLINIC}:{policy.policy_id}", "data", policy.model_dump_json()
    )
    await redis.set(f"{prefix}:policy-latest:{CLINIC}", policy.policy_id)
    caps = f"{{{prefix}:caps:{CLINIC}/{client}}}"
    await redis.sadd(f"{caps}:d:2026-12-03", "rem-1")
    await redis.set(f"{caps}:held:rem-1", json.dumps([f"{caps}:d:2026-12-03", f"{caps}:w:x"]))
    await redis.set(f"{prefix}:number:stop:{number}", "1")
    await redis.set(f"{prefix}:number:seen:{CLINIC}:{number}", "1")
    owner = json.dumps({"clinic_id": CLINIC, "client_ref": client}, sort_keys=True)
    await redis.sadd(f"{prefix}:number:owners:{number}", owner)
    await redis.set(f"{prefix}:email:stop:{address}", "bounced")

    moved = await Migration(redis, keys).run()
    assert moved["clients"] == moved["opt_outs"] == moved["assignments"] == 1
    assert (moved["policies"], moved["caps"], moved["number_keys"]) == (1, 2, 3)

    directory = Directory(redis, prefix)
    assert await directory.preferences(CLINIC, client) == prefs
    assert await redis.hget(keys.client(CLINIC, client), "sms") == number.encode()
    assert 0 < await redis.ttl(keys.client(CLINIC, client)) <= 86_400  # its TTL kept
    assert await directory.opted_out(CLINIC, client) == {Channel.EMAIL}
    assert await directory.policy(CLINIC, policy.policy_id) == policy
    assert await directory.policy(CLINIC, "an-unknown-policy") == policy  # the latest
    found = await AssignmentStore(redis, prefix).state(CLINIC, client, assignment)
    assert found is not None
    assert await redis.hget(keys.assignment(CLINIC, client, assignment), "rev") == b"4"
    held = json.loads(await redis.get(f"{keys.caps(CLINIC, client)}:held:rem-1") or "[]")
    assert held == [f"{keys.caps(CLINIC, client)}:d:2026-12-03", f"{keys.caps(CLINIC, client)}:w:x"]
    assert await directory.number_stopped(PHONE)
    assert await redis.exists(keys.seen(CLINIC, PHONE))
    assert [o.client_ref for o in await directory.number_owners(PHONE)] == [client]
    assert await directory.address_stopped(EMAIL) == "bounced"
    untagged = [k async for k in redis.scan_iter(match=f"{prefix}:*") if b"{" not in k]
    assert untagged == []
    assert [k async for k in redis.scan_iter(match=f"{{{prefix}:*")] == []

    assert await Migration(redis, keys).run() == {}  # nothing left to move
