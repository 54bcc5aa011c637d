"""The directory's email stops and push removal on the real Redis: who a stop reaches,
what lifts it and what does not, and that only the subscription that failed is removed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from notifier.directory import Directory
from shared.contracts import (
    Channel,
    ChannelConsent,
    ClientPreferencesChanged,
    ContactPoints,
    PushSubscription,
    new_envelope,
)

pytestmark = pytest.mark.integration
NORTH = "northside-community-mental-health-and-wellbeing-collective"
RIVER = "riverside-behavioural-health-partnership-of-greater-manchester"
SHARED = "family.inbox@example-isp.net"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"


def prefs(clinic: str, client: str, version: int = 1, **contacts: Any) -> ClientPreferencesChanged:
    return ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=clinic,
        client_ref=client,
        version=version,
        timezone="Europe/London",
        contacts=ContactPoints(**contacts),
        consent=ChannelConsent(email=True, push=True),
    )


@pytest.fixture
def directory(redis: Redis, namespace: str) -> Directory:
    return Directory(redis, f"{namespace}:bs:notifier")


async def test_a_bounce_stops_every_owner_until_each_gets_a_new_address(
    directory: Directory,
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await directory.save_preferences(prefs(NORTH, a, email=SHARED))
    await directory.save_preferences(prefs(RIVER, b, email=SHARED.upper()))  # same mailbox
    owners = await directory.stop_address(SHARED, "bounced")
    assert {(o.clinic_id, o.client_ref) for o in owners} == {(NORTH, a), (RIVER, b)}
    assert await directory.opted_out(NORTH, a) == {Channel.EMAIL}
    assert await directory.opted_out(RIVER, b) == {Channel.EMAIL}
    assert await directory.address_stopped(SHARED) == "bounced"
    # The same address again (another field changed): still stopped.
    await directory.save_preferences(prefs(NORTH, a, 2, email=SHARED, sms="+447700900123"))
    assert await directory.opted_out(NORTH, a) == {Channel.EMAIL}
    # A new address lifts it for that client only.
    await directory.save_preferences(prefs(NORTH, a, 3, email="new.inbox@example-isp.net"))
    assert await directory.opted_out(NORTH, a) == set()
    assert await directory.opted_out(RIVER, b) == {Channel.EMAIL}
    # Whoever gives the bounced address later is stopped too, and freed by a new one.
    c = str(uuid.uuid4())
    await directory.save_preferences(prefs(NORTH, c, email=SHARED))
    assert await directory.opted_out(NORTH, c) == {Channel.EMAIL}
    await directory.save_preferences(prefs(NORTH, c, 2, email="c.own@example-isp.net"))
    assert await directory.opted_out(NORTH, c) == set()


async def test_a_clients_own_opt_out_outlives_a_bounce_and_a_new_address(
    directory: Directory,
) -> None:
    a = str(uuid.uuid4())
    await directory.save_preferences(prefs(NORTH, a, email=SHARED))
    await directory.set_opt_out(NORTH, a, Channel.EMAIL, True)  # the unsubscribe link
    await directory.stop_address(SHARED, "bounced")
    await directory.save_preferences(prefs(NORTH, a, 2, email="new.inbox@example-isp.net"))
    assert await directory.opted_out(NORTH, a) == {Channel.EMAIL}


async def test_a_complaint_is_the_persons_opt_out_and_is_never_downgraded(
    directory: Directory,
) -> None:
    a = str(uuid.uuid4())
    await directory.save_preferences(prefs(NORTH, a, email=SHARED))
    await directory.stop_address(SHARED, "complained")
    await directory.stop_address(SHARED, "bounced")  # a later bounce does not weaken it
    assert await directory.address_stopped(SHARED) == "complained"
    await directory.save_preferences(prefs(NORTH, a, 2, email="new.inbox@example-isp.net"))
    assert await directory.opted_out(NORTH, a) == {Channel.EMAIL}


async def test_only_the_subscription_that_failed_is_removed(directory: Directory) -> None:
    a = str(uuid.uuid4())
    old = PushSubscription(
        endpoint="https://fcm.googleapis.com/fcm/send/old-1", p256dh=P256DH, auth="c2VjcmV0YXV0aDE2"
    )
    new = old.model_copy(update={"endpoint": "https://fcm.googleapis.com/fcm/send/new-2"})
    await directory.save_preferences(prefs(NORTH, a, email=SHARED, push=new))
    assert not await directory.remove_push(NORTH, a, old.endpoint)  # replaced meanwhile
    assert not await directory.remove_push(RIVER, a, new.endpoint)  # no such client
    assert await directory.remove_push(NORTH, a, new.endpoint)
    kept = await directory.preferences(NORTH, a)
    assert kept is not None
    assert kept.contacts.push is None
    assert kept.contacts.email == SHARED
    assert kept.version == 1  # the EHR's next version replaces it as usual
    assert not await directory.remove_push(NORTH, a, new.endpoint)  # once
