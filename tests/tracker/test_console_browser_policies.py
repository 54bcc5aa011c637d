"""The policy and adherence pages in headless Chromium, on a tracker fed through the real
RabbitMQ: a clinic edits its policy (an invalid value is shown next to its field, the
preview follows the fix), saves it, sees the new version; then reads its clients' week
and one client's calendar. Screenshots go to artifacts/console/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, Page, expect

from tests.tracker.browser import artifact, chromium, serving
from tests.tracker.conftest import Tracker
from tests.tracker.test_console_adherence import fed

pytestmark = [pytest.mark.integration, pytest.mark.browser]
TOKEN_A = "token-clinic-a"


@dataclass
class Console:
    base_url: str
    browser: Browser
    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str, token: str = TOKEN_A, width: int = 1280) -> Page:
        context = await self.browser.new_context(viewport={"width": width, "height": 900})
        page = await context.new_page()
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        await page.goto(f"{self.base_url}{path}#token={token}")
        return page


@pytest.fixture
async def console(tracker: Tracker) -> AsyncIterator[Console]:
    await fed(tracker)  # clinic-a's policy pol-1 (version 1) and two clients
    async with serving(tracker.app) as base_url, chromium() as browser:
        opened = Console(base_url, browser)
        yield opened
    assert all(url.startswith(base_url) for url in opened.requested), opened.requested
    assert opened.errors == []


async def shot(page: Page, name: str) -> None:
    path = artifact(f"console/{name}.png")
    path.parent.mkdir(exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")


async def test_a_clinic_edits_previews_and_saves_its_policy(console: Console) -> None:
    page = await console.open("/console/policies")
    await expect(page.locator("#workspace")).to_be_visible()
    await expect(page.locator("#editing-what")).to_contain_text("version 1")
    held, nudges = page.get_by_test_id("preview-held"), page.get_by_test_id("preview-nudges")
    await expect(held).to_have_text("0")

    # A nudge each evening if the day's activity is not done: seven more messages.
    await page.fill("#default_rule-nudges", "20:00")
    await expect(nudges).to_have_text("7")

    # An invalid cap: said in words next to its field, the preview waits for the fix.
    cap = page.locator("#f-cap-day")
    await cap.fill("0")
    error = page.locator('[data-field="caps.per_day"] .field-error')
    await expect(error).to_have_text("must be at least 1")
    await expect(cap).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_test_id("preview-summary")).to_contain_text("Fix the settings")
    await shot(page, "policies-invalid")

    # Fixed to one a day: the caps now hold the nudges back, and the preview says so.
    await cap.fill("1")
    await expect(error).to_have_count(0)
    # Each day the time-of-day reminder comes first; today's may be past already.
    await expect(held).to_have_text(re.compile(r"^[67]$"))
    await expect(nudges).to_have_text(re.compile(r"^[01]$"))
    await expect(page.locator("#preview tr.held").first).to_contain_text(
        "held back by the daily cap"
    )
    await expect(page.get_by_test_id("example-segments").first).to_contain_text(
        "1 SMS segment, GSM-7"
    )

    await page.fill("#f-editor", "Dana")
    await page.get_by_role("button", name="Save as a new version").click()
    await expect(page.locator("#save-status")).to_contain_text("Saved as version 2")
    newest = page.locator('#history tr[data-version="2"]')
    await expect(newest).to_contain_text("clinic clinic-a (Dana)")
    await expect(newest).to_contain_text("caps.per_day 3 → 1")
    await expect(page.locator('#history tr[data-version="1"]')).to_contain_text("EHR")
    await shot(page, "policies")

    # Readable on a phone: one column.
    phone = await console.open("/console/policies", width=390)
    await expect(phone.locator("#workspace")).to_be_visible()
    await shot(phone, "policies-phone")


async def test_a_stale_edit_is_refused_with_a_clear_message(console: Console) -> None:
    first, second = await console.open("/console/policies"), await console.open("/console/policies")
    for page in (first, second):
        await expect(page.locator("#editing-what")).to_contain_text("version 1")
    await first.locator("#f-cap-day").fill("2")
    await first.get_by_role("button", name="Save as a new version").click()
    await expect(first.locator("#save-status")).to_contain_text("Saved as version 2")
    await second.locator("#f-cap-week").fill("10")
    await second.get_by_role("button", name="Save as a new version").click()
    await expect(second.locator("#save-status")).to_contain_text(
        "Not saved: version 2 of this policy was saved after the version 1 you edited"
    )


async def test_a_clinic_reads_its_clients_week_and_a_calendar(console: Console) -> None:
    page = await console.open("/console/adherence")
    rows = page.locator("#clients tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("client-missed")
    await expect(rows.first).to_contain_text("clinician alerted")
    await expect(rows.nth(1)).to_contain_text("client-done")
    # Sortable: by rate, highest first, then again lowest first.
    rate = page.locator('th[data-key="rate"]')
    await rate.get_by_role("button").click()
    await expect(rate).to_have_attribute("aria-sort", "descending")
    await rate.get_by_role("button").press("Enter")  # the keyboard works as well
    await expect(rate).to_have_attribute("aria-sort", "ascending")
    await shot(page, "adherence")

    await page.get_by_role("link", name="client-missed").click()
    calendar = page.locator("#calendar-panel")
    await expect(calendar).to_be_visible()
    await expect(calendar.locator('[data-state="missed"]').first).to_be_visible()
    await expect(calendar.locator('[data-state="upcoming"]').first).to_be_visible()
    assert await calendar.locator('[data-state="done"]').count() == 0
    await shot(page, "adherence-calendar")


@pytest.mark.parametrize("path", ["/console/policies", "/console/adherence"])
async def test_another_clinics_page_is_refused(console: Console, path: str) -> None:
    page = await console.open(f"{path}?clinic=clinic-b")
    await expect(page.get_by_role("alert").first).to_contain_text("Not allowed")
    assert "client-b" not in await page.inner_text("body")
