"""The bettor's feed of their own channel across a continuity loss, on the official SDK.

A network outage longer than the connection's state TTL suspends the SDK's channels and
clears their serials (RTP5a1). The re-attach then carries ATTACH_RESUME and no serial, so
neither a resume nor a rewind brings back what was published meanwhile: Ably's answer is the
channel's history, which `UserFeed` reads. A plain subscriber beside it shows the gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ably import AblyRest
from ably.transport.defaults import Defaults

from betting.channels import user_channel
from betting.client import UserFeed
from betting.edge.ably_adapter import AblySettings, ably_clients
from betting.edge.local import LocalEdge
from betting.edge.local.testing import ROOT_KEY, running_edge
from betting.edge.port import OutboundMessage
from tests.edge.tcp_cut import CuttableLink

TIMEOUT_S = 10.0
USER = "alice"
# The SDK suspends a connection it could not resume for this long (Ably's is 2 minutes):
# shortened in this client so the outage takes seconds.
STATE_TTL_MS = 1_500


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


async def outcome(edge: LocalEdge, bet_id: str) -> None:
    message = OutboundMessage(name="outcome", data={"bet_id": bet_id}, id=f"results:0:{bet_id}")
    await edge.publish(user_channel(USER), [message])


async def wait_for(predicate: Any, what: str) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_an_outcome_published_while_suspended_is_recovered_from_history(
    edge: LocalEdge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Defaults, "connection_state_ttl", STATE_TTL_MS)
    link = CuttableLink(edge.port)
    await link.start()
    _, realtime = ably_clients(
        AblySettings(key=ROOT_KEY, endpoint="127.0.0.1", port=link.port, tls=False),
        disconnected_retry_timeout=300,
        suspended_retry_timeout=500,
        channel_retry_timeout=300,
    )
    rest = AblyRest(key=ROOT_KEY, endpoint="127.0.0.1", port=edge.port, tls=False,
                    use_token_auth=True)  # fmt: skip
    heard: list[str] = []
    plain: list[str] = []
    try:
        feed = UserFeed(realtime, rest, USER)
        states: list[str] = []
        feed.on_change(lambda change: states.append(str(change.current.value)))
        await feed.subscribe({"outcome": lambda message: heard.append(message.data["bet_id"])})
        # Beside the feed, on the same channel: what a subscriber without it hears.
        channel = realtime.channels.get(user_channel(USER))
        await channel.subscribe("outcome", lambda message: plain.append(message.data["bet_id"]))

        await outcome(edge, "bet-1")
        await wait_for(lambda: heard == ["bet-1"], "bet-1 live")

        await link.cut()
        await wait_for(lambda: "suspended" in states, "the channel to be suspended")
        await outcome(edge, "bet-2")  # published while the bettor cannot hear it
        await link.restore()

        await wait_for(lambda: states[-1] == "attached", "the channel to attach again")
        await outcome(edge, "bet-3")
        await wait_for(lambda: sorted(heard) == ["bet-1", "bet-2", "bet-3"], "every outcome")
        assert feed.gaps_filled >= 1  # a loaded machine may see the channel suspend twice
        # Exactly once each, by message id, though history held bet-1 and bet-3 as well.
        assert sorted(heard) == ["bet-1", "bet-2", "bet-3"]
        # Without the feed the gap stays: the edge, as Ably, neither resumed nor rewound.
        await wait_for(lambda: "bet-3" in plain, "bet-3 at the plain subscriber")
        assert plain == ["bet-1", "bet-3"]
    finally:
        await feed.close()
        await realtime.close()
        await rest.close()
        await link.cut()
