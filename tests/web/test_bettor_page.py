"""The bettor page in Chromium against `serve`: live odds, a bet accepted, a stale
price refused with the reason in words."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.web.flows import (
    open_race,
    place_bet,
    price_of,
    record_page_errors,
    show_race,
    sign_in,
    simulated_bettor,
)
from tests.web.serving import Served, screenshot_path

pytestmark = pytest.mark.browser


def user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def test_odds_change_live_while_a_simulated_bettor_bets(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Live Odds Handicap")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    await sign_in(page, served, user("watcher"))
    await show_race(page, race_id)
    before = await price_of(page, "r2")

    await simulated_bettor(served, race_id, "r2", bets=5)

    await page.wait_for_function(
        "before => document.querySelector('.tile[data-runner-id=\"r2\"] .price-decimal')"
        ".textContent !== before",
        arg=before,
    )
    await page.wait_for_selector('.tile[data-runner-id="r2"].flash-down')
    after = await price_of(page, "r2")
    assert float(after) < float(before)  # backed: shorter
    assert any("vcdiff" in frame for frame in frames), "odds did not arrive as deltas"
    await page.screenshot(path=screenshot_path("bettor-live-odds.png"), full_page=True)
    assert errors == []


async def test_a_bet_is_placed_and_accepted(browser_context: Any, served: Served) -> None:
    race_id = await open_race(served, "Acceptance Stakes")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    await sign_in(page, served, user("alice"))
    await show_race(page, race_id)
    price = await price_of(page, "r1")

    await place_bet(page, "r1", "12.50")

    outcome = page.locator('#slip-outcome[data-kind="accepted"]')
    await outcome.wait_for()
    assert f"Accepted at {price}" in str(await outcome.text_content())
    row = page.locator('#bets tr[data-status="accepted"]')
    await row.wait_for()
    assert "12.50" in str(await row.text_content())
    await page.screenshot(path=screenshot_path("bettor-accepted.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.screenshot(path=screenshot_path("bettor-accepted-desktop.png"), full_page=True)

    await page.click("#notify-toggle")  # off, then on again: each a request the server takes
    await page.wait_for_function("!document.querySelector('#notify-toggle').disabled")
    assert not await page.is_checked("#notify-toggle")
    await page.click("#notify-toggle")
    await page.wait_for_function("!document.querySelector('#notify-toggle').disabled")
    assert await page.is_checked("#notify-toggle")
    assert await page.locator(".notice-error").count() == 0

    # After a reload the bet can only come from GET /api/users/<me>/bets, sent with the
    # bettor's own credential.
    await page.reload()
    await page.locator('#bets tr[data-status="accepted"]').wait_for()
    assert await page.text_content("#bets-error") == ""
    assert errors == []


async def test_a_stale_price_is_refused_with_the_reason(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Stale Price Plate")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    await sign_in(page, served, user("bob"))
    await show_race(page, race_id)
    await page.click('.tile[data-runner-id="r3"]')
    await page.fill("#slip-stake", "1000")

    # A double tap: both bets carry the price on screen; the first one moves it.
    await page.evaluate(
        "() => { const form = document.getElementById('slip-form');"
        " form.requestSubmit(); form.requestSubmit(); }"
    )

    refused = page.locator('#slip-outcome[data-kind="rejected"]')
    await refused.wait_for()
    text = str(await refused.text_content())
    assert "The price changed before your bet arrived" in text
    assert "The price is now" in text
    await page.screenshot(path=screenshot_path("bettor-stale-price.png"), full_page=True)

    await page.click("#slip-outcome button.offer")  # take the new price
    await page.locator('#slip-outcome[data-kind="accepted"]').wait_for()
    await page.locator('#bets tr[data-status="rejected"]').wait_for()
    assert await page.locator('#bets tr[data-status="accepted"]').count() == 2
    assert errors == []


async def test_the_page_recovers_after_the_connection_drops(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Reconnect Cup")
    page = await browser_context.new_page()
    await sign_in(page, served, user("carol"))
    await show_race(page, race_id)
    before = await price_of(page, "r4")

    await browser_context.set_offline(True)
    await page.wait_for_selector("#connection:not([data-state=live])", timeout=40_000)
    await simulated_bettor(served, race_id, "r4", bets=3)  # odds move while the page is away
    await browser_context.set_offline(False)
    await page.wait_for_selector("#connection[data-state=live]", timeout=40_000)

    await page.wait_for_function(
        "before => document.querySelector('.tile[data-runner-id=\"r4\"] .price-decimal')"
        ".textContent !== before",
        arg=before,
    )
    # The page was not reloaded: the same document caught up.
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
