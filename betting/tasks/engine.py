"""The engine task: the materialized order book (ksqlDB's role in the reference design).

This is the async shell around the deterministic core (`betting.engine.core`): it polls,
batches, holds bets back until their race commands are fetched, commits each batch's outputs
in one transaction, and follows the group's rebalances; every decision is the core's. It
consumes `bets` and `races`, applies them to the books of the partitions it owns, and per
batch commits, atomically with the consumed positions: the outcomes (`bet-results`), the odds
snapshots due (`odds`), the books' changelog (`book-changelog`) and any dead letters. Every
output goes to the partition of the input it came from, so a race's records stay together.

Crash-only: a partition's books are always rebuilt from the changelog, whether at start-up, on
assignment, or after a commit failed (the in-memory books ran ahead of the log, so they are
thrown away and rebuilt, and the consumer rewinds to the committed positions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from betting import codec
from betting.config import Settings
from betting.domain.book import Book
from betting.engine import core
from betting.engine.core import BatchResult, CoreSettings, EngineCore
from betting.engine.records import batch_records
from betting.engine.restore import restore_partition
from betting.health import Readiness
from betting.log.port import (
    EventLog,
    LogUnavailable,
    Outgoing,
    Processor,
    Record,
    TopicPartition,
)
from betting.tasks.skipped import Skipped

log = logging.getLogger("betting.engine")
RETRY_MAX_S = 5.0
POSITIONS_KEY = codec.POSITIONS_KEY


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1_000, 2_500, 5_000)


@dataclass
class Histogram:
    """Counts per upper bound (ms), as Prometheus histograms want them."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    total_ms: float = 0.0
    count: int = 0

    def observe(self, value_ms: float) -> None:
        index = next((i for i, b in enumerate(LATENCY_BUCKETS_MS) if value_ms <= b), -1)
        self.counts[index] += 1
        self.total_ms += value_ms
        self.count += 1


@dataclass
class EngineStats:
    """This process's counts since it started, of committed batches only (a batch whose
    commit failed is processed again, and counted then)."""

    outcomes: Counter[str] = field(default_factory=Counter)  # "accepted" or a reason
    bets_repeated: int = 0  # a decided bet id sent again: answered, not decided again
    commands: Counter[str] = field(default_factory=Counter)  # "applied" or a refusal reason
    odds_published: int = 0
    dead_letters: int = 0
    commands_refused: int = 0
    batches: int = 0
    commit_ms: Histogram = field(default_factory=Histogram)
    bet_decision_ms: Histogram = field(default_factory=Histogram)  # edge receipt to commit


class Engine:
    def __init__(
        self,
        event_log: EventLog,
        settings: Settings,
        readiness: Readiness,
        clock_ms: Callable[[], int] = wall_clock_ms,
        instance_id: str = "",
    ) -> None:
        self._log = event_log
        self._topics = settings.topics
        self._engine = settings.engine
        self._group_id = settings.kafka.group_id
        self._readiness = readiness
        self._clock_ms = clock_ms
        self._instance_id = instance_id or uuid.uuid4().hex[:12]
        self.core = EngineCore(
            CoreSettings(
                bets_topic=settings.topics.bets,
                races_topic=settings.topics.races,
                odds_interval_ms=settings.engine.odds_interval_ms,
                race_tick_ms=settings.engine.race_tick_ms,
                deduction_scale=settings.settlement.scale(),
            )
        )
        self._lock = asyncio.Lock()  # one batch at a time; rebalances wait for it
        self._processor: Processor | None = None
        self._held: list[Record] = []  # bets waiting for their partition's race commands
        self._stopping = asyncio.Event()
        # Ready means owning partitions: from an assignment (and its restore) to a revocation.
        self._owns_partitions = False
        self._inbox: deque[list[Record]] = deque()  # polled, not yet taken
        self._inbox_filled = asyncio.Event()
        self._inbox_records = 0  # at most about two batches: the pump stops at one
        self.stats = EngineStats()
        self.restore_skipped = Skipped("engine restore")  # changelog records left out
        self._unexpected = Skipped("engine, dead-lettered after an unexpected error")

    @property
    def books(self) -> dict[int, dict[str, Book]]:
        """Partition -> race id -> book: the core's state."""
        return self.core.books

    @books.setter
    def books(self, books: dict[int, dict[str, Book]]) -> None:
        self.core.adopt(books)

    # -- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        processor = self._log.processor(
            self._group_id, [self._topics.bets, self._topics.races], self, self._instance_id
        )
        self._processor = processor
        await self._start(processor)
        pump = asyncio.create_task(self._pump(processor), name="engine-fetch")
        try:
            while not self._stopping.is_set():
                await self._step(processor)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await processor.stop()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return from `run`."""
        self._stopping.set()

    async def _start(self, processor: Processor) -> None:
        delay_s = 0.1
        while True:
            try:
                await processor.start()
                return
            except LogUnavailable as error:
                self._readiness.not_ready("engine", f"event log unavailable: {error}")
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)

    async def _pump(self, processor: Processor) -> None:
        """Keep the consumer's buffer drained into the inbox.

        A consumer asks the broker for more only once its buffer is empty, so reading it only
        between transactions left bets waiting up to two batches; this keeps a fetch in flight
        while a batch is processed and committed. Records go into the inbox the moment a poll
        returns them, so the consumer's position never runs ahead of the inbox (the hold-back
        check relies on it); a full inbox pauses polling instead.
        """
        while True:
            if self._inbox_records >= self._engine.batch_max:
                await asyncio.sleep(0.001)  # a batch is waiting: let the engine take it
                continue
            try:
                records = await processor.poll(self._engine.batch_max, 100)
            except LogUnavailable:
                await asyncio.sleep(0.1)
                continue
            if records:
                self._inbox.append(records)
                self._inbox_records += len(records)
                self._inbox_filled.set()

    async def _take(self, processor: Processor, timeout_ms: int) -> tuple[list[Record], set[int]]:
        """Everything in the inbox, and the races partitions not yet fetched to their end.

        The lag is read before the inbox is emptied: a races record fetched by then is in the
        inbox, so it is taken together with any bet that came after it.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._inbox_filled.wait(), timeout_ms / 1000)
        lagging = {
            number
            for topic, number in processor.assignment()
            if topic == self._topics.races and not await processor.caught_up((topic, number))
        }
        records: list[Record] = []
        while self._inbox:
            records.extend(self._inbox.popleft())
        self._inbox_records = 0
        self._inbox_filled.clear()
        return records, lagging

    async def _step(self, processor: Processor) -> None:
        try:
            polled, lagging = await self._take(processor, self._poll_timeout_ms())
            records = self._hold_back(self._held + polled, lagging, processor)
            async with self._lock:
                started_ns = time.perf_counter_ns()
                result = self.core.process(records, processor.assignment(), self._clock_ms())
                processed_ns = time.perf_counter_ns()
                if not result.empty:
                    outputs = batch_records(result, self._topics)
                    await self._commit(processor, result, outputs)
                    _log_batch(records, outputs, started_ns, processed_ns, len(self._held))
            self._ready_if_owning()
        except LogUnavailable as error:
            await self._recover(processor, error)

    def _process(self, records: list[Record], assignment: set[TopicPartition]) -> list[Outgoing]:
        """One batch through the core at this moment, uncommitted: its records."""
        return batch_records(self.core.process(records, assignment, self._clock_ms()), self._topics)

    async def _commit(
        self, processor: Processor, result: BatchResult, outputs: list[Outgoing]
    ) -> None:
        started_ns = time.perf_counter_ns()
        await processor.commit(outputs, {})  # positions ride in the changelog
        stats = self.stats
        stats.batches += 1
        stats.outcomes.update(result.decided)
        stats.bets_repeated += result.repeated
        stats.commands.update(result.commands)
        stats.odds_published += len(result.odds)
        stats.dead_letters += len(result.dead_letters)
        stats.commit_ms.observe((time.perf_counter_ns() - started_ns) / 1e6)
        now_ms = self._clock_ms()
        for answer in result.answers:
            if answer.logged:  # edge receipt to commit, of each bet decided in the batch
                stats.bet_decision_ms.observe(now_ms - answer.outcome.decided_at_ms)
        for topic, message in result.unexpected:
            self._unexpected.skip(topic, message)
        for command in result.command_results:
            refused = command.result
            if refused.reason is not None:
                stats.commands_refused += 1
                fields = {"request_id": refused.request_id, "reason": str(refused.reason),
                          "detail": refused.detail}  # fmt: skip
                log.info("command refused", extra={"fields": fields})

    async def _recover(self, processor: Processor, error: Exception) -> None:
        """The batch did not commit: forget it, and rebuild from what the log holds."""
        self._readiness.not_ready("engine", f"event log unavailable: {error}")
        log.warning(
            "commit failed; rebuilding from the log", extra={"fields": {"error": str(error)}}
        )
        delay_s = 0.1
        while True:
            await asyncio.sleep(delay_s)
            try:
                async with self._lock:
                    self._held = []
                    self.core.forget_offsets()
                    self._inbox.clear()  # the rewind fetches them again
                    self._inbox_records = 0
                    await processor.rewind()
                    owned = {number for _, number in processor.assignment()}
                    self._forget(set(), set(self.books) - owned)  # fenced: a newer owner's
                    await self._restore(owned)
                self._ready_if_owning()
                return
            except LogUnavailable:
                delay_s = min(delay_s * 2, RETRY_MAX_S)

    def _hold_back(
        self, records: list[Record], lagging: set[int], processor: Processor
    ) -> list[Record]:
        """Hold a partition's bets until its race commands are fetched up to the end.

        Kafka orders nothing across the two topics, and a fetch may bring a bet before the
        command that opened its race; like Kafka Streams' task idling, a bet waits (and its
        partition pauses) while the races partition with the same number lags.
        """
        bets = self._topics.bets
        lagging &= {r.partition for r in records if r.topic == bets}
        held_before = {(bets, n) for n in {r.partition for r in self._held}}
        paused = {(bets, number) for number in lagging}
        processor.resume(held_before - paused)
        processor.pause(paused)
        self._held = [r for r in records if r.topic == bets and r.partition in lagging]
        if not self._held:
            return records
        return [r for r in records if not (r.topic == bets and r.partition in lagging)]

    def _poll_timeout_ms(self) -> int:
        """Wake in time to publish conflated odds that are waiting."""
        interval = self._engine.odds_interval_ms
        pending = bool(self._held) or self.core.waiting()
        return min(self._engine.batch_wait_ms, interval) if pending else 100

    async def lag(self) -> int:
        return await self._processor.lag() if self._processor is not None else 0

    # -- partitions -----------------------------------------------------------------------

    def _ready_if_owning(self) -> None:
        if self._owns_partitions:
            self._readiness.ready("engine")
        else:
            self._readiness.not_ready("engine", "waiting for its partitions")

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        async with self._lock:  # no batch runs between the claim and the restore
            if self._processor is not None:
                await self._processor.claim(partitions)  # fences their earlier owners
            await self._restore_retrying({number for _, number in partitions})
            self._owns_partitions = True  # perhaps none: a group may have more members
            self._ready_if_owning()

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        self._owns_partitions = False  # until the group's next assignment is restored
        self._ready_if_owning()
        # Taking the lock waits for the batch in flight to commit before the partitions go.
        async with self._lock:
            self._forget(partitions, {number for _, number in partitions})
            if self._processor is not None:
                await self._processor.release(partitions)

    def _forget(self, partitions: set[TopicPartition], numbers: set[int]) -> None:
        self._forget_queued(partitions)
        for number in numbers:
            self.core.forget(number)

    def _forget_queued(self, partitions: set[TopicPartition]) -> None:
        """Drop fetched records of partitions that go: their next owner reads them again."""
        kept = [
            [r for r in records if (r.topic, r.partition) not in partitions]
            for records in self._inbox
        ]
        self._inbox = deque(records for records in kept if records)
        self._inbox_records = sum(len(records) for records in self._inbox)

    async def _restore_retrying(self, numbers: set[int]) -> None:
        """Restore, however long the log is away. The consumer (aiokafka) swallows what a
        rebalance callback raises and carries on with the partitions: were the restore to
        give up, their bets would meet empty books, read from wherever the consumer starts."""
        delay_s = 0.1
        while True:
            try:
                await self._restore(numbers)
                return
            except LogUnavailable as error:
                self._readiness.not_ready("engine", f"cannot restore: {error}")
                log.warning("restore failed; retrying", extra={"fields": {"error": str(error)}})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)

    async def _restore(self, numbers: set[int]) -> None:
        """Books from the changelog, and the input read on from where they were written."""
        for number in numbers:
            records = await self._log.read_to_end(self._topics.book_changelog, number)
            restored = self.core.restore(number, records)
            for error in restored.skipped:
                self.restore_skipped.skip(self._topics.book_changelog, error)
            if self._processor is not None and restored.positions:
                await self._processor.seek(
                    {(topic, number): offset for topic, offset in restored.positions.items()}
                )
        log.info("restored partitions", extra={"fields": {"partitions": sorted(numbers)}})


def _log_batch(
    records: list[Record], outputs: list[Outgoing], started_ns: int, processed_ns: int, held: int
) -> None:
    if log.isEnabledFor(logging.DEBUG):
        now_ms = time.time_ns() // 1_000_000 - (time.perf_counter_ns() - started_ns) // 1_000_000
        fields = {
            "records": len(records),
            "held": held,
            "age_ms_max": max((now_ms - r.timestamp_ms for r in records), default=0),
            "outputs": len(outputs),
            "process_ms": round((processed_ns - started_ns) / 1e6, 2),
            "commit_ms": round((time.perf_counter_ns() - processed_ns) / 1e6, 2),
        }
        log.debug("batch", extra={"fields": fields})


# The changelog's readers outside the engine (tests, tools) restore through the core too.
in_time_order = core.in_time_order


def restore_books(records: list[Record]) -> dict[str, Book]:
    return restore_partition(records).books


def restore_decided(records: list[Record]) -> Counter[str]:
    """The partition's bets decided so far, by outcome, from its last good positions record."""
    return restore_partition(records).decided
