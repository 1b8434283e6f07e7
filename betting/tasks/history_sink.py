"""The history sink: `bet-results` and `settlements` into the history database, exactly once.

It reads in a consumer group of its own (`<kafka.group_id>.history`), so with several serve
instances on one database each partition has one writer at a time. The group's offsets are
never committed: the database is the truth. On every assignment the sink seeks each partition
to the position stored in the database, and each batch is written with its positions in one
database transaction (`HistoryStore.write`), fenced by them: a batch that a revoked owner
writes late, or that a restart reads again, is dropped row by row below the stored position.
So a kill -9 at any moment leaves no gap and no duplicate.

A record that does not decode makes no row, is counted in `betting_records_skipped_total`
(reader `history`) and moves its partition on like any other. A bet's repeated outcome (the
engine answers a retried bet id with its first outcome again) is the same key: ignored.

`python -m betting.tasks.history_sink` runs the sink alone, with serve's configuration.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from betting import codec
from betting.config import HistoryKind, Settings
from betting.domain.model import RejectReason
from betting.history.database import DatabaseUnavailable
from betting.history.store import At, Batch, BetRow, HistoryStore, SettlementRow
from betting.log.port import EventLog, GroupConsumer, LogUnavailable, Record, TopicPartition
from betting.tasks.skipped import Skipped

log = logging.getLogger("betting.history")
RETRY_MAX_S = 5.0
POLL_TIMEOUT_MS = 100
# History is in no hurry: the broker may hold a fetch this long to fill it, so the sink
# writes fewer, larger transactions and spares the broker the engine is waiting on.
FETCH_DELAY_MS = 250
T = TypeVar("T")


class HistorySink:
    def __init__(
        self,
        event_log: EventLog,
        store: HistoryStore,
        settings: Settings,
        fresh_log: bool = False,
    ) -> None:
        self._log = event_log
        self.store = store
        self._bet_results = settings.topics.bet_results
        self._settlements = settings.topics.settlements
        self._group_id = f"{settings.kafka.group_id}.history"
        self._batch_max = settings.history.batch_max
        self._fresh_log = fresh_log  # the in-memory log: offsets start at 0 every run
        self._consumer: GroupConsumer | None = None
        self.skipped = Skipped("history")
        self.rows_written = 0

    @property
    def topics(self) -> list[str]:
        return [self._bet_results, self._settlements]

    async def run(self) -> None:
        await _retrying(self.store.open)
        try:
            if self._fresh_log:
                await _retrying(lambda: self.store.forget_positions(self.topics))
            consumer = self._log.group_consumer(
                self._group_id, self.topics, max_delay_ms=FETCH_DELAY_MS, listener=self
            )
            self._consumer = consumer
            await _retrying(consumer.start)
            try:
                while True:
                    records = await _retrying(
                        lambda: consumer.poll(self._batch_max, POLL_TIMEOUT_MS)
                    )
                    if records:
                        await self._write(records)
            finally:
                await consumer.stop()
        finally:
            await self.store.close()

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        """Read on from where the database says, never from the group's offsets."""
        stored = await _retrying(lambda: self.store.positions(partitions))
        if self._consumer is not None:
            await self._consumer.seek({where: stored.get(where, 0) for where in partitions})

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        return None  # nothing to hand over: a late write of ours is fenced by the positions

    async def _write(self, records: list[Record]) -> None:
        batch = self.batch(records)
        written = await _retrying(lambda: self.store.write(batch))
        self.rows_written += written.rows

    def batch(self, records: list[Record]) -> Batch:
        batch = Batch(positions={})
        for record in records:
            batch.positions[(record.topic, record.partition)] = record.offset + 1
            at = At(record.topic, record.partition, record.offset)
            try:
                if record.topic == self._bet_results:
                    outcome = codec.decode_outcome(record.value)
                    # A refusal of another bet under a bettor's bet id is not that bet: it
                    # may even come first (the bet held in play), and the row is the first.
                    if outcome.reason is not RejectReason.BET_ID_REUSED:
                        batch.bets.append(BetRow(outcome, at))
                elif record.topic == self._settlements:
                    settlement = codec.decode_settlement(record.value)
                    batch.settlements.append(SettlementRow(settlement, record.timestamp_ms, at))
            except codec.CodecError as error:  # skipped and counted: the sink moves on
                self.skipped.skip(record.topic, error)
        return batch


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Retry while the log or the database is away; anything else is a defect and raised."""
    delay_s = 0.1
    while True:
        try:
            return await call()
        except (LogUnavailable, DatabaseUnavailable) as error:
            log.warning("history sink waiting", extra={"fields": {"error": str(error)}})
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)


def build_store(settings: Settings) -> HistoryStore | None:
    """The configured history store (not opened yet), or None with `history.kind = "none"`."""
    history = settings.history
    if history.kind is HistoryKind.NONE:
        return None
    if history.kind is HistoryKind.POSTGRES:
        from betting.history.database import PostgresDatabase

        return HistoryStore(PostgresDatabase(history.postgres_dsn))
    from betting.history.database import SqliteDatabase

    return HistoryStore(SqliteDatabase(history.sqlite_path))


async def main() -> None:
    """The sink alone, on serve's configuration (on Kafka: a memory log would be empty)."""
    from betting import config, logs
    from betting.log import build_event_log

    settings = config.load()
    logs.configure(settings.server.log_level)
    store = build_store(settings)
    if store is None:
        raise SystemExit("history.kind is none: nothing to write to")
    event_log = build_event_log(settings)
    await _retrying(event_log.start)
    work = asyncio.create_task(HistorySink(event_log, store, settings).run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, work.cancel)
    try:
        await work
    except asyncio.CancelledError:
        pass
    finally:
        await event_log.stop()


if __name__ == "__main__":
    asyncio.run(main())
