"""Restarts on the real broker: readers, readiness, and two instances each on a local edge.

- A reader of every partition starts at a timestamp and is caught up against the ends it
  took at start; a group that never committed starts at a timestamp, never at the end.
- The engine reports ready only once it owns its partitions (assignment received, books
  restored); the read model once it holds what the log held at start, under steady odds.
- Two `serve` instances in one group, each with its own local edge: a bettor on either edge
  hears the outcomes of bets decided by the other; a restarted instance is not ready before
  its rebalance, lists prices, and rebuilds its edge's history from the log (rewind).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request

import pytest
from ably.types.message import Message

from betting import codec
from betting.channels import user_channel
from betting.client import BettorEndpoints, bettor_realtime
from betting.config import KafkaSettings
from betting.domain.model import Bet, OddsSnapshot, Outcome, RaceState, RunnerPrice
from betting.domain.money import Odds
from betting.health import Readiness
from betting.log.kafka import KafkaLog
from betting.log.port import Outgoing, TopicSpec
from betting.tasks.engine import Engine
from betting.tasks.views import Views
from tests.integration.kafka_pipeline import open_log, pipeline_env, pipeline_settings
from tests.integration.kafka_pipeline import race_commands as race_commands_for
from tests.support.serve_process import (
    free_port,
    owned_partitions,
    readyz,
    start_serve,
    until_ready,
)
from tests.unit.races import open_book

pytestmark = pytest.mark.kafka
RACES = ["race-a", "race-b", "race-c"]  # keyed to partitions 1, 0 and 2 of three


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _read_until(reader: object, count: int, timeout_s: float = 30) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < count or not await reader.caught_up():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"read {len(values)} of {count}"
        values.extend(r.value for r in await reader.poll(100, 100))  # type: ignore[attr-defined]
    return values


async def test_a_reader_reads_every_partition_from_a_timestamp(
    kafka_bootstrap: str, unique_name: str
) -> None:
    event_log = KafkaLog(KafkaSettings(bootstrap=kafka_bootstrap))
    await event_log.start()
    topic = f"{unique_name}.outcomes"
    await event_log.ensure_topics([TopicSpec(topic, 3)])
    producer = event_log.producer()
    try:
        await producer.send([Outgoing(topic, b"k", b"old-%d" % n, n % 3) for n in range(6)])
        await asyncio.sleep(0.05)  # pacing: broker timestamps on either side of since_ms
        since_ms = _now_ms()
        await asyncio.sleep(0.05)
        await producer.send([Outgoing(topic, b"k", b"new-%d" % n, n % 3) for n in range(6)])
        # A group of two holds the partitions: a reader takes every one of them all the same.
        shares = [event_log.group_consumer(f"{unique_name}.group", [topic]) for _ in range(2)]
        for share in shares:
            await share.start()
        everything = event_log.reader([topic])
        recent = event_log.reader([topic], since_ms=since_ms)
        future = event_log.reader([topic], since_ms=_now_ms() + 3_600_000)
        for reader in (everything, recent, future):
            await reader.start()
        assert sorted(await _read_until(everything, 12)) == sorted(
            [b"old-%d" % n for n in range(6)] + [b"new-%d" % n for n in range(6)]
        )
        assert sorted(await _read_until(recent, 6)) == sorted(b"new-%d" % n for n in range(6))
        # Nothing that recent: it starts at the end it saw, and misses nothing after it.
        assert await future.caught_up()
        await producer.send([Outgoing(topic, b"k", b"later", 1)])
        assert await _read_until(future, 1) == [b"later"]
        for reader in (everything, recent, future):
            await reader.stop()
        for share in shares:
            await share.stop()
    finally:
        await event_log.stop()


async def test_a_group_that_never_committed_starts_at_a_timestamp_not_at_the_end(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """The forwarders' case: a crash before their group's first commit. Records written
    before the restart must still be read (a bettor heard 0 of 150 when it began at the end)."""
    event_log = KafkaLog(KafkaSettings(bootstrap=kafka_bootstrap))
    await event_log.start()
    topic = f"{unique_name}.bet-results"
    await event_log.ensure_topics([TopicSpec(topic, 2)])
    try:
        outcome = Outcome("b", "alice", "race-a", "car-0", 100, True, Odds(250), None, "", 1, 2)
        value = codec.encode_outcome(outcome)
        await event_log.producer().send([Outgoing(topic, b"k", value, n % 2) for n in range(10)])
        consumer = event_log.group_consumer(
            f"{unique_name}.outcomes-out", [topic], since_ms=_now_ms() - 120_000
        )
        await consumer.start()
        read: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(read) < 10:
            assert time.monotonic() < deadline, f"read {len(read)} of 10"
            read.extend(r.value for r in await consumer.poll(100, 100))
        assert len(read) == 10
        await consumer.stop()
    finally:
        await event_log.stop()


class _CheckedReadiness(Readiness):
    """Records, at the moment the engine says ready, whether it owns restored partitions."""

    def __init__(self) -> None:
        super().__init__()
        self.engine: Engine | None = None
        self.wrong: list[str] = []

    def ready(self, component: str) -> None:
        engine = self.engine
        if component == "engine" and engine is not None:
            processor = engine._processor
            numbers = {n for _, n in processor.assignment()} if processor else set()
            if not numbers or not numbers <= set(engine.books):
                self.wrong.append(f"ready owning {numbers}, restored {set(engine.books)}")
        super().ready(component)


async def test_the_engine_is_ready_only_once_its_partitions_are_restored(
    kafka_bootstrap: str, unique_name: str
) -> None:
    settings = pipeline_settings(pipeline_env(kafka_bootstrap, unique_name))
    event_log = await open_log(settings)
    readiness = _CheckedReadiness()
    readiness.not_ready("engine", "waiting for its partitions")  # as serve starts
    engine = Engine(event_log, settings, readiness, instance_id="one")
    readiness.engine = engine
    running = asyncio.create_task(engine.run())
    try:
        deadline = time.monotonic() + 60
        while "engine" in readiness.reasons():
            assert time.monotonic() < deadline, readiness.reasons()
            await asyncio.sleep(0.01)
        assert readiness.wrong == []
    finally:
        engine.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 30)
        await event_log.stop()


async def test_the_read_model_is_ready_under_steady_odds(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """Odds arrive faster than a fetch is held: no poll comes back empty. The read model must
    still be ready once it holds what the log held at start (it stayed not ready for minutes)."""
    settings = pipeline_settings(pipeline_env(kafka_bootstrap, unique_name))
    event_log = await open_log(settings)
    book = open_book()
    key = b"race-1"
    producer = event_log.producer()
    topics = settings.topics
    await producer.send(
        [
            Outgoing(topics.book_changelog, key, book.snapshot(with_outcomes=False)),
            Outgoing(topics.odds, key, codec.encode_odds(book.odds_snapshot(5))),
        ]
    )
    stop = asyncio.Event()

    async def steady_odds() -> None:
        version = 6
        while not stop.is_set():
            await producer.send(
                [Outgoing(topics.odds, key, codec.encode_odds(book.odds_snapshot(version)))]
            )
            version += 1
            await asyncio.sleep(0.01)  # pacing: a steady stream, not a flood

    writer = asyncio.create_task(steady_odds())
    views = Views(event_log, settings)
    readiness = Readiness()
    readiness.not_ready("views", "reading the log")
    reading = asyncio.create_task(views.run(readiness))
    try:
        async with asyncio.timeout(30):
            await views.ready.wait()
        assert readiness.is_ready
        assert all(r["odds"] for r in views.races["race-1"].public()["runners"])
    finally:
        stop.set()
        await writer
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await event_log.stop()


# -- two instances, each on its own local edge ---------------------------------------------


def _bets(settings: object, user_id: str, count: int) -> list[Outgoing]:
    topic = settings.topics.bets  # type: ignore[attr-defined]
    out = []
    for n in range(count):
        race_id = RACES[n % len(RACES)]
        bet = Bet(
            f"{user_id}-{n}", user_id, race_id, f"car-{n % 7}", 100, Odds.parse("1.01"), 1,
            _now_ms(),
        )  # fmt: skip
        out.append(Outgoing(topic, race_id.encode(), codec.encode_bet(bet)))
    return out


async def _heard(queue: asyncio.Queue[Message], bet_ids: set[str], timeout_s: float) -> set[str]:
    """The bet ids of the outcomes heard, until all of `bet_ids` are or the time is out."""
    heard: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while not bet_ids <= heard and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            message = await asyncio.wait_for(queue.get(), 1)
            if message.name == "outcome" and isinstance(message.data, dict):
                heard.add(str(message.data["bet_id"]))
    return heard


async def _subscribed(realtime: object, channel: str, **params: str) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    options = {"params": params} if params else {}
    await realtime.channels.get(channel, **options).subscribe(queue.put_nowait)  # type: ignore[attr-defined]
    return queue


def _races(port: int) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/races", timeout=5) as response:
        races: list[dict[str, object]] = json.loads(response.read())["races"]
        return races


async def test_two_instances_each_edge_hears_every_outcome_and_a_restart_rebuilds_it(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    ports = [(free_port(), free_port()), (free_port(), free_port())]
    envs = [
        {
            **env,
            "BETTING_SERVER__PORT": str(http),
            "BETTING_EDGE__PORT": str(edge),
            "BETTING_KAFKA__INSTANCE_ID": name,
        }
        for (http, edge), name in zip(ports, ("a", "b"), strict=True)
    ]
    servers = [start_serve(instance) for instance in envs]
    endpoints = [
        BettorEndpoints(f"http://127.0.0.1:{http}", "127.0.0.1", edge, tls=False)
        for http, edge in ports
    ]
    users = ["alice", "bob"]  # alice on a's edge, bob on b's
    clients = [bettor_realtime(e, u) for e, u in zip(endpoints, users, strict=True)]
    try:
        for http, _ in ports:
            await until_ready(http, 200)
        deadline = time.monotonic() + 60
        while not all(0 < len(owned_partitions(s) or []) < 3 for s in servers):
            assert time.monotonic() < deadline, "the two instances did not split the partitions"
            await asyncio.sleep(0.2)
        queues = [
            await _subscribed(c, user_channel(u)) for c, u in zip(clients, users, strict=True)
        ]
        producer = event_log.producer()
        await producer.send(race_commands_for(settings, RACES))
        await producer.send([*_bets(settings, "alice", 30), *_bets(settings, "bob", 30)])
        for queue, user in zip(queues, users, strict=True):
            expected = {f"{user}-{n}" for n in range(30)}
            heard = await _heard(queue, expected, 60)
            # Each instance decided the races of its own partitions: every race's outcomes
            # reached both edges.
            assert heard == expected, f"{user} heard {len(heard)} of 30"

        servers[0].kill()  # kill -9, then back with its instance id, ports and all
        servers[0].wait(30)
        await clients[0].close()
        servers[0] = start_serve(envs[0])
        http_a = ports[0][0]
        body = await until_ready(http_a, 200, 90)
        # Ready only once the rebalance (waiting out the dead member's session) is over and
        # its partitions are restored: said ready at once, this found no restore yet.
        assert owned_partitions(servers[0]), f"ready before owning partitions: {body}"
        code, _ = await asyncio.to_thread(readyz, http_a)
        assert code == 200
        for race in _races(http_a):
            assert all(r["odds"] for r in race["runners"]), race  # type: ignore[attr-defined]
        # The restarted edge's history was rebuilt from the log: rewind finds the outcomes.
        clients[0] = bettor_realtime(endpoints[0], "alice")
        rewound = await _subscribed(clients[0], user_channel("alice"), rewind="2m")
        expected = {f"alice-{n}" for n in range(30)}
        assert await _heard(rewound, expected, 30) == expected
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for server in servers:
            server.kill()
            server.wait(30)
        await event_log.stop()


def _odds(settings: object, race_id: str, version: int) -> Outgoing:
    snapshot = OddsSnapshot(
        race_id, version, RaceState.OPEN, (RunnerPrice("car-1", Odds.parse("2.00")),), _now_ms()
    )
    topic = settings.topics.odds  # type: ignore[attr-defined]
    return Outgoing(topic, race_id.encode(), codec.encode_odds(snapshot), 0)


async def test_a_starting_edge_lets_clients_in_only_once_its_history_is_rebuilt(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """A client let in while the forwarders replay the log would hear the past as news: odds
    older than what it may already hold, under ids it never saw. The edge holds its port shut
    until the replay is done; a client then hears only what is new."""
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    producer = event_log.producer()
    replayed = 20_000  # the log's last two minutes of one race's odds, for the edge to replay
    for first in range(1, replayed + 1, 1_000):
        await producer.send([_odds(settings, "race-x", v) for v in range(first, first + 1_000)])
    http, edge = free_port(), free_port()
    server = start_serve({**env, "BETTING_SERVER__PORT": str(http),
                          "BETTING_EDGE__PORT": str(edge)})  # fmt: skip
    endpoints = BettorEndpoints(f"http://127.0.0.1:{http}", "127.0.0.1", edge, tls=False)
    client = None
    try:
        while True:  # sign in as soon as the HTTP port answers; the SDK retries the edge
            try:
                await asyncio.to_thread(_races, http)
                break
            except OSError:
                await asyncio.sleep(0.05)
        client = bettor_realtime(endpoints, "carol", disconnected_retry_timeout=100)
        queue = await _subscribed(client, "outbound:odds:race-x")
        await until_ready(http, 200, 90)
        await producer.send([_odds(settings, "race-x", replayed + 1)])
        versions: list[int] = []
        while replayed + 1 not in versions:
            message = await asyncio.wait_for(queue.get(), 30)
            versions.append(int(message.data["version"]))
        assert versions == [replayed + 1], f"heard {len(versions)}, from {versions[0]}"
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        server.kill()
        server.wait(30)
        await event_log.stop()
