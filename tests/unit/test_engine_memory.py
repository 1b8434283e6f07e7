"""The engine task over the in-memory log: the same pipeline code that runs over Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson

from betting import codec
from betting.config import Settings
from betting.domain.events import CloseRace, OpenRace
from betting.domain.model import Bet
from betting.domain.money import Odds
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing, TopicSpec
from betting.tasks.engine import Engine
from tests.unit.races import RACE_ID, race

SETTINGS = Settings()
T = SETTINGS.topics


async def make_log() -> MemoryLog:
    memory = MemoryLog()
    names = [T.bets, T.races, T.odds, T.bet_results, T.book_changelog, T.dead_letters]
    await memory.ensure_topics([TopicSpec(name, 3) for name in names])
    return memory


@contextlib.asynccontextmanager
async def running(memory: MemoryLog) -> AsyncIterator[Engine]:
    engine = Engine(memory, SETTINGS, Readiness())
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bet(bet_id: str, odds: str, version: int, stake: int = 1_000, runner: int = 0) -> Outgoing:
    value = codec.encode_bet(
        Bet(bet_id, "user-1", RACE_ID, f"car-{runner}", stake, Odds.parse(odds), version, 4_000)
    )
    return Outgoing(T.bets, RACE_ID.encode(), value)


def command(value: bytes) -> Outgoing:
    return Outgoing(T.races, RACE_ID.encode(), value)


def records(memory: MemoryLog, topic: str) -> list[dict[str, object]]:
    return [
        orjson.loads(record.value) for partition in memory.partitions(topic) for record in partition
    ]


async def until(condition: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_bets_become_outcomes_odds_and_changelog() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )
    async with running(memory):
        await until(lambda: records(memory, T.odds))
        first = records(memory, T.odds)[0]
        price = dict(first["prices"])["car-0"]  # type: ignore[arg-type]
        await producer.send([bet("b1", price, first["version"]), bet("b2", "1.01", 1)])  # type: ignore[arg-type]
        await until(lambda: len(records(memory, T.bet_results)) == 2)
        await until(lambda: len(records(memory, T.odds)) == 2)
    results = {r["bet_id"]: r for r in records(memory, T.bet_results)}
    assert results["b1"]["status"] == "accepted" and results["b1"]["odds"] == price
    assert results["b2"]["status"] == "accepted"  # a shorter price is granted the current one
    versions = [r["version"] for r in records(memory, T.odds)]
    assert versions == sorted(set(versions))


async def test_garbage_goes_to_dead_letters_with_an_invalid_outcome_and_nothing_stalls() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send([command(codec.encode_command(race()))])
    garbage = [
        Outgoing(T.bets, b"k", b"\xff not json"),
        Outgoing(T.bets, b"k", b"[1, 2]"),
        Outgoing(T.bets, b"k", orjson.dumps({"v": 1, "bet_id": "bad-1", "user_id": "u"})),
        Outgoing(T.races, b"k", b'{"v": 1, "type": "explode", "race_id": "x", "at_ms": 1}'),
        Outgoing(T.races, RACE_ID.encode(), codec.encode_command(CloseRace(RACE_ID, 2))),
    ]
    await producer.send([*garbage, command(codec.encode_command(OpenRace(RACE_ID, 3)))])
    async with running(memory) as engine:
        await until(lambda: len(records(memory, T.dead_letters)) == 4)
        await until(lambda: records(memory, T.odds))
        assert engine.stats.commands_refused == 2  # "explode", and closing a scheduled race
    invalid = records(memory, T.bet_results)
    assert [(r["bet_id"], r["reason"]) for r in invalid] == [("bad-1", "INVALID")]
    assert "bet.race_id" in str(invalid[0]["detail"])
    assert all("error" in letter for letter in records(memory, T.dead_letters))


def money(engine: Engine) -> dict[str, object]:
    return {
        race_id: (book.state, book.stakes_minor, book.payouts_minor, book.pool_minor, book.outcomes)
        for books in engine.books.values()
        for race_id, book in books.items()
    }


async def test_a_restarted_engine_restores_books_and_keeps_each_bet_once() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )
    async with running(memory) as engine:
        await producer.send([bet("b1", "1.01", 1)])
        await until(lambda: len(records(memory, T.bet_results)) == 1)
        await until(lambda: not engine.books[0][RACE_ID].dirty)  # the bet's odds are out too
        before = money(engine)
    await producer.send([bet("b1", "1.01", 1, stake=9_999)])  # a retry, after the restart
    async with running(memory) as engine:
        await until(lambda: len(records(memory, T.bet_results)) == 2)
        after = money(engine)
    assert after == before
    first, retry = records(memory, T.bet_results)
    assert first == retry  # the first outcome, unchanged
