"""The engine task over the in-memory log, and the records it writes: shared by the engine
unit tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from betting import codec
from betting.config import Settings
from betting.domain.model import Bet, Outcome, RaceState
from betting.domain.money import Odds
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing, TopicSpec
from betting.tasks.engine import Engine
from tests.unit.races import RACE_ID

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


def records(memory: MemoryLog, topic: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(record.value) for partition in memory.partitions(topic) for record in partition
    ]


async def until(condition: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


BookMoney = tuple[RaceState, list[int], list[int], int, dict[tuple[str, str], Outcome]]


def money(engine: Engine) -> dict[str, BookMoney]:
    """Each race's state, stakes, payouts, pool and outcomes: what a restore must bring back."""
    return {
        race_id: (book.state, book.stakes_minor, book.payouts_minor, book.pool_minor, book.outcomes)
        for books in engine.books.values()
        for race_id, book in books.items()
    }
