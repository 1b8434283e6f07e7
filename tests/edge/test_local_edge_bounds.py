"""Memory stays bounded whatever clients do: channels, history, connections, capabilities.

Each test drives the local edge the way a hostile client would and then checks what the
edge keeps. The RSS of a whole serving process is measured in test_edge_memory.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from ably import AblyException, AblyRealtime
from ably.types.tokendetails import TokenDetails

from betting.channels import bets_channel, bets_shard
from betting.edge.local import LocalEdge
from betting.edge.local.testing import (
    ROOT_KEY,
    connected,
    running_edge,
    sdk_clients,
)
from betting.edge.port import OutboundMessage
from tests.edge.raw_client import ATTACHED, CONNECTED, ERROR, bettor_token, raw_socket, read

TIMEOUT_S = 10.0
DETACHED = 13


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


async def eventually(condition: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def send(socket: Any, message: dict[str, Any]) -> None:
    await socket.send(orjson.dumps(message).decode())


async def test_detach_of_any_name_keeps_no_channel(edge: LocalEdge) -> None:
    socket = await raw_socket(edge)
    for index in range(500):
        await send(socket, {"action": 12, "channel": f"race:{index}:{'x' * 1_000}"})
        assert (await read(socket))["action"] == DETACHED
    assert len(edge.hub.channels) == 0
    await socket.close()


@pytest.mark.parametrize(
    "name",
    ["r" * 250_000, "r" * 2_049, "race:\n1", "race:\x001", "race:\x7f", ":race", "[?rewind=1]race"],
    ids=["250KB", "2049", "newline", "nul", "del", "colon", "qualifier"],
)
async def test_a_bad_channel_name_fails_only_that_channel(edge: LocalEdge, name: str) -> None:
    socket = await raw_socket(edge)
    for action in (10, 12):  # ATTACH, DETACH
        await send(socket, {"action": action, "channel": name})
        refused = await read(socket)
        assert refused["action"] == ERROR and refused["channel"] == name
        assert refused["error"]["code"] == 40010
    await send(socket, {"action": 15, "channel": name, "msgSerial": 0, "messages": [{}]})
    nacked = await read(socket)
    assert nacked["action"] == 2 and nacked["error"]["code"] == 40010
    await send(socket, {"action": 10, "channel": "race:fine"})
    assert (await read(socket))["action"] == ATTACHED
    assert edge.hub.channels.peek(name) is None
    await socket.close()


async def test_attach_then_detach_releases_the_channel(edge: LocalEdge) -> None:
    socket = await raw_socket(edge)
    for index in range(500):
        name = f"race:{index}:{'y' * 1_000}"
        await send(socket, {"action": 10, "channel": name})
        assert (await read(socket))["action"] == ATTACHED
        await send(socket, {"action": 12, "channel": name})
        assert (await read(socket))["action"] == DETACHED
    assert len(edge.hub.channels) == 0
    await socket.close()


async def test_a_closed_connection_releases_its_channels(edge: LocalEdge) -> None:
    socket = await raw_socket(edge)
    for index in range(50):
        await send(socket, {"action": 10, "channel": f"race:{index}"})
        assert (await read(socket))["action"] == ATTACHED
    assert len(edge.hub.channels) == 50
    await socket.close()
    await eventually(lambda: len(edge.hub.channels) == 0)


async def test_channels_per_connection_are_bounded() -> None:
    async with running_edge(channels_per_connection_max=5) as edge:
        socket = await raw_socket(edge)
        for index in range(5):
            await send(socket, {"action": 10, "channel": f"race:{index}"})
            assert (await read(socket))["action"] == ATTACHED
        await send(socket, {"action": 10, "channel": "race:one-too-many"})
        refused = await read(socket)
        assert refused["action"] == ERROR and refused["error"]["code"] == 90010
        await send(socket, {"action": 10, "channel": "race:0"})  # a re-attach is fine
        assert (await read(socket))["action"] == ATTACHED
        assert len(edge.hub.channels) == 5
        await socket.close()


async def test_channels_made_by_clients_are_bounded_in_all() -> None:
    async with running_edge(channels_max=10) as edge:
        sockets = [await raw_socket(edge) for _ in range(2)]
        for index in range(10):
            await send(sockets[index % 2], {"action": 10, "channel": f"race:{index}"})
            assert (await read(sockets[index % 2]))["action"] == ATTACHED
        for socket in sockets:
            await send(socket, {"action": 10, "channel": "race:new"})
            refused = await read(socket)
            assert refused["action"] == ERROR and refused["error"]["code"] == 40114
        await send(sockets[1], {"action": 10, "channel": "race:0"})  # an existing channel
        assert (await read(sockets[1]))["action"] == ATTACHED
        # The server's own publishes are never refused.
        await edge.publish("race:from-the-server", [OutboundMessage(name="odds", data="x")])
        assert len(edge.hub.channels) == 11
        for socket in sockets:
            await socket.close()


async def test_open_connections_are_bounded_and_a_refusal_is_an_ably_error() -> None:
    async with running_edge(connections_max=3) as edge:
        sockets = [await raw_socket(edge) for _ in range(3)]
        url = f"ws://127.0.0.1:{edge.port}/?key={ROOT_KEY}&format=json&v=5"
        async with websockets.connect(url) as refused:
            answer = orjson.loads(await asyncio.wait_for(refused.recv(), TIMEOUT_S))
            assert answer["action"] == ERROR and answer["error"]["code"] == 40111
        assert edge.hub.client_errors.by_code[40111] == 1
        await sockets[0].close()
        await eventually(lambda: len(edge.hub.sockets) == 2)
        sockets[0] = await raw_socket(edge)  # room again once one has gone
        for socket in sockets:
            await socket.close()


async def rest_publish(edge: LocalEdge, channel: str, data: str, count: int) -> None:
    auth = httpx.BasicAuth(*ROOT_KEY.split(":"))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}", auth=auth) as client:
        for _ in range(count):
            response = await client.post(f"/channels/{channel}/messages", json={"data": data})
            assert response.status_code == 201


async def test_history_is_bounded_by_bytes() -> None:
    async with running_edge(history_bytes_per_channel=1_000_000) as edge:
        await rest_publish(edge, "inbound:bets:anything", "z" * 60_000, 100)
        channel = edge.hub.channels.peek("inbound:bets:anything")
        assert channel is not None
        assert 0 < channel.history_bytes <= 1_000_000
        assert 10 <= len(channel.history) <= 16


async def test_idle_history_expires_and_the_channel_is_released() -> None:
    async with running_edge(history_retention_ms=1_000, rewind_window_ms_max=1_000) as edge:
        await rest_publish(edge, "race:quiet", "kept a second", 3)
        assert edge.hub.channels.peek("race:quiet") is not None
        await eventually(lambda: edge.hub.channels.peek("race:quiet") is None)


async def test_a_bettor_may_publish_only_on_their_own_shard(edge: LocalEdge) -> None:
    token = await bettor_token(edge, "alice", 4)

    async def callback(_params: dict[str, Any]) -> TokenDetails:
        return token

    realtime = AblyRealtime(
        auth_callback=callback, endpoint=f"127.0.0.1:{edge.port}", tls=False, client_id="alice"
    )
    try:
        own = bets_channel(bets_shard("alice", 4))
        await realtime.channels.get(own).publish("bet", {"bet_id": "b1", "race_id": "r1"})
        for other in ["inbound:bets:9", "inbound:bets:x", "inbound:bets:"] + [
            bets_channel(shard) for shard in range(4) if bets_channel(shard) != own
        ]:
            with pytest.raises(AblyException) as refused:
                await realtime.channels.get(other).publish("bet", {"bet_id": "b2"})
            assert refused.value.code == 40160, other
    finally:
        await realtime.close()
    auth = {"Authorization": "Bearer " + base64.b64encode(token.token.encode()).decode()}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.post("/channels/inbound:bets:9/messages", json={}, headers=auth)
    assert response.status_code == 401 and response.json()["error"]["code"] == 40160
    assert edge.hub.channels.peek("inbound:bets:9") is None


# Connections that never finish: each is closed in the end, with an answer where one is due.


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), TIMEOUT_S)


async def test_half_open_connections_and_slow_heads_are_closed() -> None:
    # Long enough that each partial head arrives within it, however slowly 200 connections
    # open on a loaded machine: a head written after the timeout is a silent connection.
    async with running_edge(http_request_timeout_ms=2_000) as edge:
        streams = []
        for index in range(200):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            if index % 2:  # half of them send part of a head, the rest nothing at all
                writer.write(b"GET /time HTTP/1.1\r\nHost: x\r\n")
            streams.append((reader, writer))
        answers = await asyncio.gather(*(closed_by_server(reader) for reader, _ in streams))
        for index, answer in enumerate(answers):
            if index % 2:
                assert answer.startswith(b"HTTP/1.1 408")
            else:
                assert answer == b""
        for _, writer in streams:
            writer.close()


async def test_a_slow_body_is_closed() -> None:
    async with running_edge(http_request_timeout_ms=300) as edge:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(b"POST /channels/race:1/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 408")
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_answer() -> None:
    async with running_edge(http_request_timeout_ms=300) as edge:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await closed_by_server(reader)
        assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1
        writer.close()


async def websocket_that_never_reads(edge: LocalEdge) -> tuple[asyncio.StreamReader, Any]:
    """A websocket handshake by hand, then silence: no pong, no frame, nothing read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /?key={ROOT_KEY}&format=json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_a_silent_websocket_is_dropped_and_stays_resumable() -> None:
    async with running_edge(heartbeat_interval_ms=200, max_idle_interval_ms=1_000) as edge:
        reader, writer = await websocket_that_never_reads(edge)
        await eventually(lambda: len(edge.hub.sockets) == 1)
        (socket,) = edge.hub.sockets
        connection = socket.connection  # type: ignore[attr-defined]
        await asyncio.wait_for(reader.read(), TIMEOUT_S)  # read to EOF: the edge hung up
        await eventually(lambda: not edge.hub.sockets)
        assert connection.state.value == "disconnected"
        writer.close()


async def test_a_live_client_is_not_dropped_for_silence() -> None:
    """Neither the SDK nor a bare websocket sends anything on its own: their pongs count."""
    async with running_edge(heartbeat_interval_ms=200, max_idle_interval_ms=1_000) as edge:
        socket = await websockets.connect(f"ws://127.0.0.1:{edge.port}/?key={ROOT_KEY}")
        assert (await read(socket))["action"] == CONNECTED
        async with sdk_clients(edge) as (_, realtime):
            await connected(realtime)
            sockets = set(edge.hub.sockets)  # a drop and resume would make new ones
            assert len(sockets) == 2
            # The stimulus, not a wait for nothing: over twice the idle limit with no frame
            # from the clients. The publish below is answered on the same sockets.
            await asyncio.sleep(2.5)
            await realtime.channels.get("race:1").publish("still", "here")
            assert set(edge.hub.sockets) == sockets
        await send(socket, {"action": 10, "channel": "race:1"})
        assert (await read(socket))["action"] == ATTACHED
        await socket.close()
