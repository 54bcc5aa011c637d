"""Issue 13, item 1, end to end: a clinic edits its policy in the console and the scheduler
re-plans from it.

The scheduler and the tracker run in-process (their real lifespans) in one namespace on the
real RabbitMQ and Redis; the tracker is served on a real HTTP port to headless Chromium. An
EHR publishes a clinic policy (a mood log at 09:00), a client's preferences and a daily
assignment; the client's page shows the scheduler's plan at 09:00. In the policy console the
clinic moves the mood log to 18:30, sees the preview follow, saves version 2 (published to
the inbound exchange); the client's page then shows the scheduler's new plan, at 18:30.
Screenshots in artifacts/console/replan-before.png and replan-after.png.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aio_pika.abc import AbstractChannel
from playwright.async_api import Page, expect
from pydantic import SecretStr

from scheduler.app import create_app as scheduler_app
from scheduler.settings import SchedulerSettings
from shared.broker import publish_event
from shared.contracts import (
    Activity,
    ActivityAssigned,
    ActivityKind,
    ChannelConsent,
    ClientPreferencesChanged,
    ClinicPolicy,
    ClinicPolicyChanged,
    Frequency,
    Messaging,
    ReminderRule,
    Schedule,
    new_envelope,
)
from shared.topology import Topology
from tests.support.infra import AMQP_URL, REDIS_URL, wait_for
from tests.support.services import running
from tests.tracker.browser import artifact, chromium, serving
from tracker.app import create_app as tracker_app
from tracker.settings import TrackerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.timeout(90),
]

TZ = "America/Chicago"
ZONE = ZoneInfo(TZ)
CLINIC = f"riverside-community-counselling-and-family-therapy-practice-{uuid.uuid4().hex[:12]}"
CLINIC_NAME = "Riverside Community Counselling & Family Therapy Practice (Eastside Office)"
TOKEN = f"token-{uuid.uuid4().hex}"
POLICY_ID = str(uuid.uuid4())
CLIENT = str(uuid.uuid4())
ASSIGNMENT = str(uuid.uuid4())


def policy() -> ClinicPolicyChanged:
    """Mood logs at 09:00 sharp (no delivery window), everything else at noon."""
    return ClinicPolicyChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        policy=ClinicPolicy(
            policy_id=POLICY_ID,
            version=1,
            default_rule=ReminderRule(times_of_day=(time(12, 0),), spread_minutes=0),
            rules_by_kind={
                ActivityKind.MOOD_LOG: ReminderRule(times_of_day=(time(9, 0),), spread_minutes=0)
            },
            messaging=Messaging(clinic_name=CLINIC_NAME),
        ),
    )


def preferences() -> ClientPreferencesChanged:
    return ClientPreferencesChanged(
        **new_envelope(),
        clinic_id=CLINIC,
        client_ref=CLIENT,
        version=1,
        timezone=TZ,
        consent=ChannelConsent(sms=True, email=True),
    )


def assignment() -> ActivityAssigned:
    """A daily mood log with no times of its own: the policy's times apply."""
    return ActivityAssigned(
        **new_envelope(),
        clinic_id=CLINIC,
        assignment_id=ASSIGNMENT,
        client_ref=CLIENT,
        therapist_ref=str(uuid.uuid4()),
        activity=Activity(kind=ActivityKind.MOOD_LOG, title="Mood log"),
        schedule=Schedule(
            timezone=TZ,
            start=datetime.now(ZONE).date() - timedelta(days=1),
            frequency=Frequency.DAILY,
        ),
        policy_id=POLICY_ID,
    )


def local_times(upcoming: list[dict[str, Any]]) -> set[str]:
    return {
        datetime.fromisoformat(u["planned_for"]).astimezone(ZONE).strftime("%H:%M")
        for u in upcoming
        if u["purpose"] == "reminder"
    }


async def upcoming_at(http: httpx.AsyncClient, hhmm: str) -> bool:
    """The tracker's client API: every upcoming reminder (at least 6 days of them) at hhmm."""
    response = await http.get(f"/api/console/clients/{CLIENT}", params={"clinic": CLINIC})
    upcoming = response.json()["plan"]["upcoming"] if response.status_code == 200 else []
    return len(upcoming) >= 6 and local_times(upcoming) == {hhmm}


async def shot(page: Page, name: str) -> None:
    path = artifact(f"console/{name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")


async def page_shows(page: Page, hhmm: str, gone: str, timeout: float = 20) -> None:
    """Reload the client's page until its upcoming list has ``hhmm`` and no ``gone``."""
    upcoming = page.get_by_test_id("upcoming")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await expect(page.locator("#result")).to_be_visible()
        text = await upcoming.inner_text()
        if hhmm in text and gone not in text:
            return
        if loop.time() > deadline:
            raise AssertionError(f"the upcoming list still shows {gone!r}, not {hhmm!r}:\n{text}")
        await asyncio.sleep(0.3)
        await page.reload()


@pytest.fixture
async def system(
    topology: Topology, redis: Any, rabbit_channel: AbstractChannel
) -> AsyncIterator[str]:
    """The scheduler and the tracker in this test's namespace; the tracker's base URL.
    The ``topology`` and ``redis`` fixtures delete the namespace's queues, exchanges and
    Redis keys afterwards."""
    common: dict[str, Any] = {
        "namespace": topology.namespace,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "log_format": "console",
    }
    scheduler = scheduler_app(SchedulerSettings(**common, plan_announce_seconds=0.2))
    tracker = tracker_app(
        TrackerSettings(
            **common,
            ops_token=SecretStr(f"ops-{uuid.uuid4().hex}"),
            clinic_tokens={TOKEN: CLINIC},
            link_secrets=(SecretStr("link-secret-replan-" + "k" * 32),),
            escalation_interval_seconds=3600,
        )
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(scheduler))
        await stack.enter_async_context(running(tracker))
        base_url = await stack.enter_async_context(serving(tracker))
        yield base_url


async def test_a_policy_saved_in_the_console_is_re_planned_by_the_scheduler(
    system: str, topology: Topology, rabbit_channel: AbstractChannel
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=system, headers=auth) as http:
        await publish_event(rabbit_channel, topology, policy())

        async def policy_stored() -> bool:
            response = await http.get(f"/api/console/policies/{POLICY_ID}")
            return response.status_code == 200 and response.json()["version"] == 1

        await wait_for(policy_stored, timeout=15)
        await publish_event(rabbit_channel, topology, preferences())
        await publish_event(rabbit_channel, topology, assignment())
        await wait_for(lambda: upcoming_at(http, "09:00"), timeout=20, interval=0.2)

    requested: list[str] = []
    errors: list[str] = []
    async with chromium() as browser:
        # The clinic's staff are in the client's time zone; 24-hour times.
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, timezone_id=TZ, locale="en-GB"
        )
        context.on("request", lambda r: requested.append(r.url))
        try:
            client = await context.new_page()
            client.on("pageerror", lambda e: errors.append(str(e)))
            await client.goto(
                f"{system}/console/clients?clinic={CLINIC}&client={CLIENT}#token={TOKEN}"
            )
            upcoming = client.get_by_test_id("upcoming")
            await expect(upcoming).to_contain_text("the policy's time 09:00")
            await expect(upcoming).not_to_contain_text("18:30")
            await shot(client, "replan-before")

            console = await context.new_page()
            console.on("pageerror", lambda e: errors.append(str(e)))
            await console.goto(f"{system}/console/policies#token={TOKEN}")
            await expect(console.locator("#editing-what")).to_contain_text("version 1")
            await expect(console.locator("#f-clinic-name")).to_have_value(CLINIC_NAME)
            reminders = console.locator('#preview tr[data-purpose="reminder"]')
            await console.select_option("#s-kind", "mood_log")
            await expect(reminders.first).to_contain_text("09:00")
            await expect(reminders.filter(has_text="18:30")).to_have_count(0)

            times = console.locator("#rules_by_kind-mood_log-times")
            await expect(times).to_have_value("09:00")
            await times.fill("18:30")
            await expect(reminders.first).to_contain_text("18:30")
            await expect(reminders.filter(has_text="09:00")).to_have_count(0)
            await console.fill("#f-editor", "Dana Whitfield")
            await console.get_by_role("button", name="Save as a new version").click()
            await expect(console.locator("#save-status")).to_contain_text("Saved as version 2")
            await expect(console.locator('#history tr[data-version="2"]')).to_contain_text(
                "Dana Whitfield"
            )

            # The scheduler took the console's event, re-planned and announced the plan.
            await client.bring_to_front()
            await page_shows(client, "18:30", "09:00")
            await expect(upcoming).to_contain_text("the policy's time 18:30")
            await expect(client.locator("#plan-note")).to_contain_text("policy.changed")
            await shot(client, "replan-after")
        finally:
            await context.close()
    assert all(url.startswith(system) for url in requested), requested
    assert errors == []
