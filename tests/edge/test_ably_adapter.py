"""The official-SDK adapter of the edge port, tested against the local edge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest
from ably.types.message import Message

from betting.edge.ably_adapter import AblyEdge, AblySettings
from betting.edge.local.testing import ROOT_KEY, running_edge, sdk_clients
from betting.edge.port import InboundMessage, OutboundMessage
from betting.log.memory import MemoryLog
from betting.tasks.bets_in import BetsIn

TIMEOUT_S = 5.0


async def test_ably_adapter_publishes_and_subscribes() -> None:
    async with running_edge() as edge:
        settings = AblySettings(key=ROOT_KEY, endpoint="127.0.0.1", port=edge.port, tls=False)
        inbound: asyncio.Queue[InboundMessage] = asyncio.Queue()

        async def on_bets(messages: Sequence[InboundMessage]) -> None:
            for message in messages:
                inbound.put_nowait(message)

        async with AblyEdge(settings) as port, sdk_clients(edge) as (_, client):
            await port.subscribe("bets:1", on_bets)
            odds: asyncio.Queue[Message] = asyncio.Queue()
            await client.channels.get("race:1").subscribe(odds.put_nowait)

            await port.publish("race:1", [OutboundMessage(name="odds", data={"r1": 250}, id="o-1")])
            received = await asyncio.wait_for(odds.get(), TIMEOUT_S)
            assert (received.name, received.data, received.id) == ("odds", {"r1": 250}, "o-1")

            await client.channels.get("bets:1").publish("bet", {"stake_minor": 100})
            bet = await asyncio.wait_for(inbound.get(), TIMEOUT_S)
            assert (bet.name, bet.data) == ("bet", {"stake_minor": 100})
            assert bet.connection_id and bet.timestamp_ms > 0


async def test_a_restarted_subscriber_recovers_what_was_published_while_it_was_down() -> None:
    """The server's bets-in role over Ably: stopped, then started again, it gets the bets
    published meanwhile from the channel's rewind, in order and once each."""
    async with running_edge() as edge:
        settings = AblySettings(key=ROOT_KEY, endpoint="127.0.0.1", port=edge.port, tls=False)
        inbound: asyncio.Queue[InboundMessage] = asyncio.Queue()

        async def on_bets(messages: Sequence[InboundMessage]) -> None:
            for message in messages:
                inbound.put_nowait(message)

        async with AblyEdge(settings) as server:
            await server.subscribe("inbound:bets:0", on_bets)

        bets = [{"bet_id": f"b-{index}", "race_id": "r-1"} for index in range(5)]
        async with sdk_clients(edge, client_id="punter-1") as (_, bettor):
            for bet in bets:
                # Returns once the edge has ACKed: no handler runs for the channel in process.
                await bettor.channels.get("inbound:bets:0").publish("bet", bet)

        async with AblyEdge(settings) as server:
            await server.subscribe("inbound:bets:0", on_bets)
            got = [await asyncio.wait_for(inbound.get(), TIMEOUT_S) for _ in bets]
            assert [(bet.data, bet.client_id) for bet in got] == [(bet, "punter-1") for bet in bets]

            # A fresh re-attach rewinds again; the adapter skips what it already handed over.
            channel = server._realtime.channels.get("inbound:bets:0")  # type: ignore[union-attr]
            await channel.detach()
            await channel.attach()
            await edge.publish("inbound:bets:0", [OutboundMessage(name="bet", data={"n": 6})])
            assert (await asyncio.wait_for(inbound.get(), TIMEOUT_S)).data == {"n": 6}
            # In order on one channel: a bet handed over twice would come before the marker.
            await edge.publish("inbound:bets:0", [OutboundMessage(name="bet", data={"n": 7})])
            assert (await asyncio.wait_for(inbound.get(), TIMEOUT_S)).data == {"n": 7}
            assert inbound.empty()


async def test_a_refused_message_over_ably_costs_only_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over real Ably the bettor was ACKed already: a bad bet among good ones is counted and
    dropped alone, with no traceback, and the good ones beside it reach the log."""
    log = MemoryLog()
    async with running_edge() as edge:
        settings = AblySettings(key=ROOT_KEY, endpoint="127.0.0.1", port=edge.port, tls=False)
        async with AblyEdge(settings) as server:
            await BetsIn(server, log.producer(), "bets", 1).start()
            async with sdk_clients(edge, client_id="punter-1") as (_, bettor):
                channel = bettor.channels.get("inbound:bets:0")
                bets = [
                    {"bet_id": "b-1", "race_id": "r-1"},
                    {"bet_id": "b-2"},
                    {"bet_id": "b-3", "race_id": "r-1"},
                ]
                await channel.publish([Message(name="bet", data=bet) for bet in bets])
            deadline = asyncio.get_running_loop().time() + TIMEOUT_S
            # Done with all three: b-3, handled after b-2, is logged, and b-2's refusal counted.
            while sum(len(part) for part in log.partitions("bets")) < 2 or not server.client_errors:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)  # a poll interval
        logged = [orjson.loads(r.value)["bet_id"] for part in log.partitions("bets") for r in part]
        assert sorted(logged) == ["b-1", "b-3"]
        assert server.client_errors == {40013: 1}
        assert not [r for r in caplog.records if r.name.startswith("betting") and r.levelno >= 30]
