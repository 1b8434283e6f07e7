"""A normal bettor on the official ably SDK: signs in, watches a fresh open race, bets, and
must hear the outcome on their own channel. Proof that serve still does its job."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from ably.types.message import Message

from betting.channels import bets_channel, bets_shard, odds_channel, user_channel
from betting.client import BettorEndpoints, bettor_realtime
from tests.fuzz.serve_under_test import BET_SHARDS, Serve, open_race

TIMEOUT_S = 20.0
_races = itertools.count()


def check_bettor(serve: Serve, label: str) -> str | None:
    """None when a bet placed the normal way is accepted and its outcome heard; else why not."""
    race_id = f"check-{label}-{next(_races)}"
    try:
        open_race(serve, race_id)
        return asyncio.run(asyncio.wait_for(_bet_and_hear(serve, race_id), TIMEOUT_S * 2))
    except Exception as error:  # the check reports; the campaign records it as a crash
        return f"{type(error).__name__}: {error}"


async def _bet_and_hear(serve: Serve, race_id: str) -> str | None:
    user_id = f"bettor-{uuid.uuid4().hex[:8]}"
    endpoints = BettorEndpoints(serve.api, "127.0.0.1", serve.edge_port, tls=False)
    realtime = bettor_realtime(endpoints, user_id)
    try:
        odds: asyncio.Queue[Message] = asyncio.Queue()
        outcomes: asyncio.Queue[Message] = asyncio.Queue()
        odds_feed = realtime.channels.get(odds_channel(race_id), params={"rewind": "1"})
        await odds_feed.subscribe(odds.put_nowait)
        await realtime.channels.get(user_channel(user_id)).subscribe(outcomes.put_nowait)
        snapshot = await _open_snapshot(odds)
        bet = {
            "bet_id": uuid.uuid4().hex,
            "race_id": race_id,
            "runner_id": "car-2",
            "stake_minor": 1_000,
            "odds": dict(snapshot["prices"])["car-2"],
            "odds_version": snapshot["version"],
            "client_sent_at_ms": 1,
        }
        shard = bets_channel(bets_shard(user_id, BET_SHARDS))
        await realtime.channels.get(shard).publish("bet", bet)
        while True:
            message = await asyncio.wait_for(outcomes.get(), TIMEOUT_S)
            data = message.data
            if isinstance(data, dict) and data.get("bet_id") == bet["bet_id"]:
                if data.get("status") != "accepted":
                    return f"a good bet was answered {data}"
                return None
    finally:
        await realtime.close()


async def _open_snapshot(odds: asyncio.Queue[Message]) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(odds.get(), TIMEOUT_S)
        if isinstance(message.data, dict) and message.data.get("state") == "open":
            return message.data
