"""The dashboard in headless Chromium: a clinic sees its own chart and numbers, nothing else.

Events go through the real RabbitMQ into a tracker served on a real HTTP port; the page
takes the token from the URL fragment (as a clinic's bookmark would) and asks the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, Page, expect

from shared.contracts import ConsentChanged, Event
from tests.support.infra import wait_for
from tests.tracker.browser import artifact, chromium, serving
from tests.tracker.conftest import OPS, Tracker, dispatched, status

pytestmark = [pytest.mark.integration, pytest.mark.browser]
TOKEN_A = "token-clinic-a"


def fed_events() -> list[Event]:
    """Clinic A: 3 sent, 2 delivered, 1 undelivered. Clinic B: 6, 4, 2 and an opt-out."""
    events: list[Event] = []
    for i, outcome in enumerate(("delivered", "delivered", "undelivered")):
        events += [dispatched(f"rem-a{i}"), status(f"rem-a{i}", outcome)]
    for i, outcome in enumerate(("delivered",) * 4 + ("failed",) * 2):
        b = "clinic-b"
        events += [dispatched(f"rem-b{i}", clinic=b), status(f"rem-b{i}", outcome, clinic=b)]
    events.append(
        ConsentChanged(
            clinic_id="clinic-b",
            client_ref="client-b",
            channel="sms",
            opted_out=True,
            source="sms_keyword",
        )
    )
    return events


async def recorded(tracker: Tracker, sent: int) -> None:
    """Wait until the tracker has applied them all (an empty queue may still hold unacked)."""
    ops = {"Authorization": f"Bearer {OPS}"}

    async def counted() -> bool:
        overview = (await tracker.http.get("/api/overview", headers=ops)).json()
        return bool(overview["totals"]["sent"] == sent and overview["opt_outs"])

    await wait_for(counted, timeout=15)


@dataclass
class Dashboard:
    base_url: str
    browser: Browser
    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, token: str | None = None, query: str = "") -> Page:
        """A fresh tab (own session storage) on /dashboard, the token in the fragment."""
        context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        fragment = f"#token={token}" if token else ""
        await page.goto(f"{self.base_url}/dashboard{query}{fragment}")
        return page


@pytest.fixture
async def dashboard(tracker: Tracker) -> AsyncIterator[Dashboard]:
    for event in fed_events():
        await tracker.publish(event)
    await recorded(tracker, sent=9)
    async with serving(tracker.app) as base_url, chromium() as browser:
        board = Dashboard(base_url, browser)
        yield board
    # Offline: the page and its data come from the tracker alone, and its script runs clean.
    assert all(url.startswith(base_url) for url in board.requested), board.requested
    assert board.errors == []


async def test_a_clinic_token_shows_its_chart_and_totals(dashboard: Dashboard) -> None:
    page = await dashboard.open(TOKEN_A)
    await expect(page.locator("#content")).to_be_visible()
    for testid, value in {
        "total-sent": "3",
        "total-delivered": "2",
        "total-failed": "1",
        "total-optouts": "0",
    }.items():
        await expect(page.get_by_test_id(testid)).to_have_text(value)
    chart = page.get_by_test_id("delivery-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator("polyline")).to_have_count(3)
    await expect(page.locator("#by-clinic")).to_contain_text("clinic-a")
    await expect(page.locator("#failures")).to_contain_text("undelivered")
    text = await page.inner_text("body")
    assert "clinic-b" not in text
    assert "rem-b" not in text
    shot = artifact("dashboard-clinic.png")
    await page.screenshot(path=shot, full_page=True)
    print(f"screenshot: {shot}")


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "Sign in with an access token"), ("not-a-token", "Access refused")],
)
async def test_no_token_or_a_wrong_one_is_refused(
    dashboard: Dashboard, token: str | None, message: str
) -> None:
    page = await dashboard.open(token)
    await expect(page.get_by_role("alert")).to_contain_text(message)
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#content")).to_be_hidden()


async def test_another_clinics_data_is_refused(dashboard: Dashboard) -> None:
    page = await dashboard.open(TOKEN_A, query="?clinic=clinic-b")
    await expect(page.get_by_role("alert")).to_contain_text("Not allowed")
    await expect(page.locator("#content")).to_be_hidden()
    assert "rem-b" not in await page.inner_text("body")
    shot = artifact("dashboard-refused.png")
    await page.screenshot(path=shot, full_page=True)
    print(f"screenshot: {shot}")
