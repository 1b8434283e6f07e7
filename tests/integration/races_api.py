"""A served betting API and its bettors, as the end-to-end tests drive them: admin calls
over HTTP, bettors through the official SDK."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from ably.types.message import Message

from betting.channels import bets_channel, bets_shard, user_channel
from betting.client import BettorEndpoints, bettor_realtime

TOKEN = "test-admin-token"
TIMEOUT_S = 30


@dataclass
class Served:
    api: str
    endpoints: BettorEndpoints


def call(
    api: str, method: str, path: str, body: object = None, token: str | None = TOKEN
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def acall(*args: Any, **kwargs: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(call, *args, **kwargs)


async def until(check: Any, timeout_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def race_state(api: str, race_id: str, state: str) -> dict[str, Any] | None:
    status, view = await acall(api, "GET", f"/admin/races/{race_id}")
    return view if status == 200 and view["state"] == state else None


async def create_open_race(api: str, race_id: str) -> dict[str, Any]:
    runners = [
        {"runner_id": f"car-{n}", "name": f"Car {n}", "rating": 80 + 10 * n} for n in range(7)
    ]
    body = {"race_id": race_id, "name": "Grand Prix", "runners": runners, "scheduled_start_ms": 0}
    assert (await acall(api, "POST", "/admin/races", body))[0] == 202
    await until(lambda: race_state(api, race_id, "scheduled"))
    assert (await acall(api, "POST", f"/admin/races/{race_id}/open", {}))[0] == 202
    view: dict[str, Any] = await until(lambda: race_state(api, race_id, "open"))
    return view


class Bettor:
    def __init__(self, served: Served, user_id: str) -> None:
        self.user_id = user_id
        self.realtime = bettor_realtime(served.endpoints, user_id)
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def start(self) -> None:
        await self.realtime.channels.get(user_channel(self.user_id)).subscribe(
            self.messages.put_nowait
        )

    async def bet(
        self, race_id: str, runner_id: str, odds: str, version: int, stake: int, bet_id: str = ""
    ) -> str:
        bet_id = bet_id or uuid.uuid4().hex
        data = {
            "bet_id": bet_id, "race_id": race_id, "runner_id": runner_id, "stake_minor": stake,
            "odds": odds, "odds_version": version,
        }  # fmt: skip
        await self.realtime.channels.get(bets_channel(bets_shard(self.user_id, 4))).publish(
            "bet", data
        )
        return bet_id

    async def next(self, name: str) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.messages.get(), TIMEOUT_S)
            if message.name == name:
                assert isinstance(message.data, dict)
                return message.data
