"""Bad input fails only the offending connection or channel; everyone else carries on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgpack
import orjson
import pytest
import websockets
from ably import AblyException
from ably.types.message import Message

from betting.edge.local import LocalEdge
from betting.edge.local.testing import ROOT_KEY, running_edge, sdk_clients
from betting.edge.port import OutboundMessage
from betting.edge.token_request import signed_token_request
from tests.edge.raw_client import ATTACHED, CONNECTED, ERROR, NACK, raw_socket, read

TIMEOUT_S = 5.0


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


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


# Malformed numbers and values in what a client sends: each is refused with a 400xx code on
# the channel, as a NACK or as a 400, and the connection (and every other) carries on.

HOSTILE_NUMBERS = ["²", "١٢", "1²", "①", "9" * 5_000, "0x10", "1_000", "7\x00"]


@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
async def test_a_hostile_rewind_limit_fails_only_that_channel(edge: LocalEdge, value: str) -> None:
    async with sdk_clients(edge) as (_, realtime):
        params = {"rewind": "1m", "rewindLimit": value}
        with pytest.raises(AblyException) as refused:
            await realtime.channels.get("race:1", params=params).attach()
        assert refused.value.code == 40003
        await realtime.channels.get("race:2").attach()


@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
async def test_a_hostile_rewind_fails_only_that_channel(edge: LocalEdge, value: str) -> None:
    async with sdk_clients(edge) as (_, realtime):
        with pytest.raises(AblyException) as refused:
            await realtime.channels.get("race:1", params={"rewind": value}).attach()
        assert refused.value.code == 40003
        await realtime.channels.get("race:2").attach()


@pytest.mark.parametrize("suffix", ["²", "1²", "9" * 5_000, "", "-7", "1.5", "x"])
async def test_a_malformed_channel_serial_fails_only_that_channel(
    edge: LocalEdge, suffix: str
) -> None:
    socket = await raw_socket(edge)
    await socket.send(orjson.dumps({"action": 10, "channel": "race:1"}).decode())
    attached = await read(socket)
    epoch = attached["channelSerial"].partition(":")[0]
    resume = {"action": 10, "channel": "race:1", "channelSerial": f"{epoch}:{suffix}"}
    await socket.send(orjson.dumps(resume).decode())
    refused = await read(socket)
    assert refused["action"] == ERROR and refused["channel"] == "race:1"
    assert refused["error"]["code"] == 40003
    await socket.send(orjson.dumps({"action": 10, "channel": "race:2"}).decode())
    assert (await read(socket))["action"] == ATTACHED
    await socket.close()


UNREADABLE_MESSAGES = [
    {"data": {"nested": b"\x00binary"}},
    {"data": [b"\x00"]},
    {"data": {1: "integer key"}},
    {"data": {(1, 2): "array key"}},
    {"data": msgpack.Timestamp(1, 2)},
    {"data": {"at": msgpack.Timestamp(1, 2)}},
    {"data": msgpack.ExtType(7, b"x")},
    {"data": "x", "extras": {"headers": {"raw": b"\xff"}}},
    {"data": "x", "extras": {5: 1}},
    {"data": "x", "extras": {"at": msgpack.Timestamp(1, 2)}},
    {"data": "x", "extras": {(1,): 1}},
    {"data": "not base64!", "encoding": "base64"},
    {"data": "éé==", "encoding": "base64"},
    {"data": "x", "encoding": "json/" * 100},
]


@pytest.mark.parametrize("bad", UNREADABLE_MESSAGES, ids=repr)
async def test_an_unreadable_msgpack_message_is_nacked_and_nothing_else_notices(
    edge: LocalEdge, bad: dict[Any, Any]
) -> None:
    async with sdk_clients(edge) as (_, bystander):
        received: asyncio.Queue[Message] = asyncio.Queue()
        await bystander.channels.get("race:1").subscribe(received.put_nowait)
        socket = await raw_socket(edge, "msgpack")
        publish = {"action": 15, "channel": "race:1", "msgSerial": 0, "messages": [bad]}
        await socket.send(msgpack.packb(publish, use_bin_type=True))
        answer = await read(socket, "msgpack")
        assert answer["action"] == NACK and answer["error"]["code"] == 40013
        good = {"action": 15, "channel": "race:1", "msgSerial": 1, "messages": [{"data": "ok"}]}
        await socket.send(msgpack.packb(good, use_bin_type=True))
        assert (await read(socket, "msgpack"))["action"] == 1  # ACK: the connection lives
        assert (await asyncio.wait_for(received.get(), TIMEOUT_S)).data == "ok"
        await socket.close()


async def test_a_publish_of_more_messages_than_the_rate_allows_is_refused_unread(
    edge: LocalEdge,
) -> None:
    socket = await raw_socket(edge)
    flood = {"action": 15, "channel": "race:1", "msgSerial": 0, "messages": [{}] * 60_000}
    await socket.send(orjson.dumps(flood).decode())
    answer = await read(socket)
    assert answer["action"] == NACK and answer["error"]["code"] == 42910
    await socket.close()


async def test_not_base64_over_json_is_nacked(edge: LocalEdge) -> None:
    socket = await raw_socket(edge)
    for serial, data in enumerate(["not base64!", "ü=="]):
        bad = {"data": data, "encoding": "utf-8/base64"}
        publish = {"action": 15, "channel": "race:1", "msgSerial": serial, "messages": [bad]}
        await socket.send(orjson.dumps(publish).decode())
        answer = await read(socket)
        assert answer["action"] == NACK and answer["error"]["code"] == 40013
    await socket.close()


async def test_a_map_key_that_is_an_array_in_the_protocol_message_fails_the_connection(
    edge: LocalEdge,
) -> None:
    """Not a message's content but the protocol message itself: a malformed frame (40000)."""
    socket = await raw_socket(edge, "msgpack")
    await socket.send(msgpack.packb({"action": 15, (1, 2): 3}, use_bin_type=True))
    answer = await read(socket, "msgpack")
    assert answer["action"] == ERROR and answer["error"]["code"] == 40000
    await asyncio.wait_for(socket.wait_closed(), TIMEOUT_S)


async def raw_http(edge: LocalEdge, request: bytes) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), TIMEOUT_S)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


@pytest.mark.parametrize("length", ["²", "١٢", "1" * 5_000, "-1", "+5", "5, 5"])
async def test_a_hostile_content_length_gets_an_ably_error(edge: LocalEdge, length: str) -> None:
    request = (
        f"POST /channels/race:1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
    )
    status, body = await raw_http(edge, request.encode())
    assert status == 400 and body["error"]["code"] == 40008
    assert (await raw_http(edge, b"GET /time HTTP/1.1\r\nConnection: close\r\n\r\n"))[0] == 200


async def test_a_head_over_the_limit_in_one_read_is_refused(edge: LocalEdge) -> None:
    padding = "a" * 17_000
    request = f"GET /time HTTP/1.1\r\nX-Padding: {padding}\r\nConnection: close\r\n\r\n"
    status, body = await raw_http(edge, request.encode())
    assert status == 400 and body["error"]["code"] == 40000


@pytest.mark.parametrize(
    "request_line",
    [b"GET //[::1/time HTTP/1.1", b"GET http://[x/ HTTP/1.1", b"GET /time HTTP/2.0"],
)
async def test_an_unreadable_request_line_gets_an_ably_error(
    edge: LocalEdge, request_line: bytes
) -> None:
    status, body = await raw_http(edge, request_line + b"\r\nHost: x\r\n\r\n")
    assert status == 400 and body["error"]["code"] == 40000


async def test_a_broken_websocket_upgrade_gets_an_ably_error(edge: LocalEdge) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    status, body = await raw_http(edge, request)
    assert status == 400 and body["error"]["code"] == 40000


def packed(value: object) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


MSGPACK = {"content-type": "application/x-msgpack"}
HOSTILE_REST = [
    ("GET", "/channels/race:1/messages?limit=%C2%B2", b"", {}, 400, 40003),
    ("GET", "/channels/race:1/messages?limit=" + "9" * 5_000, b"", {}, 400, 40003),
    ("GET", "/channels/race:1/messages?limit=0", b"", {}, 400, 40003),
    ("GET", "/channels/race:1/messages?direction=sideways", b"", {}, 400, 40003),
    ("GET", "/channels/%0Arace/messages", b"", {}, 400, 40010),
    ("GET", "/channels/" + "r" * 3_000 + "/messages", b"", {}, 400, 40010),
    ("POST", "/channels/race:1/messages", packed({"data": {(1, 2): 3}}), MSGPACK, 400, 40013),
    ("POST", "/channels/race:1/messages", packed({"data": {1: 3}}), MSGPACK, 400, 40013),
    (
        "POST",
        "/channels/race:1/messages",
        packed({"data": "x", "extras": {"t": msgpack.Timestamp(1, 2)}}),
        MSGPACK,
        400,
        40013,
    ),
    (
        "POST",
        "/channels/race:1/messages",
        bytes(msgpack.packb({"data": {b"\xff": 1}}, use_bin_type=False)),
        MSGPACK,
        400,
        40013,
    ),
    (
        "POST",
        "/channels/race:1/messages",
        b'{"data": "no base64 here", "encoding": "base64"}',
        {},
        400,
        40013,
    ),
    ("POST", "/channels/race:1/messages", b"[{}" + b", {}" * 1_000 + b"]", {}, 400, 40000),
    # 1,000 nested arrays (msgpack itself refuses 1,024) around a string that is not UTF-8,
    # as ably-python packs binary: refused, not a RecursionError while made text again.
    (
        "POST",
        "/channels/race:1/messages",
        b"\x81\xa4data" + b"\x91" * 1_000 + b"\xa1\xff",
        MSGPACK,
        400,
        40013,
    ),
    (
        "POST",
        "/channels/race:1/messages",
        b'{"data": "x", "id": "' + b"i" * 300 + b'"}',
        {},
        400,
        40031,
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), HOSTILE_REST)
async def test_hostile_rest_requests_get_ably_errors(
    edge: LocalEdge,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: int,
) -> None:
    await test_garbage_rest_requests_get_ably_errors(
        edge, method, path, body, headers, status, code
    )


async def test_a_non_ascii_authorization_header_is_refused_not_failed(edge: LocalEdge) -> None:
    request = (
        b"GET /channels/race:1/messages HTTP/1.1\r\nAuthorization: Basic \xe9\xe9\r\n"
        b"Connection: close\r\n\r\n"
    )
    status, body = await raw_http(edge, request)
    assert status == 404 and body["error"]["code"] == 40400  # no such key


@pytest.mark.parametrize("ttl", ["²", "9" * 5_000, "-5", "0"])
async def test_a_hostile_token_ttl_is_refused(edge: LocalEdge, ttl: str) -> None:
    now_ms = time.time_ns() // 1_000_000  # a current TokenRequest: only its ttl is wrong
    token_request = signed_token_request(ROOT_KEY, "alice", {"*": ["*"]}, now_ms, ttl)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.post("/keys/test.root/requestToken", json=token_request)
    assert response.status_code == 400 and response.json()["error"]["code"] == 40003


async def test_an_oversized_frame_is_closed_with_1009_and_the_client_may_finish_sending(
    edge: LocalEdge,
) -> None:
    """The edge fails the connection with 1009, then half-closes and keeps reading: a client
    still sending when the close frame left must not be answered with a reset, which would
    discard the close frame unread (RFC 6455 section 7.1.1)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(
        f"GET /?key={ROOT_KEY}&format=json&v=5 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    oversized = 300_000
    header = bytes([0x81, 0xFF]) + oversized.to_bytes(8, "big") + b"\x00" * 4  # masked, key 0
    writer.write(header + b"x" * oversized)
    await writer.drain()
    received = b""
    while b"\x88" not in received:  # the close frame: the edge read the header and failed it
        chunk = await asyncio.wait_for(reader.read(65_536), TIMEOUT_S)
        assert chunk, f"closed without a close frame: {received!r}"
        received += chunk
    ping = bytes([0x89, 0x80]) + b"\x00" * 4
    for _ in range(20):  # still sending, as a client that has not read the close yet
        writer.write(ping)
        await writer.drain()
    while chunk := await asyncio.wait_for(reader.read(65_536), TIMEOUT_S):
        received += chunk  # a reset would raise ConnectionResetError here
    close = received[received.rindex(b"\x88") :]
    assert int.from_bytes(close[2:4], "big") == 1009
    writer.close()
