"""Fan-out benchmark: one race channel, odds snapshots every 100 ms, N delta subscribers.

Run as `python -m betting bench fanout [--subscribers N] [--seconds S]`. Subscribers are raw
websocket clients speaking just enough of the protocol, in a separate process, so the
server process is measured on its own. The same run measures a plain `websockets` broadcast
of the full payload (no protocol) as the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.report import record
from betting.edge.local import EdgeKey, LocalEdge, LocalEdgeSettings
from betting.edge.local.protocol import WireFormat
from betting.edge.port import OutboundMessage

KEY = "bench.root:bench-secret"
CHANNEL = "race:bench"
CONNECT_BATCH = 250
SAMPLE_EVERY = 20  # one subscriber in 20 decodes its frames to measure latency
MESSAGE_PREFIX = b'{"action":15'
UPGRADE_REQUEST = (
    "GET /{query} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def odds_book(rng: random.Random, book: dict[str, Any] | None) -> dict[str, Any]:
    """A 20-runner snapshot; each tick a few prices move, as in a live race."""
    if book is None:
        fresh: list[dict[str, Any]] = [
            {
                "id": f"r{n}",
                "name": f"Runner number {n} of the 3:15",
                "jockey": f"Jockey {n}",
                "back_minor": 100 + 37 * n,
                "lay_minor": 110 + 37 * n,
                "status": "active",
            }
            for n in range(20)
        ]
        return {"race": CHANNEL, "seq": 0, "market": "win", "runners": fresh}
    runners: list[dict[str, Any]] = [dict(runner) for runner in book["runners"]]
    for runner in rng.sample(runners, 3):
        runner["back_minor"] += rng.choice((-5, 5))
        runner["lay_minor"] = runner["back_minor"] + 10
    return {**book, "seq": book["seq"] + 1, "runners": runners}


# Subscriber side (a separate process)


@dataclass
class SubscriberStats:
    messages: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    measuring: bool = False


def masked_frame(payload: bytes) -> bytes:
    # A zero mask key leaves the payload as is and is valid for a client frame.
    length = len(payload)
    header = (
        bytes([0x81, 0x80 | length]) if length < 126 else bytes([0x81, 0xFE]) + length.to_bytes(2)
    )
    return header + b"\0\0\0\0" + payload


class Subscriber(asyncio.Protocol):
    def __init__(
        self, stats: SubscriberStats, sampled: bool, speaks_ably: bool, ready: asyncio.Future[None]
    ) -> None:
        self.stats, self.sampled, self.speaks_ably, self.ready = stats, sampled, speaks_ably, ready
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.channel = CHANNEL  # what it attaches to, and with which params
        self.attach_params = {"delta": "vcdiff"}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        query = f"?key={KEY}&format=json&v=5&heartbeats=true" if self.speaks_ably else ""
        transport.write(UPGRADE_REQUEST.format(query=query).encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            if not self.speaks_ably and not self.ready.done():
                self.ready.set_result(None)
        self.read_frames()

    def read_frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            length, header = buffer[1] & 0x7F, 2
            if length == 126:
                length, header = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                length, header = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < header + length:
                return
            if buffer[0] & 0x0F not in (0x1, 0x2):  # pings and other control frames
                del buffer[: header + length]
                continue
            self.on_frame(
                bytes(buffer[header : header + length])
                if self.sampled or not self.ready.done()
                else buffer[header : header + 16]
            )
            del buffer[: header + length]

    def on_frame(self, payload: bytes | bytearray) -> None:
        if not self.ready.done():
            self.on_handshake_frame(bytes(payload))
            return
        if self.speaks_ably and not payload.startswith(MESSAGE_PREFIX):
            return
        self.stats.messages += self.stats.measuring
        if self.sampled and self.stats.measuring:
            sent_us = sent_time_us(orjson.loads(payload), self.speaks_ably)
            self.stats.latencies_ms.append((time.time_ns() // 1000 - sent_us) / 1000)

    def on_handshake_frame(self, payload: bytes) -> None:
        action = orjson.loads(payload).get("action")
        if action == 4 and self.transport is not None:
            attach = {"action": 10, "channel": self.channel, "params": self.attach_params}
            self.transport.write(masked_frame(orjson.dumps(attach)))
        elif action == 11:
            self.ready.set_result(None)


def sent_time_us(message: dict[str, Any], speaks_ably: bool) -> int:
    if speaks_ably:
        return int(message["messages"][0]["extras"]["headers"]["sent_us"])
    return int(message["sent_us"])


def _same(protocol: Subscriber) -> Subscriber:
    return protocol


async def run_subscribers(port: int, count: int, speaks_ably: bool, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    stats = SubscriberStats()
    readies = []
    for start in range(0, count, CONNECT_BATCH):
        batch = []
        for index in range(start, min(count, start + CONNECT_BATCH)):
            ready: asyncio.Future[None] = loop.create_future()
            protocol = Subscriber(stats, index % SAMPLE_EVERY == 0, speaks_ably, ready)
            batch.append(
                loop.create_connection(functools.partial(_same, protocol), "127.0.0.1", port)
            )
            readies.append(ready)
        await asyncio.gather(*batch)
    await asyncio.wait_for(asyncio.gather(*readies), 120)
    pipe.send("ready")
    seconds = pipe.recv()
    stats.measuring = True
    await asyncio.sleep(seconds)
    stats.measuring = False
    pipe.send((stats.messages, stats.latencies_ms))
    pipe.recv()  # the server side is done; close by exiting


def subscriber_process(port: int, count: int, speaks_ably: bool, pipe: Connection) -> None:
    raise_fd_limit()
    # The subscribers are the measuring instrument, not the thing measured: give them the
    # fastest loop available so that they are not the bottleneck.
    run_loop(run_subscribers(port, count, speaks_ably, pipe), fast=True)


def run_loop(main: Any, *, fast: bool) -> Any:
    if fast:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


# Server side (this process)


def receive_or_fail(pipe: Connection, process: Any) -> Any:
    """Wait for the subscriber process, but not on a dead one."""
    while not pipe.poll(1.0):
        if not process.is_alive():
            raise RuntimeError("the subscriber process died; see its traceback above")
    return pipe.recv()


@dataclass
class RunResult:
    connections: int
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_percent: float


async def measure(
    port: int, args: argparse.Namespace, speaks_ably: bool, publish: Any
) -> RunResult:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=subscriber_process, args=(port, args.subscribers, speaks_ably, child), daemon=True
    )
    process.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, receive_or_fail, parent, process)
    rng, book = random.Random(7), None
    parent.send(args.seconds)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    deadline = wall_start + args.seconds
    next_tick = wall_start
    while next_tick < deadline:
        book = odds_book(rng, book)
        await publish(book)
        next_tick += args.interval_ms / 1000
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    cpu_used, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
    messages, latencies = await loop.run_in_executor(None, receive_or_fail, parent, process)
    parent.send("done")
    process.join(10)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return RunResult(
        args.subscribers,
        messages / args.seconds,
        quantiles[49],
        quantiles[98],
        100 * cpu_used / wall,
    )


async def measure_edge(args: argparse.Namespace) -> tuple[RunResult, float]:
    settings = LocalEdgeSettings(port=0, keys=(EdgeKey(key=KEY),), history_per_channel=100)
    async with LocalEdge(settings) as edge:

        async def publish(book: dict[str, Any]) -> None:
            headers = {"headers": {"sent_us": time.time_ns() // 1000}}
            await edge.publish(CHANNEL, [OutboundMessage(name="odds", data=book, extras=headers)])

        result = await measure(edge.port, args, True, publish)
        return result, delta_percent(edge)


def delta_percent(edge: LocalEdge) -> float:
    """Wire bytes of delta frames against full frames, JSON format, over the history."""
    entries = [e for e in edge.hub.channels.get(CHANNEL).history if e.delta is not None]
    if not entries:
        return 100.0
    full = sum(len(e.full.frame(WireFormat.JSON)) for e in entries)
    delta = sum(len(e.delta.frame(WireFormat.JSON)) for e in entries if e.delta is not None)
    return 100 * delta / full


async def measure_raw_broadcast(args: argparse.Namespace) -> RunResult:
    from websockets.asyncio.server import broadcast, serve

    connections: set[Any] = set()

    async def handler(websocket: Any) -> None:
        connections.add(websocket)
        try:
            await websocket.wait_closed()
        finally:
            connections.discard(websocket)

    async with serve(handler, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]

        async def publish(book: dict[str, Any]) -> None:
            broadcast(
                connections,
                orjson.dumps({"sent_us": time.time_ns() // 1000, "book": book}).decode(),
            )

        return await measure(port, args, False, publish)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m betting bench fanout")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=float, default=100.0)
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw broadcast ceiling")
    parser.add_argument("--uvloop", action="store_true", help="run the servers on uvloop too")
    parser.add_argument("--no-record", action="store_true", help="leave docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    edge, delta = run_loop(measure_edge(args), fast=args.uvloop)
    print(f"edge: server cpu {edge.server_cpu_percent:.0f}% of one core")
    details = [
        f"{args.subscribers:,} raw websocket subscribers (msgpack, delta=vcdiff) in a separate "
        f"process on uvloop; a 20-runner odds snapshot every {args.interval_ms:.0f} ms for "
        f"{args.seconds:.0f} s; latency sampled on 1 subscriber in 20.",
        f"Edge server on {'uvloop' if args.uvloop else 'plain asyncio'}: "
        f"{edge.server_cpu_percent:.0f}% of one core.",
        "Targets: 10,000 subscribers with p99 below 250 ms; delta bytes at most 20% of full.",
    ]
    if not args.skip_raw:
        raw = run_loop(measure_raw_broadcast(args), fast=args.uvloop)
        print(
            f"raw websocket broadcast: {raw.connections} connections, "
            f"{raw.messages_per_s:.0f} msgs/s, p50 {raw.p50_ms:.1f} ms, p99 {raw.p99_ms:.1f} ms, "
            f"server cpu {raw.server_cpu_percent:.0f}%"
        )
        ratios = (
            f"edge/raw throughput ratio {edge.messages_per_s / max(raw.messages_per_s, 1):.2f}, "
            f"p99 ratio {edge.p99_ms / max(raw.p99_ms, 0.001):.2f}"
        )
        print(ratios)
        details.append(
            f"Ceiling, same run: a plain websockets server broadcasting the same payload with no "
            f"protocol: {raw.messages_per_s:,.0f} msgs/s, p50 {raw.p50_ms:.1f} ms, p99 "
            f"{raw.p99_ms:.1f} ms, {raw.server_cpu_percent:.0f}% of one core; {ratios}."
        )
    line = (
        f"fanout: {edge.connections} connections, {edge.messages_per_s:.0f} msgs/s, "
        f"p50 {edge.p50_ms:.1f} ms, p99 {edge.p99_ms:.1f} ms, delta bytes {delta:.1f}% of full"
    )
    print(line)
    if not args.no_record:
        record("fanout", line, details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
