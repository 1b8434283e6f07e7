"""What the browser tests do, in the words of the pages: the operator's API calls, a
simulated bettor on the official ably SDK, and the bettor page's sign-in and race view."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

from betting.channels import bets_channel, bets_shard
from betting.client import BettorEndpoints, bettor_realtime
from tests.web.serving import ADMIN_TOKEN, BET_SHARDS, Served, http_json

RUNNERS = [f"r{n}" for n in range(6)]
WAIT_S = 30


async def admin(served: Served, method: str, path: str, body: object = None) -> Any:
    status, answer = await asyncio.to_thread(
        http_json, method, f"{served.base_url}{path}", body, ADMIN_TOKEN
    )
    assert status in (200, 202), f"{method} {path}: {status} {answer}"
    return answer


async def public_race(served: Served, race_id: str) -> dict[str, Any] | None:
    _, answer = await asyncio.to_thread(http_json, "GET", f"{served.base_url}/api/races")
    races = answer.get("races", []) if isinstance(answer, dict) else []
    return next((race for race in races if race["race_id"] == race_id), None)


async def until_state(served: Served, race_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        race = await public_race(served, race_id)
        if race is not None and race["state"] == state:
            return race
        assert time.monotonic() < deadline, f"{race_id} never {state}: {race}"
        await asyncio.sleep(0.2)


async def open_race(served: Served, name: str) -> str:
    """A race with six runners, created and opened through the admin API."""
    created = await admin(
        served,
        "POST",
        "/admin/races",
        {
            "name": name,
            "runners": [
                {"runner_id": runner, "name": f"Runner {runner[1:]}", "rating": 100 + 15 * n}
                for n, runner in enumerate(RUNNERS)
            ],
            "scheduled_start_ms": int(time.time() * 1000) + 3_600_000,
        },
    )
    race_id = str(created["race_id"])
    await until_state(served, race_id, "scheduled")
    await admin(served, "POST", f"/admin/races/{race_id}/open", {})
    await until_state(served, race_id, "open")
    return race_id


async def simulated_bettor(served: Served, race_id: str, runner_id: str, bets: int) -> None:
    """Another bettor, on the Python SDK, backing one runner at the current price."""
    endpoints = BettorEndpoints(served.base_url, "127.0.0.1", served.edge_port, tls=False)
    user_id = f"bot-{uuid.uuid4().hex[:8]}"
    realtime = bettor_realtime(endpoints, user_id)
    try:
        channel = realtime.channels.get(bets_channel(bets_shard(user_id, BET_SHARDS)))
        for _ in range(bets):
            race = await public_race(served, race_id)
            assert race is not None
            prices = {runner["runner_id"]: runner["odds"] for runner in race["runners"]}
            bet = {
                "bet_id": uuid.uuid4().hex,
                "race_id": race_id,
                "runner_id": runner_id,
                "stake_minor": 50_000,
                "odds": prices[runner_id],
                "odds_version": race["version"],
                "client_sent_at_ms": int(time.time() * 1000),
            }
            await channel.publish("bet", bet)
            await asyncio.sleep(0.4)  # pacing: the odds move between one bet and the next
    finally:
        await realtime.close()


async def until_price_moves(served: Served, race_id: str, runner_id: str, before: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while True:
        race = await public_race(served, race_id)
        prices = {runner["runner_id"]: runner["odds"] for runner in (race or {})["runners"]}
        if prices.get(runner_id) not in (None, before):
            return str(prices[runner_id])
        assert time.monotonic() < deadline, f"{runner_id} stayed at {before}"
        await asyncio.sleep(0.1)


class OddsHold:
    """Holds back the frames of odds channels on a page's websocket while `holding`, and
    delivers them in order on `release`: a page that, for a moment, hears of no new price.
    Nothing is dropped, so the vcdiff chain of deltas stays whole."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.page_side: Any = None

    def from_server(self, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        if self.holding and '"outbound:odds:' in text:
            self.held.append(message)
            return
        self.page_side.send(message)

    async def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for message in held:
            self.page_side.send(message)


async def hold_odds(page: Any) -> OddsHold:
    hold = OddsHold()

    def route(websocket: Any) -> None:
        server = websocket.connect_to_server()
        hold.page_side = websocket
        server.on_message(hold.from_server)

    await page.route_web_socket(re.compile(r"^ws://"), route)
    return hold


async def sign_in(page: Any, served: Served, user_id: str) -> None:
    await page.goto(f"{served.base_url}/")
    await page.fill("#user-id", user_id)
    await page.click("#sign-in-form button[type=submit]")
    await page.wait_for_selector("#connection[data-state=live]")


async def show_race(page: Any, race_id: str) -> None:
    await page.click(f'#races a[data-race-id="{race_id}"]')
    await page.wait_for_selector("#tiles .tile:not([disabled])")


async def price_of(page: Any, runner_id: str) -> str:
    text = await page.text_content(f'.tile[data-runner-id="{runner_id}"] .price-main')
    return str(text)


async def place_bet(page: Any, runner_id: str, stake: str) -> None:
    await page.click(f'.tile[data-runner-id="{runner_id}"]')
    await page.fill("#slip-stake", stake)
    await page.click("#slip-place")


def record_page_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def record_console_errors(page: Any) -> list[str]:
    """What the browser's console reports as errors: a missing favicon's 404 among them."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    return errors
