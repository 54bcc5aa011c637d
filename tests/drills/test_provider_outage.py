"""Drill: the SMS provider answers 503 for a minute, then for good.

1. A minute-long outage that starts just before the reminders are due: every send fails,
   the notifier retries through the TTL retry tiers (its circuit breaker opens and
   refuses sends while it is open), and after the outage every reminder is delivered,
   none twice, none dead-lettered.
2. A provider that keeps failing past a small retry budget: every reminder ends in
   ``notifier.reminders.dlq`` with the reason in ``x-bs-dead-letter-reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.handling import REASON_HEADER
from shared.topology import NOTIFIER_REMINDERS_QUEUE, Topology
from tests.drills.reports import report as report_counts
from tests.drills.traffic import (
    Ehr,
    assign,
    delivered,
    drill_topology,
    fake_twilio,
    log_lines,
    log_records,
    notifier_env,
    onboard,
    provider_counts,
    queue_depth,
)
from tests.fakes.twilio_api import FakeTwilio
from tests.scheduler.support import soon
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.system import running_system

pytestmark = [
    pytest.mark.drill,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    # scripts/test.sh runs the drills on two workers: the 20,000-reminder burst on one,
    # the others (mostly waiting on restarts and outages) one after another on the other.
    pytest.mark.xdist_group("others"),
]

COUNT = int(os.environ.get("BS_DRILL_OUTAGE_COUNT", "300"))
OUTAGE_SECONDS = float(os.environ.get("BS_DRILL_OUTAGE_SECONDS", "60"))
GIVE_UP_COUNT = int(os.environ.get("BS_DRILL_GIVE_UP_COUNT", "50"))
GIVE_UP_ATTEMPTS = 3


async def reminders_due(ehr: Ehr, clients: range) -> datetime:
    """Onboard and assign the clients; returns when every reminder is planned, and the
    second they are all due."""
    onboarding = await onboard(ehr, clients)
    at = soon(1.5 * onboarding + 15)
    await assign(ehr, REDIS_URL, clients, at)
    return at


async def sleep_until(at: datetime) -> None:
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


def retry_reasons(log_path: Path) -> dict[str, int]:
    """The notifier's "retry scheduled" lines, by error."""
    reasons: Counter[str] = Counter(
        str(record.get("error", "?"))
        for record in log_records(log_path)
        if record.get("event") == "retry scheduled"
    )
    return dict(reasons)


async def dead_letters(ehr: Ehr, topology: Topology) -> list[str]:
    """Drain notifier.reminders.dlq; the reason of each message."""
    dlq = await ehr.channel.declare_queue(
        topology.dlq(NOTIFIER_REMINDERS_QUEUE), passive=True, robust=False
    )
    reasons = []
    while (message := await dlq.get(fail=False, no_ack=True)) is not None:
        reasons.append(str((message.headers or {}).get(REASON_HEADER, "")))
    return reasons


def system_env(twilio: FakeTwilio, **notifier: str) -> dict[str, dict[str, str]]:
    return {"notifier": notifier_env(twilio, **notifier)}


async def test_a_minute_of_503_delays_reminders_but_loses_and_doubles_none(
    tmp_path: Path,
) -> None:
    async with (
        fake_twilio() as twilio,
        drill_topology("drill-outage", AMQP_URL, REDIS_URL) as topology,
        Ehr(AMQP_URL, topology) as ehr,
    ):
        ns = topology.namespace
        with running_system(ns, AMQP_URL, REDIS_URL, tmp_path, env=system_env(twilio)) as system:
            at = await reminders_due(ehr, range(COUNT))
            await sleep_until(at - timedelta(seconds=2))  # the outage starts just before
            twilio.fail_for(OUTAGE_SECONDS)
            outage_end = time.monotonic() + OUTAGE_SECONDS
            before = delivered(twilio)  # none: the outage began before the first send
            with contextlib.suppress(AssertionError):  # the report shows what is missing
                await wait_for(lambda: delivered(twilio) >= COUNT, OUTAGE_SECONDS + 400, 0.5)
            after_outage = time.monotonic() - outage_end
            await asyncio.sleep(10)  # a duplicate would arrive by now
            dlq = await queue_depth(ehr.channel, topology.dlq(NOTIFIER_REMINDERS_QUEUE))
            retries = retry_reasons(system.procs["notifier"].log_path)
            suppressed = log_lines(
                system.procs["notifier"].log_path, "duplicate reminder: already sent"
            )
            alive, restarts = system.all_alive(), system.restarts()
    counts = provider_counts(twilio, range(COUNT))
    report = {
        "drill": "sms_provider_503_for_a_minute",
        "reminders": COUNT,
        "outage_seconds": OUTAGE_SECONDS,
        "refused_503": twilio.failed,
        "provider_requests": twilio.requests,
        "retries": sum(retries.values()),
        "retries_by_error": retries,
        "duplicates_suppressed": suppressed,
        **counts,
        "delivered_before_outage": before,
        "all_delivered_seconds_after_outage": round(after_outage, 1),
        "dead_lettered": dlq,
        "restarts": restarts,
    }
    report_counts(report)
    # Every reminder met the outage: refused by the provider or by the open circuit.
    assert twilio.failed > 0
    assert sum(retries.values()) >= COUNT
    assert before == 0
    assert counts["lost"] == 0
    assert counts["provider_duplicates"] == 0
    assert dlq == 0
    assert alive
    assert all(n == 0 for n in restarts.values())


async def test_a_provider_failing_past_the_retry_budget_dead_letters_with_a_reason(
    tmp_path: Path,
) -> None:
    async with (
        fake_twilio() as twilio,
        drill_topology("drill-giveup", AMQP_URL, REDIS_URL) as topology,
        Ehr(AMQP_URL, topology) as ehr,
    ):
        env = system_env(twilio, NOTIFIER_RETRY_MAX_ATTEMPTS=str(GIVE_UP_ATTEMPTS))
        ns = topology.namespace
        with running_system(ns, AMQP_URL, REDIS_URL, tmp_path, env=env) as system:
            twilio.fail_for(3600)  # down for the whole drill
            await reminders_due(ehr, range(GIVE_UP_COUNT))
            dlq_name = topology.dlq(NOTIFIER_REMINDERS_QUEUE)

            async def all_dead_lettered() -> bool:
                return await queue_depth(ehr.channel, dlq_name) >= GIVE_UP_COUNT

            with contextlib.suppress(AssertionError):  # the report shows what is missing
                await wait_for(all_dead_lettered, 300, 1)
            await asyncio.sleep(3)  # anything dead-lettered twice would show now
            reasons = await dead_letters(ehr, topology)
            retries = retry_reasons(system.procs["notifier"].log_path)
            alive = system.all_alive()
    gave_up = [r for r in reasons if r.startswith(f"gave up after {GIVE_UP_ATTEMPTS} attempts")]
    report = {
        "drill": "sms_provider_failing_past_retry_budget",
        "reminders": GIVE_UP_COUNT,
        "max_attempts": GIVE_UP_ATTEMPTS,
        "refused_503": twilio.failed,
        "retries": sum(retries.values()),
        "dead_lettered": len(reasons),
        "dead_lettered_with_reason": len(gave_up),
        "reason_example": reasons[0] if reasons else None,
        "delivered": delivered(twilio),
    }
    report_counts(report)
    assert len(reasons) == GIVE_UP_COUNT
    assert len(gave_up) == GIVE_UP_COUNT, Counter(reasons).most_common(3)
    assert delivered(twilio) == 0
    assert alive
