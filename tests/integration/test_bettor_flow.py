"""A bettor end to end, through the official ably SDK, on the real Kafka broker.

serve runs on Kafka with its local edge. The bettor signs in at /auth/token, watches a race's
odds with deltas, places bets over the same connection, and hears each outcome on their own
channel; the odds move after an accepted bet.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ably import AblyRealtime
from ably.types.message import Message
from ably.util.exceptions import AblyException

from betting.channels import bets_channel, bets_shard, odds_channel, user_channel
from betting.client import BettorEndpoints, bettor_realtime
from betting.domain.money import Odds
from tests.integration.kafka_pipeline import (
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
)
from tests.support.serve_process import free_port, start_serve, wait_http

READY_S = 90.0  # a loaded machine's broker and serve can take a while

pytestmark = pytest.mark.kafka
TIMEOUT_S = 30
SHARDS = 4


@pytest.fixture
async def served(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[BettorEndpoints]:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    http_port, edge_port = free_port(), free_port()
    event_log = await open_log(settings)
    await event_log.producer().send(race_commands(settings, ["race-a"]))
    process = start_serve(
        {
            **env,
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_EDGE__BET_SHARDS": str(SHARDS),
        }
    )
    try:
        # Ready: the edge lets clients in once its forwarders have replayed the log.
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http_port}/readyz", READY_S)
        yield BettorEndpoints(f"http://127.0.0.1:{http_port}", "127.0.0.1", edge_port, tls=False)
    finally:
        process.terminate()
        process.wait(30)
        await event_log.stop()


async def subscribed(realtime: AblyRealtime, channel: str, **params: str) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    options = {"params": params} if params else {}
    await realtime.channels.get(channel, **options).subscribe(queue.put_nowait)
    return queue


async def next_data(queue: asyncio.Queue[Message]) -> dict[str, Any]:
    message = await asyncio.wait_for(queue.get(), TIMEOUT_S)
    assert isinstance(message.data, dict)
    return message.data


def bet(seen: dict[str, Any], runner: str, **fields: object) -> dict[str, object]:
    prices = dict(seen["prices"])
    return {
        "bet_id": uuid.uuid4().hex,
        "race_id": "race-a",
        "runner_id": runner,
        "stake_minor": 1_000,
        "odds": prices[runner],
        "odds_version": seen["version"],
        "client_sent_at_ms": 1,
        **fields,
    }


async def test_a_bettor_watches_odds_bets_and_hears_outcomes(served: BettorEndpoints) -> None:
    realtime = bettor_realtime(served, "alice")
    try:
        # rewind=1: the race's odds may have gone out before this client attached.
        odds = await subscribed(realtime, odds_channel("race-a"), delta="vcdiff", rewind="1")
        outcomes = await subscribed(realtime, user_channel("alice"))
        bets = realtime.channels.get(bets_channel(bets_shard("alice", SHARDS)))
        first = await next_data(odds)
        while first["state"] != "open":
            first = await next_data(odds)

        prices = dict(first["prices"])
        runner = min(prices, key=lambda r: Odds.parse(prices[r]))  # the favourite moves first
        placed = bet(first, runner, stake_minor=2_000_000)  # enough to move its price a tick
        await bets.publish("bet", placed)  # returns on ACK: the bet is in the log
        outcome = await next_data(outcomes)
        assert (outcome["bet_id"], outcome["status"]) == (placed["bet_id"], "accepted")
        assert outcome["odds"] == placed["odds"] and outcome["user_id"] == "alice"

        moved = await next_data(odds)
        assert int(moved["version"]) > int(first["version"])
        assert Odds.parse(dict(moved["prices"])[runner]) < Odds.parse(str(placed["odds"]))

        stale = bet(first, runner, odds=str(placed["odds"]))  # the price before it moved
        await bets.publish("bet", stale)
        refused = await next_data(outcomes)
        assert (refused["bet_id"], refused["reason"]) == (stale["bet_id"], "ODDS_CHANGED")
        assert refused["odds"] == dict(moved["prices"])[runner]

        broken = bet(moved, "car-1", stake_minor="lots")
        await bets.publish("bet", broken)
        invalid = await next_data(outcomes)
        assert (invalid["bet_id"], invalid["reason"]) == (broken["bet_id"], "INVALID")
        assert "stake_minor" in str(invalid["detail"])
    finally:
        await realtime.close()


async def test_the_edge_refuses_what_a_bettor_may_not_do(served: BettorEndpoints) -> None:
    realtime = bettor_realtime(served, "bob")
    try:
        with pytest.raises(AblyException):  # not bob's channel
            await realtime.channels.get(user_channel("alice")).attach()
        with pytest.raises(AblyException):  # bettors may not publish odds
            await realtime.channels.get(odds_channel("race-a")).publish("odds", {"forged": 1})
        bets = realtime.channels.get(bets_channel(bets_shard("bob", SHARDS)))
        with pytest.raises(AblyException):  # not a bet envelope: refused with the reason
            await bets.publish("bet", "not an object")
        with pytest.raises(AblyException):
            await bets.publish("bet", {"race_id": "race-a"})  # no bet id
    finally:
        await realtime.close()
