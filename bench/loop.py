"""`python -m betting bench loop`: the whole loop, timed where a bettor and a watcher feel it.

`python -m betting serve` runs on the real Kafka broker with its local edge, in its own
process. Bettors, each on its own websocket connection, publish bets on their shard's channel
at a set total rate: most speak the wire protocol themselves (as in the fanout benchmark), a
few are the official ably SDK. Watchers, in another process, each attach to one race's odds
channel. Two figures, p50 and p99 of each:

- outcome: from writing a bet's publish to its outcome arriving on the bettor's own channel;
- odds: from writing a bet's publish to the first odds version that reflects it arriving at
  a watcher of its race. An outcome carries `odds_version`, the version the book had
  published when it decided the bet; an accepted bet changes the book, so the next version,
  `odds_version + 1` (published in the same batch or, conflated, a later one), is the first
  that reflects it. Versions only grow, so a watcher's first version at or above it counts.
  Timed on 1 watcher in 20, for every accepted bet on the watcher's race.

In the same run, on the same broker, at the same rate, after serve has stopped, two ceilings:
a raw transactional Kafka round trip (`kafka_ceiling.transactional_round_trip`) and a raw
websocket round trip against an echo server on the `websockets` library (the edge's).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import math
import multiprocessing
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from bench.fanout import (
    KEY,
    MESSAGE_PREFIX,
    UPGRADE_REQUEST,
    Subscriber,
    SubscriberStats,
    masked_frame,
    raise_fd_limit,
    receive_or_fail,
    run_loop,
)
from bench.kafka_ceiling import RoundTrip, transactional_round_trip
from bench.pipeline import (
    RACES,
    RUNNERS,
    broker_address,
    race_commands,
    serve_env,
    start_serve,
    stop_serve,
)
from bench.report import record
from betting import config
from betting.channels import (
    USER_CHANNEL_PARAMS,
    bets_channel,
    bets_shard,
    odds_channel,
    user_channel,
)
from betting.client import BettorEndpoints, UserFeed, bettor_realtime, bettor_rest
from betting.log import topic_specs
from betting.log.kafka import KafkaLog
from betting.simulate import percentile

PHASE = "loop"  # the races' ids: loop-race-0 ...
SDK_BETTORS = 4  # of the bettors, this many on the ably SDK
SAMPLE_EVERY = 20  # one watcher in 20 reads its messages whole, to time them
CONNECT_BATCH = 250
READY_TIMEOUT_S = 180.0
DRAIN_TIMEOUT_S = 30.0
ODDS_SETTLE_S = 1.0  # after the last outcome, for the odds that reflect it
TICK_S = 0.01  # bets go out in 10 ms ticks, on absolute times
# The edge drops a connection silent for 15 s; an unsolicited pong keeps a quiet one open.
KEEPALIVE_FRAME = bytes([0x8A, 0x80, 0, 0, 0, 0])
KEEPALIVE_S = 5.0
ACTION_NACK = b'{"action":2,'
ECHO_PAYLOAD_BYTES = 300
# What never arrived (an unanswered bet, an odds version never seen) counts as slower than
# anything that did: a percentile that falls on it reads inf, never a flattering figure.
NEVER_US = 2**62


# -- timing bets ----------------------------------------------------------------------------


@dataclass
class Timings:
    """Bets by id: when each was published and its outcome heard (wall-clock ns, shared by
    the processes of one machine), and the version each accepted bet was decided at."""

    sent_ns: dict[str, int] = field(default_factory=dict)
    heard_ns: dict[str, int] = field(default_factory=dict)
    decided_ms: dict[str, int] = field(default_factory=dict)  # the engine batch's clock
    accepted: dict[str, tuple[str, int]] = field(default_factory=dict)  # race, odds_version
    rejected: dict[str, str] = field(default_factory=dict)  # bet id -> reason
    versions: dict[str, int] = field(default_factory=dict)  # race -> newest version heard
    nacks: int = 0

    def sent(self, bet_id: str) -> None:
        self.sent_ns[bet_id] = time.time_ns()

    def heard(self, data: Any, now_ns: int) -> None:
        if isinstance(data, str | bytes):
            data = orjson.loads(data)
        bet_id = str(data["bet_id"])
        if bet_id in self.heard_ns or bet_id not in self.sent_ns:
            return  # a repeat, or not this run's
        self.heard_ns[bet_id] = now_ns
        self.decided_ms[bet_id] = int(data["decided_at_ms"])
        race_id, version = str(data["race_id"]), int(data["odds_version"])
        self.versions[race_id] = max(version, self.versions.get(race_id, 1))
        if data["status"] == "accepted":
            self.accepted[bet_id] = (race_id, version)
        else:
            self.rejected[bet_id] = str(data["reason"])


def outcome_latencies(timings: Timings, bet_ids: Sequence[str]) -> list[int]:
    """Publish to outcome (µs), sorted; NEVER_US for a bet never answered."""
    heard, sent = timings.heard_ns, timings.sent_ns
    return sorted((heard[b] - sent[b]) // 1000 if b in heard else NEVER_US for b in bet_ids)


def bet(bet_id: str, n: int, versions: dict[str, int]) -> dict[str, Any]:
    """A bet on the newest version any bettor has heard of, asking 1.01: any price is granted."""
    race_id = f"{PHASE}-race-{n % RACES}"
    return {
        "bet_id": bet_id,
        "race_id": race_id,
        "runner_id": f"r{n % RUNNERS}",
        "stake_minor": 100 + n % 1000,
        "odds": "1.01",
        "odds_version": versions.get(race_id, 1),
        "client_sent_at_ms": time.time_ns() // 1_000_000,
    }


# -- the clients ----------------------------------------------------------------------------


class ProtocolBettor(Subscriber):
    """A bettor on the wire protocol: its own channel attached, bets published one message
    each on its shard's channel."""

    def __init__(
        self, user_id: str, shard_channel: str, timings: Timings, ready: asyncio.Future[None]
    ) -> None:
        super().__init__(SubscriberStats(), True, True, ready)
        self.user_id, self.shard_channel, self.timings = user_id, shard_channel, timings
        self.serial = 0
        self.channel, self.attach_params = user_channel(user_id), USER_CHANNEL_PARAMS

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        query = f"?key={KEY}&clientId={self.user_id}&format=json&v=5&heartbeats=true"
        transport.write(UPGRADE_REQUEST.format(query=query).encode())  # type: ignore[attr-defined]

    def on_frame(self, payload: bytes | bytearray) -> None:
        if not self.ready.done():
            self.on_handshake_frame(bytes(payload))
        elif payload.startswith(MESSAGE_PREFIX):
            now_ns = time.time_ns()
            for message in orjson.loads(payload)["messages"]:
                if message.get("name") == "outcome":
                    self.timings.heard(message["data"], now_ns)
        elif payload.startswith(ACTION_NACK):
            self.timings.nacks += int(orjson.loads(payload).get("count", 1))

    def place(self, bet: dict[str, Any]) -> None:
        data = orjson.dumps(bet).decode()
        message = {
            "action": 15,
            "channel": self.shard_channel,
            "msgSerial": self.serial,
            "messages": [{"name": "bet", "data": data, "encoding": "json"}],
        }
        self.serial += 1
        self.timings.sent(bet["bet_id"])
        if self.transport is not None:
            self.transport.write(masked_frame(orjson.dumps(message)))


class SdkBettor:
    """A bettor on the official ably SDK, as `simulate` runs them."""

    def __init__(
        self, user_id: str, endpoints: BettorEndpoints, shards: int, timings: Timings
    ) -> None:
        self.user_id, self._endpoints, self._shards = user_id, endpoints, shards
        self.timings = timings
        self._realtime: Any = None
        self._bets: Any = None
        self._publishing: set[asyncio.Task[Any]] = set()

    async def connect(self) -> None:
        self._realtime = bettor_realtime(self._endpoints, self.user_id)
        feed = UserFeed(self._realtime, bettor_rest(self._endpoints, self.user_id), self.user_id)
        await feed.subscribe({"outcome": self._on_outcome})
        shard = bets_channel(bets_shard(self.user_id, self._shards))
        self._bets = self._realtime.channels.get(shard)

    def _on_outcome(self, message: Any) -> None:
        self.timings.heard(message.data, time.time_ns())

    def place(self, bet: dict[str, Any]) -> None:
        self.timings.sent(bet["bet_id"])
        task = asyncio.get_running_loop().create_task(self._publish(bet))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, bet: dict[str, Any]) -> None:
        try:
            await self._bets.publish("bet", bet)
        except Exception:  # the SDK's AblyException: a NACK
            self.timings.nacks += 1

    async def close(self) -> None:
        if self._realtime is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._realtime.close(), 5)


class Watcher(Subscriber):
    """A watcher of one race's odds: deltas as a bettor's page takes them; a sampled watcher
    takes them whole instead and notes when each version first arrived."""

    def __init__(
        self, race_id: str, sampled: bool, stats: SubscriberStats, ready: asyncio.Future[None]
    ) -> None:
        super().__init__(stats, sampled, True, ready)
        self.race_id = race_id
        self.arrivals: dict[int, int] = {}  # version -> wall-clock ns
        self.channel = odds_channel(race_id)
        if sampled:
            self.attach_params = {}

    def on_frame(self, payload: bytes | bytearray) -> None:
        if not self.ready.done():
            self.on_handshake_frame(bytes(payload))
            return
        if not payload.startswith(MESSAGE_PREFIX):
            return
        self.stats.messages += 1
        if self.sampled:
            now_ns = time.time_ns()
            for message in orjson.loads(payload)["messages"]:
                data = message["data"]
                odds = orjson.loads(data) if isinstance(data, str) else data
                self.arrivals.setdefault(int(odds["version"]), now_ns)


class EchoClient(Subscriber):
    """The websocket ceiling's client: sends numbered frames, times their echoes."""

    def __init__(self, echoed_ns: dict[int, int], ready: asyncio.Future[None]) -> None:
        super().__init__(SubscriberStats(), True, False, ready)
        self.echoed_ns = echoed_ns

    def on_frame(self, payload: bytes | bytearray) -> None:
        self.echoed_ns[int(payload[:12])] = time.time_ns()

    def send(self, n: int) -> None:
        if self.transport is not None:
            self.transport.write(masked_frame(b"%012d" % n + b" " * ECHO_PAYLOAD_BYTES))


def _same(protocol: Subscriber) -> Subscriber:
    return protocol


async def open_connections(port: int, protocols: Sequence[Subscriber]) -> None:
    """Connect each protocol, a batch at a time, and wait until every one is ready."""
    loop = asyncio.get_running_loop()
    for start in range(0, len(protocols), CONNECT_BATCH):
        await asyncio.gather(
            *(
                loop.create_connection(functools.partial(_same, protocol), "127.0.0.1", port)
                for protocol in protocols[start : start + CONNECT_BATCH]
            )
        )
    await asyncio.wait_for(asyncio.gather(*(p.ready for p in protocols)), READY_TIMEOUT_S)


async def keep_alive(protocols: Sequence[Subscriber]) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE_S)
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.write(KEEPALIVE_FRAME)


def ready_futures(count: int) -> list[asyncio.Future[None]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(count)]


async def pace(rate: int, seconds: float, send: Callable[[int], None], first: int = 0) -> int:
    """Call `send(n)` `rate` times a second for `seconds`, n counting on from `first`; the
    next n."""
    per_tick = max(1, round(rate * TICK_S))
    started, n = time.perf_counter(), first
    while time.perf_counter() - started < seconds:
        for _ in range(per_tick):
            send(n)
            n += 1
        next_tick = started + (n - first) / per_tick * TICK_S
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    return n


# -- the watchers' process ------------------------------------------------------------------


async def run_watchers(port: int, count: int, pipe: Connection) -> None:
    stats = SubscriberStats()
    readies = ready_futures(count)
    watchers = [
        # Sampled across the races alike: watcher n watches race n % RACES.
        Watcher(f"{PHASE}-race-{n % RACES}", n // RACES % SAMPLE_EVERY == 0, stats, readies[n])
        for n in range(count)
    ]
    await open_connections(port, watchers)
    alive = asyncio.create_task(keep_alive(watchers))
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    await loop.run_in_executor(None, pipe.recv)  # the run is over
    elapsed_s = time.monotonic() - started
    arrivals = [(w.race_id, w.arrivals) for w in watchers if w.sampled]
    pipe.send((stats.messages / elapsed_s, arrivals))
    await loop.run_in_executor(None, pipe.recv)  # the main side has them; close by exiting
    alive.cancel()


def watcher_process(port: int, count: int, pipe: Connection) -> None:
    raise_fd_limit()
    run_loop(run_watchers(port, count, pipe), fast=True)  # the instrument, not the measured


def odds_latencies(
    timings: Timings, bet_ids: Sequence[str], arrivals: list[tuple[str, dict[int, int]]]
) -> tuple[list[int], int]:
    """Per accepted bet and sampled watcher of its race: publish to the first version above
    the one it was decided at (µs, NEVER_US where it never came), sorted; and how many
    such versions never arrived."""
    by_race: dict[str, list[tuple[list[int], list[int]]]] = {}
    for race_id, seen in arrivals:
        versions = sorted(seen)
        by_race.setdefault(race_id, []).append((versions, [seen[v] for v in versions]))
    latencies, missing = [], 0
    for bet_id in bet_ids:
        accepted = timings.accepted.get(bet_id)
        if accepted is None:
            continue
        race_id, version = accepted
        sent_ns = timings.sent_ns[bet_id]
        for versions, times in by_race.get(race_id, []):
            index = bisect.bisect_left(versions, version + 1)
            if index == len(versions):
                missing += 1
                latencies.append(NEVER_US)
            else:
                latencies.append((times[index] - sent_ns) // 1000)
    latencies.sort()
    return latencies, missing


# -- the run --------------------------------------------------------------------------------


@dataclass
class LoopResult:
    placed: int
    placed_per_s: float
    outcome_us: list[int]  # sorted
    sdk_outcome_us: list[int]
    odds_us: list[int]
    odds_missing: int
    unanswered: int
    accepted: int
    rejected: Counter[str]
    nacks: int
    odds_messages_per_s: float
    to_decided_us: list[int]  # publish to the engine's clock reading for the bet's batch
    serve_cpu_percent: float  # of one core, over the measured span


def progress(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} loop: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_ready(api_url: str, server: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"serve exited ({server.returncode}); see BENCH_SERVE_LOG=file")
        with contextlib.suppress(OSError, urllib.error.URLError):
            # urlopen raises HTTPError, an URLError, on a 503
            answer = await asyncio.to_thread(urllib.request.urlopen, f"{api_url}/readyz", timeout=5)
            answer.close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError("serve did not become ready")
        await asyncio.sleep(0.5)


async def run_loop_phase(bootstrap: str, args: argparse.Namespace) -> LoopResult:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    api_port, edge_port = free_port(), free_port()
    env = serve_env(bootstrap, prefix)
    env.update(
        {
            "BETTING_SERVER__PORT": str(api_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_EDGE__API_KEY": KEY,  # the key the raw clients connect with
        }
    )
    settings = config.load(environ={**os.environ, **env})  # serve's, as it will read them
    event_log = KafkaLog(settings.kafka.__class__(bootstrap=bootstrap))
    await event_log.start()
    await event_log.ensure_topics(topic_specs(settings))
    await event_log.producer().send(race_commands(settings, int(time.time() * 1000), PHASE))
    server = start_serve(env)
    try:
        await wait_ready(f"http://127.0.0.1:{api_port}", server)
        progress("serve is ready")
        return await measure_loop(args, settings, api_port, edge_port, server.pid)
    finally:
        stop_serve(server)
        await event_log.stop()


async def measure_loop(
    args: argparse.Namespace,
    settings: config.Settings,
    api_port: int,
    edge_port: int,
    serve_pid: int,
) -> LoopResult:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=watcher_process, args=(edge_port, args.watchers, child), daemon=True
    )
    process.start()
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, receive_or_fail, parent, process)
        progress(f"{args.watchers} watchers attached")
        result = await bet_and_time(args, settings, api_port, edge_port, serve_pid)
        await asyncio.sleep(ODDS_SETTLE_S)
        parent.send("report")
        odds_rate, arrivals = await loop.run_in_executor(None, receive_or_fail, parent, process)
        parent.send("done")
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    timings, measured, placed_s, sdk_us, serve_cpu = result
    odds_us, missing = odds_latencies(timings, measured, arrivals)
    outcome_us = outcome_latencies(timings, measured)
    return LoopResult(
        placed=len(measured),
        placed_per_s=len(measured) / placed_s,
        outcome_us=outcome_us,
        sdk_outcome_us=sdk_us,
        odds_us=odds_us,
        odds_missing=missing,
        unanswered=outcome_us.count(NEVER_US),
        accepted=sum(b in timings.accepted for b in measured),
        rejected=Counter(timings.rejected[b] for b in measured if b in timings.rejected),
        to_decided_us=sorted(
            timings.decided_ms[b] * 1000 - timings.sent_ns[b] // 1000
            for b in measured
            if b in timings.decided_ms
        ),
        nacks=timings.nacks,
        odds_messages_per_s=odds_rate,
        serve_cpu_percent=serve_cpu,
    )


async def bet_and_time(
    args: argparse.Namespace,
    settings: config.Settings,
    api_port: int,
    edge_port: int,
    serve_pid: int,
) -> tuple[Timings, list[str], float, list[int], float]:
    """Warm up, then place bets for the measured span; the timings of both, the measured
    bets' ids, how long placing them took, the SDK bettors' outcome latencies (µs) and
    serve's CPU over the span (% of one core)."""
    run = uuid.uuid4().hex[:6]
    shards = settings.edge.bet_shards
    sdk_count = min(SDK_BETTORS, args.bettors - 1)
    timings = Timings()
    readies = ready_futures(args.bettors - sdk_count)
    raw = []
    for n, ready in enumerate(readies):
        user_id = f"{PHASE}-{run}-{n}"
        shard_channel = bets_channel(bets_shard(user_id, shards))
        raw.append(ProtocolBettor(user_id, shard_channel, timings, ready))
    endpoints = BettorEndpoints(f"http://127.0.0.1:{api_port}", "127.0.0.1", edge_port, tls=False)
    sdk = [SdkBettor(f"{PHASE}-{run}-sdk{n}", endpoints, shards, timings) for n in range(sdk_count)]
    await open_connections(edge_port, raw)
    await asyncio.gather(*(bettor.connect() for bettor in sdk))
    alive = asyncio.create_task(keep_alive(raw))
    bettors: list[ProtocolBettor | SdkBettor] = [*sdk, *raw]
    sdk_ids: list[str] = []

    def place(prefix: str) -> Callable[[int], None]:
        def send(n: int) -> None:
            bettor = bettors[n % len(bettors)]
            bet_id = f"{run}-{prefix}{n}"
            if isinstance(bettor, SdkBettor) and prefix == "m":
                sdk_ids.append(bet_id)
            bettor.place(bet(bet_id, n, timings.versions))

        return send

    try:
        after_warm = await pace(args.rate, args.warm_seconds, place("w"))
        started, cpu_started = time.perf_counter(), cpu_seconds(serve_pid)
        end = await pace(args.rate, args.seconds, place("m"), after_warm)
        placed_s = time.perf_counter() - started
        serve_cpu = 100 * (cpu_seconds(serve_pid) - cpu_started) / placed_s
        measured = [f"{run}-m{n}" for n in range(after_warm, end)]
        progress("placed; waiting for the outcomes")
        await drain(timings, measured)
    finally:
        alive.cancel()
        await asyncio.gather(*(bettor.close() for bettor in sdk))
        for bettor in raw:
            if bettor.transport is not None:
                bettor.transport.close()
    return timings, measured, placed_s, outcome_latencies(timings, sdk_ids), serve_cpu


def cpu_seconds(pid: int) -> float:
    """A process's user and system CPU so far (Linux's /proc); nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drain(timings: Timings, bet_ids: list[str]) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline and not all(b in timings.heard_ns for b in bet_ids):
        await asyncio.sleep(0.05)


# -- the websocket ceiling ------------------------------------------------------------------


async def echo_server(pipe: Connection) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        pipe.send(next(iter(server.sockets)).getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def echo_process(pipe: Connection) -> None:
    raise_fd_limit()
    run_loop(echo_server(pipe), fast=False)  # plain asyncio, as serve runs


async def websocket_round_trip(
    connections: int, rate: int, seconds: float, warm_seconds: float
) -> list[int]:
    """Round trips (µs, sorted) of frames sent at `rate` over `connections`, measured after
    `warm_seconds`, against an echo server in another process."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=echo_process, args=(child,), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    echoed: dict[int, int] = {}
    sent: dict[int, int] = {}
    try:
        port = await loop.run_in_executor(None, receive_or_fail, parent, process)
        clients = [EchoClient(echoed, ready) for ready in ready_futures(connections)]
        await open_connections(port, clients)

        def send(n: int) -> None:
            sent[n] = time.time_ns()
            clients[n % len(clients)].send(n)

        first = await pace(rate, warm_seconds, send)
        end = await pace(rate, seconds, send, first)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while len(echoed) < end and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        parent.send("done")
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return sorted((echoed[n] - sent[n]) // 1000 for n in range(first, end) if n in echoed)


# -- the report -----------------------------------------------------------------------------


def ms(latencies_us: Sequence[int], percent: int) -> float:
    """A percentile in ms: inf when it falls on what never arrived, nan without samples."""
    value = percentile(latencies_us, percent)
    if value is None:
        return math.nan
    return math.inf if value == NEVER_US else value / 1000


async def run(bootstrap: str, args: argparse.Namespace) -> tuple[LoopResult, RoundTrip, list[int]]:
    result = await run_loop_phase(bootstrap, args)
    progress("serve stopped; the ceilings")
    kafka = await transactional_round_trip(
        bootstrap, args.rate, args.ceiling_seconds, args.warm_seconds
    )
    websocket = await websocket_round_trip(
        args.bettors, args.rate, args.ceiling_seconds, args.warm_seconds
    )
    return result, kafka, websocket


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m betting bench loop")
    parser.add_argument("--rate", type=int, default=2_000, help="bets per second, all bettors")
    parser.add_argument("--watchers", type=int, default=10_000)
    parser.add_argument("--bettors", type=int, default=200, help=f"{SDK_BETTORS} on the SDK")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured")
    parser.add_argument("--warm-seconds", type=float, default=10.0, help="the same load before")
    parser.add_argument("--ceiling-seconds", type=float, default=15.0)
    parser.add_argument("--no-record", action="store_true", help="leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.rate < 1 or args.watchers < 1 or args.bettors < 2 or args.seconds <= 0:
        parser.error("--rate and --watchers must be at least 1, --bettors 2, --seconds positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    raise_fd_limit()  # serve inherits it: it holds a socket per watcher
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    with broker_address() as bootstrap:
        result, kafka, websocket = asyncio.run(run(bootstrap, args))
    outcome_p99, kafka_p99 = ms(result.outcome_us, 99), ms(kafka.latencies_us, 99)
    websocket_p99 = ms(websocket, 99)
    answered = [latency for latency in result.outcome_us if latency != NEVER_US]
    figures = [
        f"placed {result.placed} bets in the measured span at {result.placed_per_s:.0f} bets/s; "
        f"{result.accepted} accepted, rejected {dict(result.rejected) or 'none'}, "
        f"{result.nacks} NACKed, {result.unanswered} without an outcome; serve used "
        f"{result.serve_cpu_percent:.0f}% of one core",
        f"outcome: p50 {ms(result.outcome_us, 50):.1f} ms, p99 {outcome_p99:.1f} ms; "
        f"publish to its batch's clock reading in the engine (`decided_at_ms`) p50 "
        f"{ms(result.to_decided_us, 50):.1f} ms, p99 {ms(result.to_decided_us, 99):.1f} ms; "
        f"of the answered alone p50 {ms(answered, 50):.1f} ms, p99 {ms(answered, 99):.1f} ms; "
        f"of it the {SDK_BETTORS} SDK bettors: p50 {ms(result.sdk_outcome_us, 50):.1f} ms, "
        f"p99 {ms(result.sdk_outcome_us, 99):.1f} ms",
        f"odds: p50 {ms(result.odds_us, 50):.1f} ms, p99 {ms(result.odds_us, 99):.1f} ms over "
        f"{len(result.odds_us)} (bet, sampled watcher) pairs, {result.odds_missing} never "
        f"reached; {result.odds_messages_per_s:,.0f} odds messages/s delivered to the watchers",
        f"transactional Kafka round trip: p50 {ms(kafka.latencies_us, 50):.1f} ms, p99 "
        f"{kafka_p99:.1f} ms ({len(kafka.latencies_us)} messages, {kafka.transactions} "
        "transactions)",
        f"websocket round trip: p50 {ms(websocket, 50):.1f} ms, p99 {websocket_p99:.1f} ms",
        f"ratios: outcome p99 / Kafka ceiling p99 {outcome_p99 / kafka_p99:.2f} (goal at most 2); "
        f"outcome p99 / (Kafka + websocket ceilings' p99) "
        f"{outcome_p99 / (kafka_p99 + websocket_p99):.2f}",
    ]
    for line in figures:
        print(line)
    line = (
        f"loop: {args.rate} bets/s, {args.watchers} watchers, "
        f"outcome p50 {ms(result.outcome_us, 50):.1f} ms p99 {outcome_p99:.1f} ms, "
        f"odds p99 {ms(result.odds_us, 99):.1f} ms, ceiling p99 {kafka_p99:.1f} ms, "
        f"ratio {outcome_p99 / kafka_p99:.2f}"
    )
    print(line, flush=True)
    if not args.no_record:
        load_line = f"Load average (1, 5, 15 min) when the run began: {load}."
        record("loop", line, [*figures, *method(args), load_line])
    return 0


def method(args: argparse.Namespace) -> list[str]:
    return [
        f"Apache Kafka 4.4.0, single node on 127.0.0.1; serve on it with its local edge, "
        f"{RACES} races of {RUNNERS} runners, topics of 6 partitions.",
        f"{args.bettors} bettors, each its own connection and user, {SDK_BETTORS} of them on "
        "the ably SDK and the rest raw websocket clients speaking the protocol (JSON); "
        f"{args.rate:,} bets/s in all, in 10 ms ticks, for {args.seconds:.0f} s after "
        f"{args.warm_seconds:.0f} s of the same load unmeasured.",
        f"{args.watchers:,} watchers in a separate process on uvloop, each on one race's odds "
        "channel (delta=vcdiff); 1 in 20 takes full messages to read the versions.",
        "Outcome: from writing the publish frame (the SDK: calling publish) to the outcome "
        "arriving on the bettor's channel.",
        "Odds: from writing the publish to the first odds version above the outcome's "
        "`odds_version` (the book's version when it decided the bet) arriving at a sampled "
        "watcher of the race; every accepted bet against every sampled watcher of its race.",
        "Ceilings, same run and broker, after serve stopped, at the same rate for "
        f"{args.ceiling_seconds:.0f} s after {args.warm_seconds:.0f} s: Kafka: produce "
        "(idempotent, acks=all), a transformer that consumes read_committed and produces each "
        "fetched batch on in one transaction (begin, produce, commit; 1 partition), then a "
        "read_committed consume; websocket: a `websockets` echo server (the edge's library) in "
        f"another process, {args.bettors} connections, 300-byte frames.",
        "Goals, at 2,000 bets/s with 10,000 watchers: outcome p99 at most 2x the Kafka "
        "ceiling's p99; odds p99 under 250 ms.",
        "Broker JVM, serve, the bettors' and the watchers' processes share the machine's cores.",
        "The bets' way in: the local edge hands a shard channel's handler every publish "
        "that arrived while its last call ran, in one call (a group commit, "
        "`ChannelRegistry.publish`): one Kafka produce round trip for all of them; a bet not "
        "answered within `edge.bet_publish_timeout_ms` is NACKed (50003) and retried by its "
        "bettor under the same bet id.",
        "What limits this run: serve, one Python process, near a whole core (the edge's "
        "fan-out of every odds version to 10,000 watchers, the bets in, the engine and the "
        "forwarders); bets queue behind it, so most arrive after the price they saw expired "
        "(LATE), and the figures are far from the goals.",
    ]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
