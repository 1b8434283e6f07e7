"""Channel `rewind` on the local edge, driven by the official Python SDK as Ably's would be."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest
from ably import AblyException
from ably.types.message import Message

from betting.channels import ODDS_CHANNEL_PARAMS, odds_channel
from betting.edge.local import LocalEdge
from betting.edge.local import channel as channel_module
from betting.edge.local.auth import now_ms
from betting.edge.local.protocol import Flag
from betting.edge.local.rewind import Rewind, rewind_backlog
from betting.edge.local.testing import connection_id, edge_settings, running_edge, sdk_clients
from betting.edge.port import OutboundMessage
from tests.edge.raw_client import ATTACHED, raw_socket, read

TIMEOUT_S = 5.0
# Long enough for a frame on the loopback to arrive, were one (wrongly) on its way.


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


async def publish(edge: LocalEdge, channel: str, *batches: Sequence[str]) -> None:
    """Each batch is one publish (one history entry) of text messages."""
    for batch in batches:
        await edge.publish(channel, [OutboundMessage(name="m", data=text) for text in batch])


async def publish_at(
    edge: LocalEdge, monkeypatch: pytest.MonkeyPatch, age_ms: int, channel: str, text: str
) -> None:
    """Publish as if received `age_ms` ago, by the edge's own clock."""
    received = now_ms() - age_ms
    with monkeypatch.context() as patch:
        patch.setattr(channel_module, "now_ms", lambda: received)
        await publish(edge, channel, [text])


async def rewound(
    edge: LocalEdge, channel: str, params: dict[str, str], *, binary: bool = True
) -> list[str]:
    """Attach with `params`, publish a live marker, and answer everything up to it."""
    async with sdk_clients(edge, use_binary_protocol=binary) as (_, realtime):
        queue: asyncio.Queue[Message] = asyncio.Queue()
        await realtime.channels.get(channel, params=params).subscribe(queue.put_nowait)
        assert realtime.channels.get(channel).params == params
        await publish(edge, channel, ["live"])
        got: list[str] = []
        while not got or got[-1] != "live":
            got.append((await asyncio.wait_for(queue.get(), TIMEOUT_S)).data)
        return got[:-1]


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_rewind_by_count_sends_the_newest_in_order_then_live(
    edge: LocalEdge, binary: bool
) -> None:
    cases = {"3": ["c", "d", "e"], "1": ["e"], "0": [], "50": ["a", "b", "c", "d", "e"]}
    for rewind, expected in cases.items():
        # A channel each: the live marker of one case would be history to the next.
        name = f"race:{rewind}"
        await publish(edge, name, ["a"], ["b", "c", "d"], ["e"])
        assert await rewound(edge, name, {"rewind": rewind}, binary=binary) == expected
    assert await rewound(edge, "race:empty", {"rewind": "10"}, binary=binary) == []


async def test_rewind_by_time_sends_what_the_span_received(
    edge: LocalEdge, monkeypatch: pytest.MonkeyPatch
) -> None:
    recent = ["a minute ago", "now", "now too"]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"rewind": "30s"}, ["now", "now too"]),
        ({"rewind": "2m"}, recent),
        # Ably keeps 2 minutes without persisted history: longer spans and counts stop there.
        ({"rewind": "5m"}, recent),
        ({"rewind": "100"}, recent),
        ({"rewind": "2m", "rewindLimit": "1"}, ["now too"]),
    ]
    for index, (params, expected) in enumerate(cases):
        name = f"race:{index}"
        await publish_at(edge, monkeypatch, 180_000, name, "3 minutes ago")
        await publish_at(edge, monkeypatch, 60_000, name, "a minute ago")
        await publish(edge, name, ["now"], ["now too"])
        assert await rewound(edge, name, params) == expected


async def test_rewind_sends_at_most_100_messages(edge: LocalEdge) -> None:
    expected = [str(index) for index in range(50, 150)]
    for rewind in ("2m", "1000"):
        name = f"race:{rewind}"
        await publish(edge, name, [str(index) for index in range(60)])
        await publish(edge, name, [str(index) for index in range(60, 150)])
        assert await rewound(edge, name, {"rewind": rewind}) == expected


async def test_rewind_is_bounded_by_the_channel_history() -> None:
    async with running_edge(history_per_channel=3) as edge:
        await publish(edge, "race:1", ["a"], ["b"], ["c"], ["d"])
        assert await rewound(edge, "race:1", {"rewind": "10"}) == ["b", "c", "d"]


@pytest.mark.parametrize("value", ["abc", "-1", "1h", "1.5", "2 m", ""])
async def test_a_bad_rewind_fails_the_attach(edge: LocalEdge, value: str) -> None:
    async with sdk_clients(edge) as (_, realtime):
        with pytest.raises(AblyException) as refused:
            await realtime.channels.get("race:1", params={"rewind": value}).attach()
        assert refused.value.code == 40003
        # The connection carries on: other channels still attach.
        await realtime.channels.get("race:2").attach()


async def test_a_bad_rewind_limit_fails_the_attach(edge: LocalEdge) -> None:
    async with sdk_clients(edge) as (_, realtime):
        params = {"rewind": "1m", "rewindLimit": "many"}
        with pytest.raises(AblyException) as refused:
            await realtime.channels.get("race:1", params=params).attach()
        assert refused.value.code == 40003


async def test_a_resumed_attach_replays_what_it_missed_and_does_not_rewind_again(
    edge: LocalEdge,
) -> None:
    await publish(edge, "race:1", ["old 1"], ["old 2"])
    async with sdk_clients(edge) as (_, realtime):
        queue: asyncio.Queue[Message] = asyncio.Queue()
        channel = realtime.channels.get("race:1", params={"rewind": "2"})
        await channel.subscribe(queue.put_nowait)
        assert [(await asyncio.wait_for(queue.get(), TIMEOUT_S)).data for _ in range(2)] == [
            "old 1",
            "old 2",
        ]
        resumed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_connected(_change: object) -> None:
            if not resumed.done():
                resumed.set_result(None)

        realtime.connection.on("connected", on_connected)
        assert edge.drop_connection(connection_id(realtime)) == 1
        await publish(edge, "race:1", ["while away"])
        await asyncio.wait_for(resumed, TIMEOUT_S)
        assert (await asyncio.wait_for(queue.get(), TIMEOUT_S)).data == "while away"
        # One connection delivers in order: a second rewind would come before the marker.
        await publish(edge, "race:1", ["marker"])
        assert (await asyncio.wait_for(queue.get(), TIMEOUT_S)).data == "marker"
        assert queue.empty()


async def test_rewind_truncation_is_reported(edge: LocalEdge) -> None:
    """The SDK drops ATTACHED's error on a first attach, so this checks the edge directly."""
    await publish(edge, "race:1", [str(index) for index in range(5)])
    channel = edge.hub.channels.get("race:1")
    since = now_ms() - 60_000
    capped = rewind_backlog(channel, Rewind(since_ms=since, limit=3, capped=True))
    assert capped.truncated and [first for _, first in capped.parts] == [2]
    asked = rewind_backlog(channel, Rewind(since_ms=since, limit=3, capped=False))
    assert not asked.truncated
    everything = rewind_backlog(channel, Rewind(since_ms=since, limit=100, capped=True))
    assert not everything.truncated and [first for _, first in everything.parts] == [0]


ATTACH, MESSAGE = 10, 15


@pytest.mark.parametrize(("params", "expected"), [({"rewind": "2"}, ["old 2", "old 3"]), ({}, [])])
async def test_a_reattach_the_edge_cannot_resume_gets_its_rewind(
    edge: LocalEdge, params: dict[str, str], expected: list[str]
) -> None:
    """A channel serial from before the edge restarted (another epoch) cannot be resumed:
    the rewind the client attached with is the continuity the rebuilt history still gives;
    without one, nothing is replayed."""
    await publish(edge, "race:1", ["old 1"], ["old 2"], ["old 3"])
    socket = await raw_socket(edge)
    await socket.send(orjson.dumps({
        "action": ATTACH, "channel": "race:1", "params": params,
        "channelSerial": "gone-epoch:7", "flags": int(Flag.ATTACH_RESUME),
    }).decode())  # fmt: skip
    assert (await read(socket))["action"] == ATTACHED
    await publish(edge, "race:1", ["live"])
    got: list[str] = []
    while not got or got[-1] != "live":
        message = await read(socket)
        if message["action"] == MESSAGE:
            got += [m["data"] for m in message["messages"]]
    assert got[:-1] == expected
    await socket.close()


async def test_a_watcher_hears_the_newest_odds_after_the_edge_restarts_without_new_ones() -> None:
    """The edge dies; the odds move once more while it is down (its successor rebuilds them
    from the log), then stop. The watcher's re-attach cannot resume on the new edge, and
    with the odds params it starts from the newest message rather than wait for another."""
    name = odds_channel("race-1")
    async with contextlib.AsyncExitStack() as stack:
        edge = await stack.enter_async_context(running_edge())
        restarted = LocalEdge(edge_settings(port=edge.port))
        stack.push_async_callback(restarted.stop)
        _, realtime = await stack.enter_async_context(
            sdk_clients(edge, disconnected_retry_timeout=100)
        )
        queue: asyncio.Queue[Message] = asyncio.Queue()
        await realtime.channels.get(name, params=ODDS_CHANNEL_PARAMS).subscribe(queue.put_nowait)
        await publish(edge, name, ["version 1"])
        assert (await asyncio.wait_for(queue.get(), TIMEOUT_S)).data == "version 1"
        await edge.stop()
        await publish(restarted, name, ["version 1"], ["version 2"])  # rebuilt from the log
        await restarted.start()
        heard = await asyncio.wait_for(queue.get(), 4 * TIMEOUT_S)
        assert heard.data == "version 2"
