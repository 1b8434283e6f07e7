"""A chaos bettor on the official ably SDK: watches odds, bets, hears outcomes, keeps the ledger.

It publishes on its own shard channel at a steady pace, a few bets in flight at a time, and
retries each bet with the same bet id until the SDK reports it ACKed (or the run gives up on
it). The SDK reconnects by itself after a kill; retry timeouts are shortened so it comes back
within a second or two instead of Ably's 15 s default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import urllib.request
import uuid
from typing import Any

from betting.channels import ODDS_CHANNEL_PARAMS, bets_channel, bets_shard, odds_channel
from betting.client import BettorEndpoints, UserFeed, bettor_realtime, bettor_rest
from tests.chaos.ledger import AckedBet, Heard, Ledger, OddsWatch

PUBLISH_TIMEOUT_S = 10.0
IN_FLIGHT_MAX = 4
STAKES_MINOR = (100, 250, 500, 1_000)
SDK_OPTIONS = {
    "disconnected_retry_timeout": 1_000,
    "suspended_retry_timeout": 2_000,
    "channel_retry_timeout": 1_000,
    "realtime_request_timeout": 5_000,
}


class ChaosBettor:
    def __init__(
        self,
        user_id: str,
        endpoints: BettorEndpoints,
        shards: int,
        race_ids: list[str],
        ledger: Ledger,
        rng: random.Random,
    ) -> None:
        self.user_id = user_id
        self.endpoints = endpoints
        self._shards = shards
        self._race_ids = race_ids
        self._ledger = ledger
        self._rng = rng
        self.heard = Heard()
        self.watch = OddsWatch(user_id)
        self._latest: dict[str, dict[str, Any]] = {}  # race -> newest odds data seen
        self._realtime: Any = None
        self._feed: UserFeed | None = None
        self._bets: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = asyncio.Semaphore(IN_FLIGHT_MAX)
        self.connections = 0  # times the SDK reached CONNECTED (a resume counts too)
        self.revived = 0  # times the SDK gave up (FAILED) and the bettor connected it again
        # The user channel's state changes: (monotonic time, previous, current, resumed, code).
        self.channel_changes: list[tuple[float, str, str, bool, int | None]] = []

    async def connect(self) -> None:
        self._realtime = bettor_realtime(self.endpoints, self.user_id, **SDK_OPTIONS)
        self._realtime.connection.on("connected", self._on_connected)
        channels = self._realtime.channels
        self._feed = UserFeed(
            self._realtime, bettor_rest(self.endpoints, self.user_id), self.user_id
        )
        self._feed.on_change(self._on_channel_change)
        await self._feed.subscribe({"outcome": self._on_outcome})
        for race_id in self._race_ids:
            channel = channels.get(odds_channel(race_id), params=ODDS_CHANNEL_PARAMS)
            await channel.subscribe("odds", self._odds_listener(race_id))
        self._bets = channels.get(bets_channel(bets_shard(self.user_id, self._shards)))

    @property
    def gaps_filled(self) -> int:
        return self._feed.gaps_filled if self._feed else 0

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._feed is not None:
            await self._feed.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._realtime.close(), 5)

    def _on_connected(self, _change: Any) -> None:
        self.connections += 1

    def _on_channel_change(self, change: Any) -> None:
        reason = getattr(change, "reason", None)
        self.channel_changes.append(
            (
                time.monotonic(),
                str(getattr(change.previous, "value", change.previous)),
                str(getattr(change.current, "value", change.current)),
                bool(getattr(change, "resumed", False)),
                getattr(reason, "code", None),
            )
        )

    @property
    def state(self) -> str:
        return str(self._realtime.connection.state.value)

    def revive(self) -> None:
        """A page that sees its connection FAILED connects again, as the web page does."""
        if self.state == "failed":
            self.revived += 1
            self._realtime.connect()

    def _on_outcome(self, message: Any) -> None:
        if isinstance(message.data, dict):
            self.heard.outcome(message.data)

    def _odds_listener(self, race_id: str) -> Any:
        def on_odds(message: Any) -> None:
            self.watch.odds(race_id, message.id, message.data)
            data = message.data
            if isinstance(data, dict) and isinstance(data.get("version"), int):
                current = self._latest.get(race_id)
                if current is None or data["version"] > current["version"]:
                    self._latest[race_id] = data

        return on_odds

    async def bet_until(self, stop_at: float, interval_s: float, give_up_at: float) -> None:
        """Place a bet every `interval_s` until `stop_at`; each is retried until `give_up_at`."""
        while time.monotonic() < stop_at:
            await asyncio.sleep(interval_s * self._rng.uniform(0.5, 1.5))  # pacing: the load
            self.revive()
            bet = self._choose() or await self._choose_from_listing()
            if bet is None:
                continue
            await self._in_flight.acquire()
            task = asyncio.create_task(self._place(bet, give_up_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every bet in flight to be ACKed or given up."""
        while self._tasks:
            self.revive()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _choose(self) -> dict[str, Any] | None:
        open_races = sorted(r for r, d in self._latest.items() if d.get("state") == "open")
        if not open_races:
            return None
        seen = self._latest[self._rng.choice(open_races)]
        prices = {str(p[0]): p[1] for p in seen["prices"] if p[1] is not None}
        return self._bet(str(seen["race_id"]), prices, int(seen["version"]))

    async def _choose_from_listing(self) -> dict[str, Any] | None:
        """Before the first odds message arrives (or while none do), the public listing."""
        try:
            listing = await asyncio.to_thread(_get_json, f"{self.endpoints.api_url}/api/races")
        except OSError:
            return None
        races = [
            r
            for r in listing.get("races", [])
            if r["race_id"] in self._race_ids and r["state"] == "open"
        ]
        if not races:
            return None
        race = self._rng.choice(races)
        prices = {r["runner_id"]: r["odds"] for r in race["runners"] if r["odds"] is not None}
        return self._bet(race["race_id"], prices, int(race["version"])) if prices else None

    def _bet(self, race_id: str, prices: dict[str, str], version: int) -> dict[str, Any]:
        runner_id = self._rng.choice(sorted(prices))
        return {
            "bet_id": uuid.UUID(int=self._rng.getrandbits(128)).hex,
            "race_id": race_id,
            "runner_id": runner_id,
            "stake_minor": self._rng.choice(STAKES_MINOR),
            "odds": prices[runner_id],
            "odds_version": version,
            "client_sent_at_ms": time.time_ns() // 1_000_000,
        }

    async def _place(self, bet: dict[str, Any], give_up_at: float) -> None:
        """The same bet id on every attempt: the engine answers a repeat with its first outcome."""
        try:
            delay_s = 0.2
            while time.monotonic() < give_up_at:
                self._ledger.attempted(bet["bet_id"])
                try:
                    await asyncio.wait_for(self._bets.publish("bet", bet), PUBLISH_TIMEOUT_S)
                except TimeoutError:
                    self._ledger.failed("timeout")
                except Exception as error:  # AblyException: a NACK or a failed connection
                    self._ledger.failed(f"error {getattr(error, 'code', type(error).__name__)}")
                else:
                    self._ledger.ack(acked(self.user_id, bet))
                    return
                await asyncio.sleep(delay_s)  # backoff between retries of the same bet
                delay_s = min(delay_s * 2, 2.0)
        finally:
            self._in_flight.release()


def acked(user_id: str, bet: dict[str, Any]) -> AckedBet:
    return AckedBet(
        bet["bet_id"],
        user_id,
        bet["race_id"],
        bet["runner_id"],
        bet["stake_minor"],
        time.monotonic(),
    )


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer
