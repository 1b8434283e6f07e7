"""Bad input fails only the offending connection or channel; everyone else carries on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgpack
import orjson
import pytest
import websockets
from ably.types.message import Message

from betting.edge.local import LocalEdge
from betting.edge.local.testing import ROOT_KEY, running_edge, sdk_clients
from betting.edge.port import OutboundMessage

TIMEOUT_S = 5.0
CONNECTED, ERROR, ATTACHED, NACK = 4, 9, 11, 2


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


async def raw_socket(edge: LocalEdge, wire_format: str = "json") -> Any:
    url = f"ws://127.0.0.1:{edge.port}/?key={ROOT_KEY}&format={wire_format}&v=5"
    socket = await websockets.connect(url)
    connected = await read(socket, wire_format)
    assert connected["action"] == CONNECTED
    return socket


async def read(socket: Any, wire_format: str = "json") -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(socket.recv(), TIMEOUT_S)
        message = msgpack.unpackb(frame) if wire_format == "msgpack" else orjson.loads(frame)
        if message["action"] != 0:  # skip heartbeats
            return dict(message)


GARBAGE = [
    ("json", "this is not json"),
    ("json", b"\x00\x01 binary garbage"),
    ("json", "[1, 2, 3]"),
    ("json", '{"action": 4, "connectionId": "forged"}'),
    ("json", '{"action": 999}'),
    ("json", '{"action": "attach"}'),
    ("json", '{"action": 10}'),
    ("json", '{"action": 15, "channel": "race:1", "messages": []}'),
    ("json", '{"action": 15, "channel": "race:1", "msgSerial": 0, "messages": "nope"}'),
    ("msgpack", b"\xc1\xc1\xc1"),
    ("msgpack", msgpack.packb({"action": 10, "channel": 5})),
]


@pytest.mark.parametrize(("wire_format", "frame"), GARBAGE)
async def test_malformed_frames_fail_only_that_connection(
    edge: LocalEdge, wire_format: str, frame: str | bytes
) -> None:
    async with sdk_clients(edge) as (_, bystander):
        received: asyncio.Queue[Message] = asyncio.Queue()
        await bystander.channels.get("race:1").subscribe(received.put_nowait)
        socket = await raw_socket(edge, wire_format)
        await socket.send(frame)
        answer = await read(socket, wire_format)
        assert answer["action"] == ERROR and "channel" not in answer
        assert answer["error"]["code"] == 40000
        await asyncio.wait_for(socket.wait_closed(), TIMEOUT_S)
        await edge.publish("race:1", [OutboundMessage(name="odds", data="still here")])
        assert (await asyncio.wait_for(received.get(), TIMEOUT_S)).data == "still here"


async def test_bad_message_content_is_nacked_and_the_connection_lives(edge: LocalEdge) -> None:
    socket = await raw_socket(edge)
    bad = {
        "action": 15,
        "channel": "race:1",
        "msgSerial": 0,
        "messages": [{"data": 12j.imag, "encoding": 7}],
    }
    await socket.send(orjson.dumps(bad).decode())
    answer = await read(socket)
    assert answer["action"] == NACK and answer["error"]["code"] == 40013
    await socket.send(orjson.dumps({"action": 10, "channel": "race:1"}).decode())
    assert (await read(socket))["action"] == ATTACHED
    await socket.close()


async def test_refused_attach_fails_only_that_channel(edge: LocalEdge) -> None:
    async with running_edge() as restricted:
        url = f"ws://127.0.0.1:{restricted.port}/?key=test.bettor:bettor-secret&format=json"
        async with websockets.connect(url) as socket:
            assert (await read(socket))["action"] == CONNECTED
            await socket.send(orjson.dumps({"action": 10, "channel": "admin:1"}).decode())
            refused = await read(socket)
            assert refused["action"] == ERROR and refused["channel"] == "admin:1"
            await socket.send(orjson.dumps({"action": 10, "channel": "race:1"}).decode())
            assert (await read(socket))["action"] == ATTACHED


async def test_bad_credentials_are_refused(edge: LocalEdge) -> None:
    url = f"ws://127.0.0.1:{edge.port}/?key=test.root:wrong&format=json"
    async with websockets.connect(url) as socket:
        refused = await read(socket)
        assert refused["action"] == ERROR and refused["error"]["code"] == 40101


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [
        (
            "POST",
            "/channels/race:1/messages",
            b"{not json",
            {"content-type": "application/json"},
            400,
            40000,
        ),
        (
            "POST",
            "/channels/race:1/messages",
            b"\xc1",
            {"content-type": "application/x-msgpack"},
            400,
            40000,
        ),
        ("POST", "/channels/race:1/messages", b"[1, 2]", {}, 400, 40000),
        ("POST", "/keys/test.root/requestToken", b'"a string"', {}, 400, 40000),
        (
            "POST",
            "/keys/test.root/requestToken",
            b'{"keyName": "test.root", "nonce": "n", "timestamp": 1, "mac": "bad"}',
            {},
            401,
            40101,
        ),
        ("POST", "/keys/nobody/requestToken", b"{}", {}, 404, 40400),
        ("GET", "/nowhere", b"", {}, 404, 40400),
        ("GET", "/channels/race:1/messages?limit=lots", b"", {}, 400, 40003),
    ],
)
async def test_garbage_rest_requests_get_ably_errors(
    edge: LocalEdge,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: int,
) -> None:
    auth = httpx.BasicAuth(*ROOT_KEY.split(":"))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}", auth=auth) as client:
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == code
        assert (await client.get("/time")).status_code == 200, "the edge carries on"


async def test_unauthenticated_rest_publish_is_refused(edge: LocalEdge) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.post("/channels/race:1/messages", json={"data": "x"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 40101
