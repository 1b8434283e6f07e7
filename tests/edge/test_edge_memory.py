"""The RSS of a serving process stays flat under hostile clients.

`python -m betting serve` runs in its own process with its local edge. A bettor with a normal
token then sends tens of megabytes of what used to be kept for ever: attach and detach of
thousands of long odds channel names, detach of 250 KB names, REST publishes to bet channels
that are no shard, and 600 connections that never finish their request. The process's RSS
(from /proc/<pid>/status) may grow a little, never by the size of what was sent; and every
half-open connection is closed by the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import signal
import urllib.request
from typing import Any

import orjson
import websockets

from tests.support.serve_process import free_port, serve_log, start_serve, until_ready, wait_http

NAME_CHARS = 1_000
ATTACHES = 20_000
BATCH = 100  # within the 200 channels a connection may hold
GROWTH_MAX_BYTES = 20 * 1024 * 1024
HALF_OPEN = 600
TIMEOUT_S = 60.0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def post_json(url: str, body: object) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def bettor_token(http_port: int, edge_port: int, user_id: str) -> str:
    answer = post_json(f"http://127.0.0.1:{http_port}/auth/token", {"user_id": user_id})
    token_request = answer["token_request"]
    key_name = token_request["keyName"]
    url = f"http://127.0.0.1:{edge_port}/keys/{key_name}/requestToken"
    return str(post_json(url, token_request)["token"])


async def answered(socket: Any, count: int) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    while len(replies) < count:
        reply = orjson.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
        if reply["action"] != 0:
            replies.append(reply)
    return replies


async def churn_odds_channels(socket: Any, count: int) -> int:
    """Attach and detach `count` distinct, long odds channel names; answers bytes sent."""
    sent = 0
    for first in range(0, count, BATCH):
        names = [
            f"outbound:odds:{first + n}-{secrets.token_hex(NAME_CHARS // 2)}" for n in range(BATCH)
        ]
        for action in (10, 12):  # ATTACH, then DETACH
            for name in names:
                frame = orjson.dumps({"action": action, "channel": name})
                sent += len(frame)
                await socket.send(frame.decode())
            replies = await answered(socket, len(names))
            assert {reply["action"] for reply in replies} == {11 if action == 10 else 13}
    return sent


async def detach_huge_names(socket: Any, count: int) -> int:
    sent = 0
    for _ in range(count):
        frame = orjson.dumps({"action": 12, "channel": "outbound:" + secrets.token_hex(125_000)})
        sent += len(frame)
        await socket.send(frame.decode())
        (reply,) = await answered(socket, 1)
        assert reply["error"]["code"] == 40010
    return sent


async def publish_off_shard(edge_port: int, token: str, count: int) -> int:
    """REST publishes of 60 KB to bet channels that are not the bettor's shard."""
    bearer = base64.b64encode(token.encode()).decode()
    sent = 0
    for index in range(count):
        body = json.dumps({"name": "bet", "data": "b" * 60_000}).encode()
        channel = f"inbound:bets:{index}-{secrets.token_hex(8)}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{edge_port}/channels/{channel}/messages", data=body, method="POST"
        )
        request.add_header("content-type", "application/json")
        request.add_header("authorization", f"Bearer {bearer}")
        try:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        except urllib.error.HTTPError as refused:
            assert refused.code == 401 and b"40160" in refused.read()
        else:
            raise AssertionError(f"a publish on {channel} was accepted")
        sent += len(body)
    return sent


async def bets_on_no_shard(socket: Any, count: int) -> int:
    """Bets of 60 KB on `inbound:bets:9`, of 4 shards: each NACKed 40160."""
    sent = 0
    for serial in range(count):
        bet = {"name": "bet", "data": orjson.dumps({"bet_id": "b", "pad": "p" * 60_000}).decode()}
        frame = orjson.dumps(
            {"action": 15, "channel": "inbound:bets:9", "msgSerial": serial, "messages": [bet]}
        )
        sent += len(frame)
        await socket.send(frame.decode())
        (reply,) = await answered(socket, 1)
        assert reply["action"] == 2 and reply["error"]["code"] == 40160
    return sent


async def oversized_heads(edge_port: int, count: int) -> int:
    """Request heads of 17 KB, each in one write: each answered 400."""
    head = b"GET /time HTTP/1.1\r\nX-Padding: " + b"h" * 17_000 + b"\r\n\r\n"
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", edge_port)
        writer.write(head)
        answer = await asyncio.wait_for(reader.read(), TIMEOUT_S)
        assert answer.startswith(b"HTTP/1.1 400")
        writer.close()
    return count * len(head)


async def huge_token_body(http_port: int, size: int) -> int:
    """A chunked body of `size` bytes to /auth/token, sent until the server stops it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(
        b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (65_536, b"u" * 65_536)
    sent = 0
    try:
        while sent < size:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except ConnectionError:
        pass  # the server answered and hung up: what it refused, it did not read
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    writer.close()
    return sent


async def hostile_round(edge_port: int, http_port: int, scale: int) -> int:
    token = await asyncio.to_thread(bettor_token, http_port, edge_port, "mallory")
    url = f"ws://127.0.0.1:{edge_port}/?accessToken={token}&format=json"
    async with websockets.connect(url, max_size=2**20) as socket:
        assert (await answered(socket, 1))[0]["action"] == 4
        sent = await churn_odds_channels(socket, ATTACHES // scale)
        sent += await detach_huge_names(socket, 40 // scale)
        sent += await bets_on_no_shard(socket, 50 // scale)
    sent += await publish_off_shard(edge_port, token, 100 // scale)
    sent += await oversized_heads(edge_port, 100 // scale)
    sent += await huge_token_body(http_port, 32 * 1024 * 1024 // scale)
    return sent


async def half_open(
    edge_port: int, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    streams = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", edge_port)
        writer.write(b"GET /time HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        streams.append((reader, writer))  # the writer kept: dropped, it would hang up
    return streams


async def test_rss_stays_flat_under_hostile_clients() -> None:
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {"BETTING_SERVER__PORT": str(http_port), "BETTING_EDGE__PORT": str(edge_port)}
    )
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http_port}/healthz")
        await until_ready(http_port, 200)  # the edge lets clients in once it has replayed
        await hostile_round(edge_port, http_port, scale=20)  # warm up: caches, buffers
        before = rss_bytes(process.pid)
        stalled = await half_open(edge_port, HALF_OPEN)
        sent = await hostile_round(edge_port, http_port, scale=1)
        after = rss_bytes(process.pid)
        # The server closes every connection that never finished its request.
        answers = await asyncio.wait_for(
            asyncio.gather(*(reader.read() for reader, _ in stalled)), TIMEOUT_S
        )
        for _, writer in stalled:
            writer.close()
        assert {answer[:12] for answer in answers} == {b"HTTP/1.1 408"}
        assert sent > 30 * 1024 * 1024
        growth = after - before
        print(f"RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB, {sent / 2**20:.1f} MiB sent")
        assert growth < GROWTH_MAX_BYTES, (
            f"RSS grew {growth / 2**20:.1f} MiB for {sent / 2**20:.0f} MiB sent"
        )
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    log = serve_log(process)
    assert b"Traceback" not in log and b'"level":"error"' not in log
