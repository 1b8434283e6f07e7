"""The bettor page in Chromium against `serve`: live odds, a bet accepted with a receipt, a
stale price refused with the new one offered, prices that move inside the slip, fractions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.web.flows import (
    admin,
    hold_odds,
    open_race,
    place_bet,
    price_of,
    record_console_errors,
    record_page_errors,
    show_race,
    sign_in,
    simulated_bettor,
    until_price_moves,
    until_state,
)
from tests.web.serving import Served, screenshot_path

pytestmark = pytest.mark.browser


FRACTION_DENOMINATORS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 25, 33, 50, 100}


# WCAG 2 contrast of the connection pill's text on its background (both opaque colours).
CONTRAST_OF_CONNECTION = """() => {
  const style = getComputedStyle(document.getElementById('connection'));
  const channels = (colour) => colour.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = (colour) => {
    const [r, g, b] = channels(colour).map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


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
        "before => document.querySelector('.tile[data-runner-id=\"r2\"] .price-main')"
        ".textContent !== before",
        arg=before,
    )
    await page.wait_for_selector('.tile[data-runner-id="r2"].flash-down')
    after = await price_of(page, "r2")
    assert float(after) < float(before)  # backed: shorter
    assert any("vcdiff" in frame for frame in frames), "odds did not arrive as deltas"
    await page.screenshot(path=screenshot_path("bettor-live-odds.png"), full_page=True)
    assert errors == []


async def test_a_bet_is_placed_and_the_slip_turns_into_a_receipt(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Acceptance Stakes")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    console_errors = record_console_errors(page)
    await sign_in(page, served, user("alice"))
    # The service worker that shows notifications on Android Chrome is registered.
    assert await page.evaluate(
        "navigator.serviceWorker.ready.then((r) => r.active.scriptURL.endsWith('/sw.js'))"
    )
    # A new user's notifications are off, as the server holds them.
    await page.wait_for_selector("#notify-toggle:not([disabled])")
    assert not await page.is_checked("#notify-toggle")
    await show_race(page, race_id)
    price = await price_of(page, "r1")

    await page.click('.tile[data-runner-id="r1"]')
    assert await page.text_content("#slip-limits") == "Min 1.00, max 100,000.00 EUR"
    await page.click("#slip-quick button:has-text('25.00')")
    assert await page.input_value("#slip-stake") == "25.00"
    await page.fill("#slip-stake", "0.50")
    await page.click("#slip-place")
    assert "minimum stake is 1.00 EUR" in str(await page.text_content("#slip-outcome"))
    await page.fill("#slip-stake", "12.50")
    await page.click("#slip-place")

    receipt = page.locator("#slip-receipt")
    await receipt.wait_for()
    assert await page.is_hidden("#slip-form")  # disarmed: no second tap bets again
    assert await receipt.locator("[data-field=price]").text_content() == price
    assert await receipt.locator("[data-field=stake]").text_content() == "12.50 EUR"
    reference = str(await receipt.locator("[data-field=reference]").text_content())
    assert len(reference) == 8
    row = page.locator('#bets tr[data-status="accepted"]')
    await row.wait_for()
    text = str(await row.text_content())
    assert "12.50" in text and f"Ref {reference}" in text and price in text
    assert "Runner 1" in text and "Acceptance Stakes" in text
    await page.screenshot(path=screenshot_path("bettor-receipt.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.screenshot(path=screenshot_path("bettor-receipt-desktop.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})

    # "Bet again" arms a fresh slip; Escape closes it; the close button is a real target.
    await receipt.locator("button:has-text('Bet again')").click()
    assert await page.input_value("#slip-stake") == ""
    box = await page.locator("#slip-close").bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#slip", state="hidden")

    await page.click("#notify-toggle")  # on: a request the server takes, and keeps
    await page.wait_for_function("!document.querySelector('#notify-toggle').disabled")
    assert await page.is_checked("#notify-toggle")
    assert await page.locator(".notice-error").count() == 0

    # After a reload the bet can only come from GET /api/users/<me>/bets, sent with the
    # bettor's own credential, and the switch shows what the server holds.
    await page.reload()
    await page.locator('#bets tr[data-status="accepted"]').wait_for()
    await page.wait_for_selector("#notify-toggle:checked:not([disabled])")
    assert await page.text_content("#bets-error") == ""
    assert errors == [] and console_errors == []


async def test_a_moved_price_is_offered_in_the_slip(browser_context: Any, served: Served) -> None:
    race_id = await open_race(served, "Stale Price Plate")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    odds = await hold_odds(page)
    await sign_in(page, served, user("bob"))
    await show_race(page, race_id)
    seen = await price_of(page, "r3")
    await page.click('.tile[data-runner-id="r3"]')
    await page.fill("#slip-stake", "10")

    # The page hears no odds for a moment while another bettor shortens r3: the bet goes
    # out at the price on screen, which is no longer on offer.
    odds.holding = True
    await simulated_bettor(served, race_id, "r3", bets=1)
    await until_price_moves(served, race_id, "r3", seen)
    await page.click("#slip-place")

    refused = page.locator('#slip-outcome[data-kind="rejected"]')
    await refused.wait_for()
    text = str(await refused.text_content())
    assert "The price changed before your bet arrived" in text
    assert "The price is now" in text
    await page.screenshot(path=screenshot_path("bettor-stale-price.png"), full_page=True)
    await odds.release()

    await page.click("#slip-outcome button.offer")  # take the new price
    await page.locator("#slip-receipt").wait_for()
    await page.click("#slip-done")  # on a phone the slip is a sheet over the page
    await page.click("#bets-tab-settled")  # a bet not placed is not open
    await page.locator('#bets tr[data-status="rejected"]').wait_for()
    await page.click("#bets-tab-open")
    await page.locator('#bets tr[data-status="accepted"]').wait_for()
    assert await page.locator('#bets tr[data-status="accepted"]').count() == 1
    assert errors == []


async def test_odds_move_inside_an_open_slip_and_fractions_are_bookmakers(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Fractions Handicap")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    await sign_in(page, served, user("dora"))
    await page.select_option("#odds-format", "fractional")
    await show_race(page, race_id)
    tile = page.locator('.tile[data-runner-id="r2"]')
    main = str(await tile.locator(".price-main").text_content())
    assert main == "Evens" or main.count("/") == 1, main
    denominator = main.partition("/")[2]
    assert main == "Evens" or int(denominator) in FRACTION_DENOMINATORS, main
    await page.click('.tile[data-runner-id="r2"]')
    await page.uncheck("#slip-accept-higher")
    before = await page.text_content("#slip-price")

    await simulated_bettor(served, race_id, "r2", bets=2)  # r2 shortens

    change = page.locator("#slip-price-change")
    await change.wait_for()
    assert f"from {before} to" in str(await change.text_content())
    assert await page.text_content("#slip-place") == "Accept the new price and bet"
    await page.fill("#slip-stake", "5")
    await page.screenshot(path=screenshot_path("bettor-price-moved-fractional.png"), full_page=True)
    await page.click("#slip-place")
    await page.locator("#slip-receipt").wait_for()
    await page.reload()  # the choice of format stays with the browser
    assert await page.input_value("#odds-format") == "fractional"
    assert errors == []


async def test_the_page_recovers_after_the_connection_drops(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Reconnect Cup")
    page = await browser_context.new_page()
    await sign_in(page, served, user("carol"))
    await show_race(page, race_id)
    before = await price_of(page, "r4")
    await page.click('.tile[data-runner-id="r4"]')
    await page.fill("#slip-stake", "3")

    await browser_context.set_offline(True)
    await page.wait_for_selector("#connection:not([data-state=live])", timeout=40_000)
    # No bet while the connection is down: the slip says so and its button is off.
    await page.wait_for_selector("#slip-lock:not([hidden])")
    assert await page.is_disabled("#slip-place")
    await page.wait_for_selector("#connection[data-state=reconnecting]")
    assert await page.evaluate(CONTRAST_OF_CONNECTION) >= 4.5
    await page.screenshot(path=screenshot_path("bettor-offline-slip.png"), full_page=True)
    await simulated_bettor(served, race_id, "r4", bets=3)  # odds move while the page is away
    await browser_context.set_offline(False)
    await page.wait_for_selector("#connection[data-state=live]", timeout=40_000)

    await page.wait_for_function(
        "before => document.querySelector('.tile[data-runner-id=\"r4\"] .price-main')"
        ".textContent !== before",
        arg=before,
    )
    # The page was not reloaded: the same document caught up.
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    await page.wait_for_selector("#slip-lock", state="hidden")
    await page.click("#slip-place")  # the slip took the moved price; the bet goes through
    await page.locator("#slip-receipt").wait_for()


async def test_a_race_suspended_in_play_and_settled_as_the_bettor_sees_it(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Status Derby")
    page = await browser_context.new_page()
    errors = record_page_errors(page)
    await sign_in(page, served, user("erin"))
    await show_race(page, race_id)
    assert await page.get_attribute("#race-state", "data-status") == "open"
    assert "Starts in" in str(await page.text_content("#race-info"))
    for runner_id, stake in [("r2", "20"), ("r4", "5")]:
        await place_bet(page, runner_id, stake)
        await page.locator("#slip-receipt").wait_for()
        await page.click("#slip-done")

    await page.click('.tile[data-runner-id="r1"]')  # a slip open when the race is suspended
    await admin(served, "POST", f"/admin/races/{race_id}/suspend", {})
    await page.wait_for_selector("#suspended:not([hidden])")
    await page.wait_for_selector("#slip-lock:has-text('Suspended')")
    assert await page.is_disabled("#slip-place")
    await page.keyboard.press("Escape")
    assert await page.locator(".tile:not([disabled])").count() == 0
    await page.screenshot(path=screenshot_path("bettor-suspended.png"), full_page=True)
    await admin(served, "POST", f"/admin/races/{race_id}/resume", {})
    await page.wait_for_selector("#suspended", state="hidden")

    await admin(served, "POST", f"/admin/races/{race_id}/start", {})
    await page.wait_for_selector("#race-state[data-status=in-play]")
    assert await page.text_content("#race-state") == "In play"
    await page.screenshot(path=screenshot_path("bettor-in-play.png"), full_page=True)

    await admin(served, "POST", f"/admin/races/{race_id}/close", {})
    await until_state(served, race_id, "closed")
    await admin(served, "POST", f"/admin/races/{race_id}/result", {"placings": ["r2", "r5"]})
    placings = page.locator("#race-placings")
    await placings.wait_for(timeout=30_000)
    assert "1st Runner 2" in str(await placings.text_content())
    assert "2nd Runner 5" in str(await placings.text_content())
    assert "Starts in" not in str(await page.text_content("#race-info"))  # no countdown now

    # One notice for the race, in names, with the total; it stays.
    notice = page.locator('.notice[data-kind="win"]')
    await notice.wait_for()
    await page.locator('#bets-tab-settled:has-text("(2)")').wait_for()
    text = str(await notice.text_content())
    assert text.startswith("Status Derby: you won ") and "EUR" in text and "2 bets" in text
    assert race_id not in text and "r2" not in text
    assert await page.locator(".notice").count() == 1
    await page.click("#bets-tab-settled")
    await page.locator('#bets tr[data-status="won"]').wait_for()
    await page.locator('#bets tr[data-status="lost"]').wait_for()
    assert "returned" in str(await page.text_content("#bets-totals"))
    await page.screenshot(path=screenshot_path("bettor-settled.png"), full_page=True)
    assert errors == []
