"""Drill: the first SMS provider answers 503 for a while as reminders fall due.

Twilio (the notifier's first SMS provider) answers 503 from two seconds before a few
hundred reminders are due until ``BS_DRILL_FAILOVER_OUTAGE_SECONDS`` later. Each send
that meets the outage (a 503, then Twilio's open circuit) goes through Vonage in the
same handling, not through the retry tiers: every reminder is delivered within seconds,
none twice across the two providers, none dead-lettered. A second batch, due once the
outage is over and Twilio's circuit has closed, goes through Twilio again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.topology import NOTIFIER_REMINDERS_QUEUE
from tests.drills.reports import report as report_counts
from tests.drills.test_provider_outage import retry_reasons, sleep_until
from tests.drills.traffic import (
    Ehr,
    assign,
    drill_topology,
    fake_twilio,
    log_lines,
    notifier_env,
    onboard,
    phone,
    queue_depth,
)
from tests.fakes.twilio_api import FakeTwilio
from tests.fakes.vonage_api import FakeVonage
from tests.scheduler.support import soon
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.system import running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("others"),
]

COUNT = int(os.environ.get("BS_DRILL_FAILOVER_COUNT", "300"))
AFTER_COUNT = int(os.environ.get("BS_DRILL_FAILOVER_AFTER_COUNT", "50"))
OUTAGE_SECONDS = float(os.environ.get("BS_DRILL_FAILOVER_OUTAGE_SECONDS", "60"))
CIRCUIT_OPEN_SECONDS = 10
# "Within seconds": every reminder of the outage delivered this long after it was due.
DELIVERED_WITHIN_SECONDS = 30.0


@contextlib.asynccontextmanager
async def fake_vonage() -> AsyncIterator[FakeVonage]:
    vonage = FakeVonage()
    await vonage.start()
    try:
        yield vonage
    finally:
        await vonage.stop()


def notifier(twilio: FakeTwilio, vonage: FakeVonage) -> dict[str, dict[str, str]]:
    env = notifier_env(
        twilio,
        NOTIFIER_SMS_FAILOVER_PROVIDERS="vonage",
        NOTIFIER_VONAGE_BASE_URL=vonage.base_url,
        NOTIFIER_VONAGE_API_KEY=vonage.api_key,
        NOTIFIER_VONAGE_API_SECRET=vonage.api_secret,
        NOTIFIER_VONAGE_SIGNATURE_SECRET=vonage.signature_secret,
        NOTIFIER_CIRCUIT_OPEN_SECONDS=str(CIRCUIT_OPEN_SECONDS),
    )
    return {"notifier": env}


def per_number(twilio: FakeTwilio, vonage: FakeVonage) -> tuple[Counter[str], Counter[str]]:
    """Messages per recipient at each provider (one reminder per client, so per reminder)."""
    return Counter(m.to for m in twilio.messages), Counter(f"+{m.to}" for m in vonage.messages)


def delivered(twilio: FakeTwilio, vonage: FakeVonage, clients: range) -> int:
    at_twilio, at_vonage = per_number(twilio, vonage)
    return len({phone(n) for n in clients} & (at_twilio.keys() | at_vonage.keys()))


def counts(twilio: FakeTwilio, vonage: FakeVonage, outage: range, after: range) -> dict[str, int]:
    at_twilio, at_vonage = per_number(twilio, vonage)
    both = at_twilio + at_vonage
    expected = {phone(n) for n in (*outage, *after)}
    return {
        "outage_via_vonage": sum(1 for n in outage if phone(n) in at_vonage),
        "outage_via_twilio": sum(1 for n in outage if phone(n) in at_twilio),
        "after_via_twilio": sum(1 for n in after if phone(n) in at_twilio),
        "after_via_vonage": sum(1 for n in after if phone(n) in at_vonage),
        "lost": len(expected - both.keys()),
        # Across both providers: a reminder sent by each would count here.
        "duplicates": sum(c - 1 for c in both.values()),
        "unexpected": len(both.keys() - expected),
    }


async def test_a_503_outage_of_the_first_provider_is_sent_through_the_second_at_once(
    tmp_path: Path,
) -> None:
    outage, after = range(COUNT), range(COUNT, COUNT + AFTER_COUNT)
    async with (
        fake_twilio() as twilio,
        fake_vonage() as vonage,
        drill_topology("drill-failover", AMQP_URL, REDIS_URL) as topology,
        Ehr(AMQP_URL, topology) as ehr,
    ):
        ns = topology.namespace
        env = notifier(twilio, vonage)
        with running_system(ns, AMQP_URL, REDIS_URL, tmp_path, env=env) as system:
            onboarding = await onboard(ehr, range(COUNT + AFTER_COUNT))
            at = soon(2 * onboarding + 20)
            # Due once the outage is over and Twilio's circuit (opened by it) has closed.
            at_after = at + timedelta(seconds=OUTAGE_SECONDS + CIRCUIT_OPEN_SECONDS + 10)
            await assign(ehr, REDIS_URL, outage, at)
            await assign(ehr, REDIS_URL, after, at_after)
            await sleep_until(at - timedelta(seconds=2))
            twilio.fail_for(OUTAGE_SECONDS)  # from two seconds before they are due
            with contextlib.suppress(AssertionError):  # the report shows what is missing
                await wait_for(lambda: delivered(twilio, vonage, outage) >= COUNT, 120, 0.2)
            outage_delivered = (datetime.now(UTC) - at).total_seconds()
            outage_over = time.monotonic() >= twilio.fail_until
            await sleep_until(at_after)
            with contextlib.suppress(AssertionError):
                await wait_for(lambda: delivered(twilio, vonage, after) >= AFTER_COUNT, 120, 0.2)
            await asyncio.sleep(10)  # a duplicate would arrive by now
            dlq = await queue_depth(ehr.channel, topology.dlq(NOTIFIER_REMINDERS_QUEUE))
            log = system.procs["notifier"].log_path
            retries = retry_reasons(log)
            failovers = log_lines(log, "provider unavailable; the next one sends")
            alive, restarts = system.all_alive(), system.restarts()
    found = counts(twilio, vonage, outage, after)
    report_counts(
        {
            "drill": "sms_failover_503",
            "reminders": COUNT,
            "reminders_after_outage": AFTER_COUNT,
            "outage_seconds": OUTAGE_SECONDS,
            "twilio_refused_503": twilio.failed,
            "twilio_requests": twilio.requests,
            "vonage_requests": vonage.requests,
            "failovers": failovers,
            "retries": sum(retries.values()),
            "retries_by_error": retries,
            **found,
            "outage_all_delivered_seconds_after_due": round(outage_delivered, 1),
            "outage_still_on_then": not outage_over,
            "dead_lettered": dlq,
            "restarts": restarts,
        }
    )
    assert twilio.failed > 0  # the outage met the sends
    assert found["outage_via_vonage"] == COUNT
    assert outage_delivered <= DELIVERED_WITHIN_SECONDS
    assert not outage_over  # delivered during the outage, not after it
    assert found["after_via_twilio"] == AFTER_COUNT  # Twilio is used again once it recovers
    assert found["lost"] == 0
    assert found["duplicates"] == 0
    assert found["unexpected"] == 0
    assert dlq == 0
    assert alive
    assert all(n == 0 for n in restarts.values())
