"""`python -m betting simulate`: bettors on the official ably SDK placing bets at a set rate.

N users, each its own realtime connection through the edge, watch the odds of the open races
and together place about R bets a second on what they last saw; every outcome is timed from
the start of its publish to its arrival on the user's channel. The statistics are a pure core
(`Stats`); the rest is a thin async shell around it.

Odds are published only when they change, so a bettor knows a race's prices from
`GET /api/races` (when the server has it) or else from the race's next odds message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from array import array
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from betting.channels import (
    ODDS_CHANNEL_PARAMS,
    bets_channel,
    bets_shard,
    odds_channel,
)
from betting.client import BettorEndpoints, UserFeed, bettor_realtime, bettor_rest
from betting.domain.errors import invariant

STAKES_MINOR = (100, 200, 500, 1_000, 2_000, 5_000)
WINDOW_S = 5  # the progress line's latencies and rate cover this many recent seconds
WINDOW_SAMPLES_MAX = 100_000  # latencies kept per second of the window
RUN_SAMPLES_MAX = 2_000_000  # latencies kept for the summary (8 bytes each)
USERS_MAX = 10_000
IN_FLIGHT_MAX = 100  # bets per user awaiting their publish ACK
PUBLISH_ATTEMPTS = 3
PUBLISH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
CONNECT_CONCURRENCY = 50
CLOSE_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 10.0
FINISHED_STATES = frozenset({"closed", "resulted", "settled", "void"})
DEFAULT_EDGE: dict[str, Any] = {"endpoint": "127.0.0.1", "port": 8081, "tls": False}
DEFAULT_SHARDS = 4
PUBLISH_FAILED = "PUBLISH_FAILED"  # counted with the rejection reasons: a bet that got no outcome
REFUSED = "REFUSED"  # the edge refused the envelope (4xx): retrying cannot help

NO_ODDS_SEEN = (
    "simulate: no bets: no bettor saw an open race's odds (they are published only on change;"
    " with --race a bettor learns them from the race's next odds message)"
)


# -- the pure core: statistics ---------------------------------------------------------------


def percentile(sorted_values: Sequence[int], percent: int) -> int | None:
    """Nearest rank: the smallest sample with at least `percent`% of the samples at or below;
    None without samples."""
    invariant(0 < percent <= 100, "percent must be in (0, 100]")
    if not sorted_values:
        return None
    rank = -(-percent * len(sorted_values) // 100)  # ceiling, in integers
    return sorted_values[rank - 1]


@dataclass(slots=True)
class _Second:
    second: int
    placed: int = 0
    latencies_us: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed_s: float
    bets_per_s: float  # over the window
    placed: int
    answered: int
    accepted: int
    latency_us_p50: int | None  # over the window; None without outcomes in it
    latency_us_p99: int | None
    rejected: dict[str, int]  # over the run

    def line(self) -> str:
        reasons = " ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items()))
        return (
            f"{self.elapsed_s:6.1f} s  {self.bets_per_s:7.1f} bets/s  placed {self.placed}  "
            f"answered {self.answered}  accepted {percent_text(self.accepted, self.answered)}  "
            f"p50 {ms_text(self.latency_us_p50)}  p99 {ms_text(self.latency_us_p99)}"
            f" (last {WINDOW_S} s)" + (f"  rejected: {reasons}" if reasons else "")
        )


def ms_text(latency_us: int | None) -> str:
    return f"{latency_us / 1000:.1f} ms" if latency_us is not None else "- ms"


def percent_text(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


class Stats:
    """Counts and latencies of one run. Time is passed in (monotonic nanoseconds)."""

    def __init__(self, started_ns: int, window_s: int = WINDOW_S) -> None:
        self.started_ns = started_ns
        self._window_s = window_s
        self._seconds: deque[_Second] = deque(maxlen=window_s)
        self._run_latencies_us = array("q")
        self.placed = 0
        self.first_placed_ns: int | None = None
        self.answered = 0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    def record_placed(self, now_ns: int) -> None:
        self.placed += 1
        if self.first_placed_ns is None:
            self.first_placed_ns = now_ns
        self._second(now_ns).placed += 1

    def record_outcome(self, now_ns: int, latency_us: int, reason: str | None) -> None:
        """One outcome: `reason` None when accepted."""
        self.answered += 1
        if reason is None:
            self.accepted += 1
        else:
            self.rejected[reason] += 1
        window = self._second(now_ns).latencies_us
        if len(window) < WINDOW_SAMPLES_MAX:
            window.append(latency_us)
        if len(self._run_latencies_us) < RUN_SAMPLES_MAX:
            self._run_latencies_us.append(latency_us)

    def record_failed(self, reason: str) -> None:
        """A bet that was counted as placed but will have no outcome."""
        self.rejected[reason] += 1

    def progress(self, now_ns: int) -> Progress:
        current = self._second_index(now_ns)
        recent = [s for s in self._seconds if s.second > current - self._window_s]
        window_start_ns = self.started_ns + max(0, current - self._window_s + 1) * 1_000_000_000
        window_s = max(now_ns - window_start_ns, 1) / 1e9
        latencies = sorted(latency for s in recent for latency in s.latencies_us)
        return Progress(
            elapsed_s=(now_ns - self.started_ns) / 1e9,
            bets_per_s=sum(s.placed for s in recent) / window_s,
            placed=self.placed,
            answered=self.answered,
            accepted=self.accepted,
            latency_us_p50=percentile(latencies, 50),
            latency_us_p99=percentile(latencies, 99),
            rejected=dict(self.rejected),
        )

    def summary(self, users: int, placing_ended_ns: int) -> str:
        """The rate counts from the first bet: bettors wait for odds before they can bet."""
        latencies = sorted(self._run_latencies_us)
        first_ns = placing_ended_ns if self.first_placed_ns is None else self.first_placed_ns
        placing_ns = placing_ended_ns - first_ns
        rate = self.placed / max(placing_ns / 1e9, 1e-9)
        return (
            f"simulate: {users} users, {self.placed} bets, {rate:.1f} bets/s, "
            f"accepted {percent_text(self.accepted, self.answered)}, "
            f"p50 {ms_text(percentile(latencies, 50))}, "
            f"p99 {ms_text(percentile(latencies, 99))}"
        )

    def details(self, users_failed: int) -> str:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items()))
        return (
            f"simulate: {self.answered} outcomes for {self.placed} bets, "
            f"{self.placed - self.answered} without outcome, {users_failed} users failed"
            + (f"; rejected: {reasons}" if reasons else "")
        )

    def _second_index(self, now_ns: int) -> int:
        return (now_ns - self.started_ns) // 1_000_000_000

    def _second(self, now_ns: int) -> _Second:
        index = self._second_index(now_ns)
        if not self._seconds or self._seconds[-1].second != index:
            self._seconds.append(_Second(index))
        return self._seconds[-1]


# -- options and where to connect ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    users: int
    rate_per_s: float
    seconds: float
    bets_max: int | None
    races: tuple[str, ...]
    api_url: str
    edge_host: str | None  # None: not given, ask the server
    edge_port: int | None
    shards: int | None
    tls: bool | None
    drain_s: float
    seed: int | None


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m betting simulate")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="bets per second, all users")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bets-max", type=int, default=None)
    parser.add_argument("--race", action="append", default=[], help="a race id (repeatable)")
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--edge-host", default=None)
    parser.add_argument("--edge-port", type=int, default=None)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--drain-seconds", type=float, default=5.0, help="wait for outcomes")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= USERS_MAX:
        parser.error(f"--users: expected 1 to {USERS_MAX}")
    if args.rate <= 0 or args.seconds <= 0 or args.drain_seconds < 0:
        parser.error("--rate and --seconds must be positive, --drain-seconds not negative")
    if args.bets_max is not None and args.bets_max < 1:
        parser.error("--bets-max must be at least 1")
    return Options(
        args.users, args.rate, args.seconds, args.bets_max, tuple(args.race),
        args.api.rstrip("/"), args.edge_host, args.edge_port, args.shards, args.tls,
        args.drain_seconds, args.seed,
    )  # fmt: skip


@dataclass(slots=True)
class OddsSeen:
    version: int
    state: str
    prices: dict[str, str]  # runner id -> decimal odds as the server wrote them; priced only


def endpoints_from(options: Options, config: dict[str, Any] | None) -> tuple[BettorEndpoints, int]:
    """Flags win over `GET /api/config`, which wins over the local edge's defaults."""
    edge = config.get("edge") if config else None
    edge = edge if isinstance(edge, dict) else DEFAULT_EDGE
    host = options.edge_host if options.edge_host is not None else edge.get("endpoint")
    port = options.edge_port if options.edge_port is not None else edge.get("port")
    tls = options.tls if options.tls is not None else bool(edge.get("tls"))
    shards = options.shards or (config or {}).get("bet_shards") or DEFAULT_SHARDS
    if port is not None and host is None:
        host = "127.0.0.1"
    endpoint = BettorEndpoints(options.api_url, host, port, tls)
    return endpoint, int(shards)


def races_from(listing: dict[str, Any]) -> dict[str, OddsSeen | None]:
    """`GET /api/races` -> the races still bettable, with the odds the listing shows."""
    races: dict[str, OddsSeen | None] = {}
    for race in listing.get("races", []):
        if race.get("state") in FINISHED_STATES:
            continue
        prices = {
            str(runner["runner_id"]): str(runner["odds"])
            for runner in race.get("runners", [])
            if runner.get("odds") is not None
        }
        races[str(race["race_id"])] = OddsSeen(int(race["version"]), str(race["state"]), prices)
    return races


def odds_from(data: object) -> OddsSeen | None:
    """An odds message's data -> what a bettor saw; None if it is not one."""
    if isinstance(data, str | bytes):
        with contextlib.suppress(ValueError):
            data = json.loads(data)
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        return None
    prices = {
        str(pair[0]): str(pair[1])
        for pair in data.get("prices", [])
        if isinstance(pair, list) and len(pair) == 2 and pair[1] is not None
    }
    return OddsSeen(data["version"], str(data.get("state")), prices)


def get_json(url: str) -> dict[str, Any] | None:
    """None when the server has no such endpoint (yet); other failures raise."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


# -- the async shell: one bettor ------------------------------------------------------------


class Bettor:
    def __init__(
        self,
        user_id: str,
        endpoints: BettorEndpoints,
        shards: int,
        races: dict[str, OddsSeen | None],
        stats: Stats,
        rng: random.Random,
    ) -> None:
        self.user_id = user_id
        self._endpoints = endpoints
        self._shards = shards
        self._races = list(races)
        self._latest: dict[str, OddsSeen] = {r: odds for r, odds in races.items() if odds}
        self._stats = stats
        self._rng = rng
        self._realtime: Any = None
        self._feed: UserFeed | None = None
        self._bets: Any = None
        self.pending: dict[str, int] = {}  # bet id -> publish start, monotonic ns
        self.in_flight = asyncio.Semaphore(IN_FLIGHT_MAX)  # taken by `pace`, freed by `place`

    async def connect(self) -> None:
        self._realtime = bettor_realtime(self._endpoints, self.user_id)
        channels = self._realtime.channels
        # Outcomes first: a bet must never be answered on a channel nobody listens to yet.
        self._feed = UserFeed(
            self._realtime, bettor_rest(self._endpoints, self.user_id), self.user_id
        )
        await self._feed.subscribe({"outcome": self._on_outcome})
        for race_id in self._races:
            channel = channels.get(odds_channel(race_id), params=ODDS_CHANNEL_PARAMS)
            await channel.subscribe(self._odds_listener(race_id))
        self._bets = channels.get(bets_channel(bets_shard(self.user_id, self._shards)))

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.close()
        if self._realtime is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._realtime.close(), CLOSE_TIMEOUT_S)

    def _odds_listener(self, race_id: str) -> Callable[[Any], None]:
        def on_odds(message: Any) -> None:
            seen = odds_from(message.data)
            current = self._latest.get(race_id)
            # Versions only grow; an older one (the listing raced a message) changes nothing.
            if seen is not None and (current is None or seen.version >= current.version):
                self._latest[race_id] = seen

        return on_odds

    def _on_outcome(self, message: Any) -> None:
        data = message.data
        if not isinstance(data, dict):
            return
        started_ns = self.pending.pop(str(data.get("bet_id")), None)
        if started_ns is None:
            return  # an answer to a retry already answered
        now_ns = time.monotonic_ns()
        reason = None if data.get("status") == "accepted" else str(data.get("reason"))
        self._stats.record_outcome(now_ns, (now_ns - started_ns) // 1_000, reason)

    def choose(self) -> dict[str, Any] | None:
        """A bet on a random open race, runner and stake, at the latest odds seen; None if no
        race is open as far as this bettor knows."""
        open_races = [r for r, odds in self._latest.items() if odds.state == "open" and odds.prices]
        if not open_races:
            return None
        race_id = self._rng.choice(sorted(open_races))
        seen = self._latest[race_id]
        runner_id = self._rng.choice(sorted(seen.prices))
        return {
            "bet_id": uuid.uuid4().hex,
            "race_id": race_id,
            "runner_id": runner_id,
            "stake_minor": self._rng.choice(STAKES_MINOR),
            "odds": seen.prices[runner_id],
            "odds_version": seen.version,
            "client_sent_at_ms": time.time_ns() // 1_000_000,
        }

    async def place(self, bet: dict[str, Any]) -> None:
        """Publish with the same bet id on every attempt: the server answers a repeat once."""
        try:
            bet_id = bet["bet_id"]
            now_ns = time.monotonic_ns()
            self.pending[bet_id] = now_ns
            self._stats.record_placed(now_ns)
            failure = await self._publish(bet)
            if failure is not None and self.pending.pop(bet_id, None) is not None:
                self._stats.record_failed(failure)
        finally:
            self.in_flight.release()

    async def _publish(self, bet: dict[str, Any]) -> str | None:
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await asyncio.wait_for(self._bets.publish("bet", bet), PUBLISH_TIMEOUT_S)
                return None
            except Exception as error:  # the SDK raises AblyException, or we time out
                status = getattr(error, "status_code", None)
                if isinstance(status, int) and 400 <= status < 500:
                    return REFUSED
                await asyncio.sleep(0.2 * 2**attempt)
        return PUBLISH_FAILED


# -- the async shell: the run ---------------------------------------------------------------


Bool3 = bool | None


class Budget:
    """How many bets may still be placed, and until when; `stop` ends placing early."""

    def __init__(self, bets_max: int | None, deadline_ns: int) -> None:
        self._left = bets_max
        self.deadline_ns = deadline_ns
        self.stop = asyncio.Event()
        self.interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True
        self.stop.set()

    def take(self) -> bool:
        if self.stop.is_set() or time.monotonic_ns() >= self.deadline_ns:
            return False
        if self._left is not None:
            if self._left == 0:
                self.stop.set()
                return False
            self._left -= 1
        return True


async def pace(bettor: Bettor, budget: Budget, first_ns: int, interval_ns: int) -> None:
    """One bettor's share of the rate, on absolute times so slow publishes do not drift it."""
    async with asyncio.TaskGroup() as placing:
        for tick in range(sys.maxsize):
            due_ns = first_ns + tick * interval_ns
            if due_ns >= budget.deadline_ns:
                return
            with contextlib.suppress(TimeoutError):
                delay_s = max(0, due_ns - time.monotonic_ns()) / 1e9
                await asyncio.wait_for(budget.stop.wait(), delay_s)
            # The slot first: slow ACKs slow this bettor down (the rate shows it) instead of
            # piling up tasks, and the bet asks the odds as they are when it can go.
            await bettor.in_flight.acquire()
            bet = bettor.choose()  # None: no open race seen yet, this tick places nothing
            if bet is not None and budget.take():
                placing.create_task(bettor.place(bet))  # frees the slot
                continue
            bettor.in_flight.release()
            if bet is not None:
                return  # the budget is spent or the run stopped


async def connect_all(bettors: list[Bettor], stop: asyncio.Event, out: TextIO) -> list[Bool3]:
    """Per bettor: connected (True), failed (False, reported; the rest go on), or not tried
    because the run was stopped first (None)."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(bettor: Bettor) -> Bool3:
        async with gate:
            if stop.is_set():
                return None
            try:
                await asyncio.wait_for(bettor.connect(), CONNECT_TIMEOUT_S)
                return True
            except Exception as error:
                detail = "timed out" if isinstance(error, TimeoutError) else str(error)
                print(f"simulate: user {bettor.user_id} failed to connect: {detail}", file=out)
                await bettor.close()
                return False

    return await asyncio.gather(*(connect(bettor) for bettor in bettors))


class ProgressLine:
    """Rewritten in place on a terminal, one line a second otherwise (logs, pipes)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._shown = False

    def show(self, line: str) -> None:
        self._out.write(f"\r{line}\x1b[K" if self._tty else f"{line}\n")
        self._out.flush()
        self._shown = True

    def end(self) -> None:
        if self._tty and self._shown:
            self._out.write("\n")


async def report_progress(stats: Stats, line: ProgressLine) -> None:
    while True:
        await asyncio.sleep(1)
        line.show(stats.progress(time.monotonic_ns()).line())


async def drain(bettors: list[Bettor], drain_s: float) -> None:
    """Wait for the outcomes still due, at most `drain_s`."""
    deadline = time.monotonic() + drain_s
    while any(bettor.pending for bettor in bettors) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def stop_on_interrupt(budget: Budget) -> None:
    """The first Ctrl-C ends placing, then the run drains and prints its summary; a second
    one stops at once (the default handler is back)."""
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        budget.interrupt()
        loop.remove_signal_handler(signal.SIGINT)

    # Not in the main thread (tests) or no signals here: Ctrl-C keeps its default.
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, interrupt)


async def resolve(options: Options) -> tuple[BettorEndpoints, int, dict[str, OddsSeen | None]]:
    config = await asyncio.to_thread(get_json, f"{options.api_url}/api/config")
    endpoints, shards = endpoints_from(options, config)
    if options.races:
        return endpoints, shards, dict.fromkeys(options.races)
    listing = await asyncio.to_thread(get_json, f"{options.api_url}/api/races")
    if listing is None:
        raise LookupError(f"{options.api_url}/api/races is not there; name races with --race")
    return endpoints, shards, races_from(listing)


async def simulate(options: Options, out: TextIO) -> int:
    try:
        endpoints, shards, races = await resolve(options)
    except (OSError, LookupError, ValueError, KeyError, TypeError) as error:
        print(f"simulate: cannot start: {error}", file=out)
        return 2
    if not races:
        print("simulate: no open races", file=out)
        return 2
    stats = Stats(time.monotonic_ns())
    seed = options.seed if options.seed is not None else random.randrange(2**32)
    run_id = uuid.uuid4().hex[:6]  # user ids of two runs do not meet
    bettors = [
        Bettor(f"sim-{run_id}-{n}", endpoints, shards, races, stats, random.Random(seed + n))
        for n in range(options.users)
    ]
    budget = Budget(options.bets_max, time.monotonic_ns())
    stop_on_interrupt(budget)
    connecting_ns = time.monotonic_ns()
    results = await connect_all(bettors, budget.stop, out)
    connected = [bettor for bettor, ok in zip(bettors, results, strict=True) if ok]
    failed = results.count(False)
    print(
        f"simulate: {len(connected)} of {len(bettors)} users connected "
        f"in {(time.monotonic_ns() - connecting_ns) / 1e9:.1f} s",
        file=out,
        flush=True,
    )
    try:
        await run_connected(options, connected, stats, budget, out)
    finally:
        await asyncio.gather(*(bettor.close() for bettor in connected))
    print(stats.details(failed), file=out, flush=True)
    if connected and not stats.placed and not budget.interrupted:
        print(NO_ODDS_SEEN, file=out, flush=True)
    if budget.interrupted:
        return 130
    return 0 if stats.placed and stats.placed == stats.answered else 1


async def run_connected(
    options: Options, bettors: list[Bettor], stats: Stats, budget: Budget, out: TextIO
) -> None:
    started_ns = time.monotonic_ns()
    budget.deadline_ns = started_ns + int(options.seconds * 1e9)
    interval_ns = int(len(bettors) / options.rate_per_s * 1e9) if bettors else 0
    offset_ns = int(1e9 / options.rate_per_s)  # users take turns: the bets come evenly
    line = ProgressLine(out)
    progress = asyncio.create_task(report_progress(stats, line))
    try:
        async with asyncio.TaskGroup() as users:
            for n, bettor in enumerate(bettors):
                users.create_task(pace(bettor, budget, started_ns + n * offset_ns, interval_ns))
        placing_ended_ns = time.monotonic_ns()
        await drain(bettors, options.drain_s)
    finally:
        progress.cancel()
        line.end()
    print(stats.summary(len(bettors), placing_ended_ns), file=out, flush=True)


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    ably_logger = logging.getLogger("ably")  # it logs its websocket URL, token included
    ably_logger.setLevel(max(logging.WARNING, ably_logger.level))
    try:
        return asyncio.run(simulate(options, sys.stdout))
    except KeyboardInterrupt:
        return 130
