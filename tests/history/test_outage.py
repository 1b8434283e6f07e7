"""A PostgreSQL outage stops the history sink's writes, not the sink: it waits, retries, and
once the server is back writes what came in meanwhile, each record once."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from betting import codec
from betting.config import Settings
from betting.devtools.postgres_server import PostgresServer
from betting.history.database import PostgresDatabase
from betting.history.store import HistoryStore
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing
from betting.tasks.history_sink import HistorySink
from tests.history.support import fresh_database_dsn, outcome

pytestmark = pytest.mark.postgres
SETTINGS = Settings()
TIMEOUT_S = 60.0


def bets(first: int, count: int) -> list[Outgoing]:
    return [
        Outgoing(
            SETTINGS.topics.bet_results,
            f"r-{n % 3}".encode(),
            codec.encode_outcome(outcome("alice", f"b{n}", f"r-{n % 3}")),
        )
        for n in range(first, first + count)
    ]


async def test_the_sink_rides_out_a_database_outage(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="betting.history")
    dsn = fresh_database_dsn(postgres_server)
    event_log = MemoryLog(3)
    sink = HistorySink(event_log, HistoryStore(PostgresDatabase(dsn)), SETTINGS)
    task = asyncio.create_task(sink.run())

    async def written(count: int) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while sink.rows_written < count:
            assert not task.done(), task
            assert time.monotonic() < deadline, f"{sink.rows_written} of {count} written"
            await asyncio.sleep(0.05)

    try:
        await event_log.producer().send(bets(0, 30))
        await written(30)
        await asyncio.to_thread(postgres_server.shutdown)
        await event_log.producer().send(bets(30, 30))
        await asyncio.sleep(1.5)  # the sink meets the outage: a write fails and is retried
        assert not task.done() and sink.rows_written == 30
        assert "history sink waiting" in caplog.text
        await asyncio.to_thread(postgres_server.restart)
        await written(60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    reader = HistoryStore(PostgresDatabase(dsn))
    await reader.open()
    try:
        rows = await reader.db.fetch("SELECT COUNT(*), COUNT(DISTINCT bet_id) FROM history_bets")
        assert tuple(rows[0]) == (60, 60)
    finally:
        await reader.close()
