"""Contact keys get a bounded lifetime, refreshed by what happens to the client (real
Redis)."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from notifier.directory import Directory
from notifier.keys import number_hash
from notifier.retention import CONTACT_TTL_SECONDS, ContactRetention
from shared.contracts import (
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    new_envelope,
)

pytestmark = pytest.mark.integration

CLINIC = "clinic-westbrook-cognitive-behavioural-therapy-service-71aa"
PHONE = "+15551239876"


async def test_a_touch_bounds_the_clients_contact_keys(redis: Redis, namespace: str) -> None:
    directory = Directory(redis, f"{namespace}:bs:notifier")
    client = str(uuid.uuid4())
    prefs = ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=client,
        version=1,
        timezone="Europe/Lisbon",
        contacts=ContactPoints(sms=PHONE),
        consent=ChannelConsent(sms=True),
    )
    assert await directory.save_preferences(prefs)
    await directory.set_opt_out(CLINIC, client, Channel.EMAIL, True)
    keys = directory.keys
    seen = keys.seen_hashed(CLINIC, number_hash(PHONE))
    await redis.set(seen, "1")
    named = [
        keys.client(CLINIC, client),
        keys.optout(CLINIC, client),
        keys.number("owners", PHONE),
        seen,
    ]
    assert [await redis.ttl(k) for k in named] == [-1, -1, -1, -1]  # no lifetime before

    retention = ContactRetention()
    await retention.touch_daily(redis, keys, CLINIC, client)
    ttls = [await redis.ttl(k) for k in named]
    assert all(CONTACT_TTL_SECONDS - 60 < t <= CONTACT_TTL_SECONDS for t in ttls), ttls

    await redis.persist(keys.client(CLINIC, client))
    await retention.touch_daily(redis, keys, CLINIC, client)  # once a day is enough
    assert await redis.ttl(keys.client(CLINIC, client)) == -1
    await retention.touch(redis, keys, CLINIC, client)
    assert await redis.ttl(keys.client(CLINIC, client)) > 0


async def test_a_touch_never_creates_keys_of_an_unknown_client(
    redis: Redis, namespace: str
) -> None:
    directory = Directory(redis, f"{namespace}:bs:notifier")
    await ContactRetention().touch(redis, directory.keys, CLINIC, str(uuid.uuid4()))
    assert [k async for k in redis.scan_iter(match=f"{namespace}:*")] == []
