"""The history sink over the in-memory log: what it writes, what it skips, where it restarts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from betting import codec
from betting.config import Settings
from betting.domain.model import RejectReason
from betting.domain.settlement import Settlement, SettlementResult
from betting.history.database import SqliteDatabase
from betting.history.store import HistoryStore
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing, Record
from betting.tasks.history_sink import HistorySink
from tests.history.support import outcome

SETTINGS = Settings()
RESULTS, SETTLED = SETTINGS.topics.bet_results, SETTINGS.topics.settlements


async def run_until(sink: HistorySink, done: object, timeout_s: float = 20.0) -> None:
    task = asyncio.create_task(sink.run())
    deadline = time.monotonic() + timeout_s
    try:
        while not await done():  # type: ignore[operator]
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the sink did not get there"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def records() -> list[Outgoing]:
    first = outcome("alice", "b1", "r-1")
    won = Settlement("b1", "alice", "r-1", "runner-1", 500, SettlementResult.WON, 1_250)
    return [
        Outgoing(RESULTS, b"r-1", codec.encode_outcome(first)),
        Outgoing(RESULTS, b"r-1", b"not json"),
        Outgoing(RESULTS, b"r-1", codec.encode_outcome(first)),  # a retry's repeated answer
        Outgoing(RESULTS, b"r-1", b'{"v": 1, "status": "accepted", "bet_id": "x y"}'),
        Outgoing(RESULTS, b"r-2", codec.encode_outcome(outcome("bob", "b1", "r-2"))),
        Outgoing(SETTLED, b"r-1", codec.encode_settlement(won)),
        Outgoing(SETTLED, b"r-1", b"\xff" * 10),
    ]


async def counts(store: HistoryStore) -> tuple[int, int]:
    bets = await store.db.fetch("SELECT COUNT(*) FROM history_bets")
    settled = await store.db.fetch("SELECT COUNT(*) FROM history_settlements")
    return int(bets[0][0]), int(settled[0][0])


async def test_the_sink_writes_each_bet_once_and_skips_what_does_not_decode(
    tmp_path: Path,
) -> None:
    event_log = MemoryLog(3)
    await event_log.producer().send(records())
    store = HistoryStore(SqliteDatabase(tmp_path / "h.sqlite3"))
    reader = HistoryStore(SqliteDatabase(tmp_path / "h.sqlite3"))
    sink = HistorySink(event_log, store, SETTINGS)
    ends = {
        (topic, n): len(part)
        for topic in (RESULTS, SETTLED)
        for n, part in enumerate(event_log.partitions(topic))
        if part
    }

    async def caught_up() -> bool:
        return store.opened and await store.positions(ends) == ends

    await run_until(sink, caught_up)
    await reader.open()
    try:
        assert await counts(reader) == (2, 1)
        assert sink.skipped.counts == {RESULTS: 2, SETTLED: 1}

        # A second life over the same log and database starts where the first stopped.
        again = HistorySink(event_log, HistoryStore(SqliteDatabase(tmp_path / "h.sqlite3")),
                            SETTINGS)  # fmt: skip
        more = outcome("carol", "c1", "r-1")
        await event_log.producer().send([Outgoing(RESULTS, b"r-1", codec.encode_outcome(more))])
        partition = next(n for n, part in enumerate(event_log.partitions(RESULTS)) if len(part) > 4)
        target = {**ends, (RESULTS, partition): ends[(RESULTS, partition)] + 1}

        async def past_the_new_one() -> bool:
            return again.store.opened and await again.store.positions(target) == target

        await run_until(again, past_the_new_one)
        assert await counts(reader) == (3, 1)
        assert again.skipped.counts == {}  # the bad records were not read again
        assert again.rows_written == 1
    finally:
        await reader.close()


async def test_a_fresh_memory_log_is_read_from_its_start_again(tmp_path: Path) -> None:
    """The in-memory log is empty at every start: positions kept from an earlier run would
    skip the new run's records."""
    path = tmp_path / "h.sqlite3"
    for run, user in enumerate(("alice", "bob")):
        event_log = MemoryLog(1)
        bet = codec.encode_outcome(outcome(user, f"b{run}", "r-1"))
        await event_log.producer().send([Outgoing(RESULTS, b"r-1", bet)])
        sink = HistorySink(event_log, HistoryStore(SqliteDatabase(path)), SETTINGS, fresh_log=True)

        async def written(sink: HistorySink = sink) -> bool:
            return sink.rows_written == 1

        await run_until(sink, written)
    reader = HistoryStore(SqliteDatabase(path))
    await reader.open()
    try:
        assert await counts(reader) == (2, 0)
    finally:
        await reader.close()


def test_a_refusal_of_another_bet_under_a_bet_id_is_no_row_of_that_bet(tmp_path: Path) -> None:
    """An in-play bet is held, and another bet under its id refused at once: the refusal
    reaches bet-results first, and must not become the bet's (first, kept) row."""
    sink = HistorySink(MemoryLog(1), HistoryStore(SqliteDatabase(tmp_path / "h.sqlite3")), SETTINGS)
    held = outcome("alice", "b1")
    reused = held._replace(
        accepted=False, odds=None, reason=RejectReason.BET_ID_REUSED, stake_minor=9_999
    )
    values = [codec.encode_outcome(o) for o in (reused, held)]
    batch = sink.batch([Record(RESULTS, 0, n, b"r", v, 0) for n, v in enumerate(values)])
    assert [row.outcome for row in batch.bets] == [held]
    assert batch.positions == {(RESULTS, 0): 2}  # the refusal is read past, not skipped
