"""The console's client timeline and dead letters in headless Chromium.

Events go through the real RabbitMQ into a tracker served on a real HTTP port: a capped,
a quiet-hours-moved, a delivered and a completed reminder show with their reasons; a
clinic token is refused another clinic's client; the ops token sees a dead letter and
replays it, and the tracker processes it once. Screenshots in artifacts/console/.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from shared.contracts import CompletionReported, Event, NotificationSuppressed
from tests.support.infra import wait_for
from tests.tracker.browser import artifact, chromium, serving
from tests.tracker.conftest import OPS, Tracker, dispatched, settled, status
from tests.tracker.test_console_dead_letters_api import (
    REASON,
    completion,
    dead_letter,
    depth_is,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]
TOKEN_A = "token-clinic-a"
CLIENT = str(uuid.uuid4())
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ASSIGNMENT = str(uuid.uuid4())


def shot(name: str) -> Path:
    path = artifact(f"console/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def suppressed(reminder_id: str, reason: str, **extra: object) -> NotificationSuppressed:
    return NotificationSuppressed.model_validate(
        {
            "clinic_id": "clinic-a",
            "reminder_id": reminder_id,
            "client_ref": CLIENT,
            "assignment_id": ASSIGNMENT,
            "occurrence_date": date.today(),
            "purpose": "nudge",
            "channel": "sms",
            "reason": reason,
            **extra,
        }
    )


def a_clients_day() -> list[Event]:
    mine = {"client_ref": CLIENT, "assignment_id": ASSIGNMENT}
    until = datetime.now(UTC) + timedelta(hours=9)
    return [
        suppressed("rem-capped", "cap"),
        suppressed("rem-quiet", "quiet_hours", deferred_until=until),
        dispatched("rem-sent", **mine),
        status("rem-sent", "delivered"),
        CompletionReported(
            clinic_id="clinic-a",
            assignment_id=ASSIGNMENT,
            client_ref=CLIENT,
            occurrence_date=date.today(),
            completed_at=datetime.now(UTC),
            source="sms",
            reminder_id="rem-sent",
        ),
    ]


@dataclass
class Console:
    base_url: str
    browser: Browser
    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str, token: str, *, phone: bool = False) -> Page:
        size: ViewportSize = {"width": 390, "height": 844} if phone else DESKTOP
        context = await self.browser.new_context(viewport=size)
        page = await context.new_page()
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        await page.goto(f"{self.base_url}{path}#token={token}")
        return page


@pytest.fixture
async def console(tracker: Tracker) -> AsyncIterator[Console]:
    async with serving(tracker.app) as base_url, chromium() as browser:
        board = Console(base_url, browser)
        yield board
    # Offline: the pages, script and data come from the tracker alone; scripts run clean.
    assert all(url.startswith(base_url) for url in board.requested), board.requested
    assert board.errors == []


async def recorded(tracker: Tracker) -> None:
    for event in a_clients_day():
        await tracker.publish(event)
    url = f"/api/console/clients/{CLIENT}"
    auth = {"Authorization": f"Bearer {TOKEN_A}"}

    async def all_there() -> bool:
        rows = (await tracker.http.get(url, headers=auth)).json()["timeline"]
        return {"suppressed", "moved", "delivered", "completed"} <= {r["kind"] for r in rows}

    await wait_for(all_there, timeout=20)


async def test_a_clients_timeline_shows_each_reminder_with_its_reason(
    tracker: Tracker, console: Console
) -> None:
    await recorded(tracker)
    page = await console.open(f"/console/clients?client={CLIENT}", TOKEN_A)
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("Not sent: the client's message cap was reached")
    await expect(timeline).to_contain_text("Moved by quiet hours")
    await expect(timeline).to_contain_text("Delivered")
    await expect(timeline).to_contain_text("Completed: the client replied DONE by text")
    await expect(timeline.locator('tr[data-kind="moved"]')).to_contain_text("rem-quiet")
    await expect(page.get_by_text("kept by the notifier only")).to_be_visible()
    await page.screenshot(path=shot("client-timeline.png"), full_page=True)

    # Keyboard: the reminder's button opens its life; the heading takes the focus.
    await page.get_by_role("button", name="Open reminder rem-sent").first.focus()
    await page.keyboard.press("Enter")
    life = page.get_by_test_id("reminder-timeline")
    await expect(page.locator("#reminder-heading")).to_be_focused()
    await expect(life).to_contain_text("Sent")
    await expect(life).to_contain_text("Delivered")
    await expect(life).to_contain_text("Completed")
    await expect(page.locator("#reminder-facts")).to_contain_text("delivered (sms)")
    await page.screenshot(path=shot("reminder-life.png"), full_page=True)

    phone = await console.open(f"/console/clients?client={CLIENT}", TOKEN_A, phone=True)
    await expect(phone.get_by_test_id("timeline")).to_contain_text("Completed")
    await phone.screenshot(path=shot("client-timeline-phone.png"), full_page=True)


async def test_a_clinic_token_is_refused_another_clinics_client(
    tracker: Tracker, console: Console
) -> None:
    await recorded(tracker)
    page = await console.open(f"/console/clients?clinic=clinic-b&client={CLIENT}", TOKEN_A)
    await expect(page.locator("#error")).to_contain_text("Not allowed")
    await expect(page.locator("#result")).to_be_hidden()
    assert "rem-" not in await page.inner_text("body")
    await page.screenshot(path=shot("client-refused.png"), full_page=True)


async def test_ops_replays_a_dead_letter_and_it_is_processed_once(
    tracker: Tracker, console: Console
) -> None:
    event = completion()
    await dead_letter(tracker, event)
    await wait_for(lambda: depth_is(tracker, 1), timeout=10)
    page = await console.open("/console/dead-letters", OPS)
    depths = page.get_by_test_id("dlq-depths")
    await expect(depths).to_contain_text("tracker.events")
    dlq = tracker.topology.dlq("tracker.events")
    show = page.get_by_role("button", name=f"Show the messages of {dlq}")
    await show.click()
    entries = page.get_by_test_id("dlq-entries")
    await expect(entries).to_contain_text(REASON)
    await expect(entries).to_contain_text("completion.reported")
    await expect(entries).to_contain_text("TransientError")
    await page.screenshot(path=shot("dead-letters.png"), full_page=True)
    await entries.locator(".pick-box").first.check()
    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.get_by_role("status")).to_contain_text("Replayed 1 of 1")
    await expect(entries).to_contain_text("This DLQ is empty")
    await wait_for(lambda: len(tracker.listener.of("completion.recorded")) >= 1, timeout=15)
    await settled(tracker)
    [recorded_] = tracker.listener.of("completion.recorded")
    assert recorded_["assignment_id"] == event.assignment_id
    await page.screenshot(path=shot("dead-letters-replayed.png"), full_page=True)

    refused = await console.open("/console/dead-letters", TOKEN_A)
    await expect(refused.locator("#error")).to_contain_text("Not allowed")
    await expect(refused.get_by_text("operations token only")).to_be_visible()
    await refused.screenshot(path=shot("dead-letters-clinic.png"), full_page=True)
