"""Exactly once under kill -9: the history sink as its own process on the real broker, killed
mid-batch again and again, on SQLite and on a real PostgreSQL server.

Every life but the last is SIGKILLed: inside the database transaction after writing rows and
positions (`--kill-after-rows`), or from outside at a random moment while rows are arriving.
At the end every record is in the database exactly once (each bet's row comes from its first
record: none was lost and none taken from a later repeat) and the stored positions are the
partitions' ends. The same run with the positions committed apart from the rows loses rows,
which shows the test can tell.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from betting import codec
from betting.config import KafkaSettings
from betting.domain.settlement import Settlement, SettlementResult
from betting.history.store import HistoryStore
from betting.log.kafka import KafkaLog
from betting.log.port import Outgoing, TopicSpec
from tests.history.support import DATABASES, new_store, outcome

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 3
BETS = 300
RACES = 20
BATCH_MAX = 25
LIFE_TIMEOUT_S = 90.0
SEED = int(os.environ.get("HISTORY_KILL_SEED", "14"))


def log_records(rng: random.Random, results: str, settlements: str) -> list[Outgoing]:
    """Outcomes (some repeated, as the engine answers a retry), settlements of the accepted
    ones, and records that do not decode, in a shuffled order across races."""
    records: list[Outgoing] = []
    for n in range(BETS):
        race = f"race-{rng.randrange(RACES)}"
        user = f"user-{rng.randrange(40)}"
        first = outcome(user, f"bet-{n}", race, decided_at_ms=1_000 + n, accepted=n % 3 != 0)
        value = codec.encode_outcome(first)
        records.append(Outgoing(results, race.encode(), value))
        if rng.random() < 0.15:
            records.append(Outgoing(results, race.encode(), value))  # a retry's answer
        if rng.random() < 0.03:
            records.append(Outgoing(results, race.encode(), b'{"v": 1, "status": "lost"}'))
        if first.accepted and rng.random() < 0.6:
            paid = Settlement(f"bet-{n}", user, race, "runner-1", 500, SettlementResult.WON, 1_250)
            records.append(Outgoing(settlements, race.encode(), codec.encode_settlement(paid)))
    return records


async def produce(bootstrap: str, topics: list[str], records: list[Outgoing]) -> None:
    event_log = KafkaLog(KafkaSettings(bootstrap=bootstrap))
    await event_log.start()
    try:
        await event_log.ensure_topics([TopicSpec(topic, PARTITIONS) for topic in topics])
        await event_log.producer().send(records)
    finally:
        await event_log.stop()


async def read_back(
    bootstrap: str, topics: list[str]
) -> tuple[dict[tuple[str, int], int], dict[str, dict[tuple[str, str], int]]]:
    """The partitions' ends, and for each topic the offset of each key's first record."""
    event_log = KafkaLog(KafkaSettings(bootstrap=bootstrap))
    ends: dict[tuple[str, int], int] = {}
    first: dict[str, dict[tuple[str, str], int]] = {topic: {} for topic in topics}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(t, n) for t in topics for n in range(PARTITIONS)]
        for tp, end in (await consumer.end_offsets(partitions)).items():
            if end:
                ends[(tp.topic, tp.partition)] = end
    finally:
        await consumer.stop()
    for topic, number in ends:
        for record in await event_log.read_to_end(topic, number):
            try:
                row = (
                    codec.decode_outcome(record.value)
                    if topic == topics[0]
                    else codec.decode_settlement(record.value)
                )
            except codec.CodecError:
                continue
            first[topic].setdefault((row.user_id, row.bet_id), record.offset)
    return ends, first


class Lives:
    """Starts the sink process, one life after another."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *arguments: str) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.history.sink_process", *arguments],
            cwd=REPO,
            env=self.environment,
        )
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def lives() -> Iterator[Lives]:
    made = Lives({})
    yield made
    made.stop()


async def wait_exit(process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + LIFE_TIMEOUT_S
    while process.poll() is None:
        assert time.monotonic() < deadline, "the sink did not die where it was told to"
        await asyncio.sleep(0.1)
    return process.returncode


async def run_lives(
    store: HistoryStore,
    lives: Lives,
    ends: dict[tuple[str, int], int],
    rng: random.Random,
    first_arguments: tuple[str, ...] = (),
) -> int:
    """Kill the sink in three lives, then let a fourth finish; the number of kills."""
    kills = 0
    for life in range(3):
        arguments = first_arguments if life == 0 else ()
        if life < 2:
            process = lives.start(*arguments, "--kill-after-rows", str(rng.randint(20, 90)))
            assert await wait_exit(process) == -signal.SIGKILL
        else:  # from outside, at a random moment once rows are arriving
            before = await store.positions(ends)
            process = lives.start()
            deadline = time.monotonic() + LIFE_TIMEOUT_S
            while await store.positions(ends) == before:
                assert time.monotonic() < deadline and process.poll() is None
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0, 0.05))
            process.send_signal(signal.SIGKILL)
            assert await wait_exit(process) == -signal.SIGKILL
        kills += 1
    process = lives.start()
    deadline = time.monotonic() + LIFE_TIMEOUT_S
    while await store.positions(ends) != ends:
        assert time.monotonic() < deadline, "the last life did not reach the ends"
        assert process.poll() is None, "the last life died"
        await asyncio.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert await wait_exit(process) == 0
    return kills


async def rows(store: HistoryStore, table: str) -> dict[tuple[str, str], int]:
    found = await store.db.fetch(f"SELECT user_id, bet_id, log_offset FROM {table}")
    return {(str(user), str(bet)): int(offset) for user, bet, offset in found}


def sink_environment(bootstrap: str, name: str, database_kind: str, target: str) -> dict[str, str]:
    environment = {
        **os.environ,
        "BETTING_EVENT_LOG__KIND": "kafka",
        "KAFKA_BOOTSTRAP": bootstrap,
        "BETTING_TOPICS__BET_RESULTS": f"{name}.results",
        "BETTING_TOPICS__SETTLEMENTS": f"{name}.settlements",
        "BETTING_KAFKA__GROUP_ID": name,
        "BETTING_HISTORY__KIND": database_kind,
        "BETTING_HISTORY__BATCH_MAX": str(BATCH_MAX),
    }
    key = (
        "BETTING_HISTORY__POSTGRES_DSN"
        if database_kind == "postgres"
        else ("BETTING_HISTORY__SQLITE_PATH")
    )
    environment[key] = target
    return environment


@pytest.mark.parametrize("database_kind", DATABASES, indirect=True)
async def test_kill_9_mid_batch_leaves_no_gap_and_no_duplicate(
    kafka_bootstrap: str, unique_name: str, database_kind: str, history_target: str, lives: Lives
) -> None:
    rng = random.Random(SEED)
    topics = [f"{unique_name}.results", f"{unique_name}.settlements"]
    await produce(kafka_bootstrap, topics, log_records(rng, *topics))
    ends, first = await read_back(kafka_bootstrap, topics)
    lives.environment = sink_environment(
        kafka_bootstrap, unique_name, database_kind, history_target
    )
    store = new_store(database_kind, history_target)
    await store.open()
    try:
        assert await run_lives(store, lives, ends, rng) == 3
        assert await rows(store, "history_bets") == first[topics[0]]
        assert await rows(store, "history_settlements") == first[topics[1]]
        assert await store.positions(ends) == ends
    finally:
        await store.close()


@pytest.mark.parametrize("database_kind", DATABASES[:1], indirect=True)
async def test_positions_committed_apart_from_the_rows_lose_rows_at_a_kill(
    kafka_bootstrap: str, unique_name: str, database_kind: str, history_target: str, lives: Lives
) -> None:
    rng = random.Random(SEED + 1)
    topics = [f"{unique_name}.results", f"{unique_name}.settlements"]
    await produce(kafka_bootstrap, topics, log_records(rng, *topics))
    ends, first = await read_back(kafka_bootstrap, topics)
    lives.environment = sink_environment(
        kafka_bootstrap, unique_name, database_kind, history_target
    )
    store = new_store(database_kind, history_target)
    await store.open()
    try:
        process = lives.start("--offsets-apart", "--kill-after-rows", "40")
        assert await wait_exit(process) == -signal.SIGKILL
        process = lives.start()
        deadline = time.monotonic() + LIFE_TIMEOUT_S
        while await store.positions(ends) != ends:
            assert time.monotonic() < deadline and process.poll() is None
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        await wait_exit(process)
        lost = set(first[topics[0]]) - set(await rows(store, "history_bets"))
        lost |= set(first[topics[1]]) - set(await rows(store, "history_settlements"))
        assert lost, "the kill between the two commits lost nothing?"
    finally:
        await store.close()


@pytest.mark.parametrize("database_kind", DATABASES, indirect=True)
async def test_two_sinks_on_one_database_share_the_partitions_through_kills(
    kafka_bootstrap: str, unique_name: str, database_kind: str, history_target: str
) -> None:
    """Two instances, one database: partitions move between them at each join and kill while
    records keep coming, and a revoked owner's last batch may land after the new owner's
    first; the stored positions fence it. Every record is still written once."""
    rng = random.Random(SEED + 2)
    topics = [f"{unique_name}.results", f"{unique_name}.settlements"]
    records = log_records(rng, *topics)
    waves = [records[: len(records) // 3], records[len(records) // 3 :]]
    await produce(kafka_bootstrap, topics, waves[0])
    environment = sink_environment(kafka_bootstrap, unique_name, database_kind, history_target)
    first, second = Lives(environment), Lives(environment)
    store = new_store(database_kind, history_target)
    try:
        first.start()
        second.start()
        await store.open()
        for n in range(0, len(waves[1]), 20):  # more records while the group rebalances
            await produce(kafka_bootstrap, topics, waves[1][n : n + 20])
            if n == 100:
                assert first.process is not None
                first.process.send_signal(signal.SIGKILL)
                assert await wait_exit(first.process) == -signal.SIGKILL
                first.start()
            await asyncio.sleep(rng.uniform(0, 0.3))
        ends, expected = await read_back(kafka_bootstrap, topics)
        deadline = time.monotonic() + LIFE_TIMEOUT_S
        while await store.positions(ends) != ends:
            assert time.monotonic() < deadline, "the two sinks did not reach the ends"
            await asyncio.sleep(0.1)
        assert await rows(store, "history_bets") == expected[topics[0]]
        assert await rows(store, "history_settlements") == expected[topics[1]]
    finally:
        first.stop()
        second.stop()
        await store.close()
