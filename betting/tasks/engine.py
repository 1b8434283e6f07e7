"""The engine task: the materialized order book (ksqlDB's role in the reference design).

It consumes `bets` and `races`, applies them to the books of the partitions it owns, and per
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
import heapq
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from betting import codec, command_results
from betting.command_results import CommandResult, RefusalReason
from betting.config import Settings
from betting.domain import race_model
from betting.domain.book import Book
from betting.domain.errors import DomainError, InvalidValue, InvariantViolation
from betting.domain.events import (
    CloseRace,
    CreateRace,
    RaceCommand,
    ResultRace,
    SettleRace,
    UpdateStrengths,
)
from betting.domain.model import Bet, Outcome, RaceState, RejectReason
from betting.domain.settlement import settle
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


@dataclass
class _Batch:
    """What one batch writes: outputs in order, and the races whose header must be logged
    (after a command or an odds publication; bets change only outcomes, logged one by one)."""

    partition_of: dict[str, int] = field(default_factory=dict)
    outputs: list[Outgoing] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    received_ms: list[int] = field(default_factory=list)  # of the bets decided in it
    decided: Counter[str] = field(default_factory=Counter)  # bets by outcome, as in stats
    repeated: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    decided_partitions: set[int] = field(default_factory=set)


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
        self.books: dict[int, dict[str, Book]] = {}  # partition -> race id -> book
        self._published_at_ms: dict[str, int] = {}
        self._races: dict[str, tuple[race_model.InPlayState, int]] = {}  # model, ticks run
        self._lock = asyncio.Lock()  # one batch at a time; rebalances wait for it
        self._processor: Processor | None = None
        self._held: list[Record] = []  # bets waiting for their partition's race commands
        self._stopping = asyncio.Event()
        # Ready means owning partitions: from an assignment (and its restore) to a revocation.
        self._owns_partitions = False
        self._inbox: deque[list[Record]] = deque()  # polled, not yet taken
        self._inbox_filled = asyncio.Event()
        self._inbox_records = 0  # at most about two batches: the pump stops at one
        # The next offset to process per partition: a record below it is a second copy (one
        # fetched before a rebalance or a rewind, and again after) and is skipped.
        self._next_offsets: dict[TopicPartition, int] = {}
        self._positions: dict[int, dict[str, int]] = {}  # partition -> topic -> next offset
        # Bets decided per partition since the log began, by outcome: logged with the
        # positions, so the count is exactly once, restored with the books, and the read
        # model sums every partition's for /admin/stats.
        self._decided: dict[int, Counter[str]] = {}
        self.stats = EngineStats()
        self.restore_skipped = Skipped("engine restore")  # changelog records left out
        self._unexpected = Skipped("engine, dead-lettered after an unexpected error")

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
                batch = self._process(records, processor.assignment())
                processed_ns = time.perf_counter_ns()
                if batch.outputs or batch.positions:
                    await self._commit(processor, batch)
                    _log_batch(records, batch, started_ns, processed_ns, len(self._held))
            self._ready_if_owning()
        except LogUnavailable as error:
            await self._recover(processor, error)

    async def _commit(self, processor: Processor, batch: _Batch) -> None:
        started_ns = time.perf_counter_ns()
        await processor.commit(batch.outputs, {})  # positions ride in the changelog
        self.stats.batches += 1
        self.stats.outcomes.update(batch.decided)
        self.stats.bets_repeated += batch.repeated
        self.stats.commands.update(batch.commands)
        self.stats.commit_ms.observe((time.perf_counter_ns() - started_ns) / 1e6)
        now_ms = self._clock_ms()
        for received_ms in batch.received_ms:
            self.stats.bet_decision_ms.observe(now_ms - received_ms)

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
                    self._held, self._next_offsets = [], {}
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
        pending = self._held or any(
            book.dirty or book.pending or book.in_play
            for books in self.books.values()
            for book in books.values()
        )
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
            for race_id in self.books.pop(number, {}):
                self._published_at_ms.pop(race_id, None)
                self._races.pop(race_id, None)

    def _forget_queued(self, partitions: set[TopicPartition]) -> None:
        """Drop fetched records of partitions that go: their next owner reads them again."""
        kept = [
            [r for r in records if (r.topic, r.partition) not in partitions]
            for records in self._inbox
        ]
        self._inbox = deque(records for records in kept if records)
        self._inbox_records = sum(len(records) for records in self._inbox)
        for partition in partitions:
            self._next_offsets.pop(partition, None)

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
            inputs = {self._topics.bets, self._topics.races}
            self.books[number], positions = restore_partition(records, self.restore_skipped, inputs)
            self._positions[number] = positions
            self._decided[number] = restore_decided(records)
            for topic, offset in positions.items():
                # Anything fetched below it before the seek lands was processed already.
                self._next_offsets[(topic, number)] = offset
            if self._processor is not None and positions:
                await self._processor.seek(
                    {(topic, number): offset for topic, offset in positions.items()}
                )
        log.info("restored partitions", extra={"fields": {"partitions": sorted(numbers)}})

    # -- one batch ------------------------------------------------------------------------

    def _process(self, records: list[Record], assignment: set[TopicPartition]) -> _Batch:
        batch = _Batch()
        for record in in_time_order(records, first_on_ties=self._topics.races):
            where = (record.topic, record.partition)
            if where not in assignment:
                continue  # revoked while it was in flight: its new owner will take it
            if record.offset < self._next_offsets.get(where, 0):
                continue  # already processed: a copy fetched again
            self._next_offsets[where] = record.offset + 1
            self._handle(record, batch)
            batch.positions[(record.topic, record.partition)] = record.offset + 1
        self._run_races(batch)
        self._release_held_bets(batch)
        self._settle_resulted(batch)
        self._publish_due_odds(batch)
        self._write_headers(batch)
        self._write_positions(batch)
        return batch

    def _write_positions(self, batch: _Batch) -> None:
        """The consumed offsets go in the changelog, in the batch's transaction, beside the
        state they produced: restoring a partition restores where to read on from, and the
        transaction needs no offset commit to the group (two broker round trips fewer)."""
        for (topic, number), offset in batch.positions.items():
            self._positions.setdefault(number, {})[topic] = offset
        # Held bets decided without new input change the counts only: logged with the positions
        # the partition has (it has some, or it would hold no bets).
        counted = {number for number in batch.decided_partitions if self._positions.get(number)}
        for number in {number for _, number in batch.positions} | counted:
            value = codec.encode_positions(
                self._positions.get(number, {}), self._decided.get(number, {})
            )
            batch.outputs.append(
                Outgoing(self._topics.book_changelog, POSITIONS_KEY, value, number)
            )

    def _run_races(self, batch: _Batch) -> None:
        """Advance every in-play race to now in fixed ticks; its strengths move the odds, and
        a finished race is closed, resulted and settled in this same transaction."""
        now_ms = self._clock_ms()
        for number, books in self.books.items():
            for race_id, book in books.items():
                if book.in_play and book.state in (RaceState.OPEN, RaceState.SUSPENDED):
                    self._run_race(number, book, now_ms, batch)
                else:
                    self._races.pop(race_id, None)  # stopped by a command, or never started

    def _run_race(self, number: int, book: Book, now_ms: int, batch: _Batch) -> None:
        tick_ms = self._engine.race_tick_ms
        race_id = book.race.race_id
        state, ticks = self._races.get(race_id) or (race_model.start_race(
            [(r.runner_id, r.rating) for r in book.race.runners], book.seed, book.length_mm
        ), 0)  # fmt: skip
        due = (now_ms - book.started_at_ms) // tick_ms
        if due <= ticks:
            return
        while ticks < due and race_model.finished(state) is None:
            state, ticks = race_model.advance(state, tick_ms), ticks + 1
        self._races[race_id] = (state, ticks)
        at_ms = book.started_at_ms + ticks * tick_ms
        running = [
            (r, s) for r, s in race_model.strengths(state) if book.active[book.runner_index[r]]
        ]
        book.command(UpdateStrengths(race_id, tuple(running), at_ms))
        placings = race_model.finished(state)
        if placings is not None:
            running_ids = {r.runner_id for i, r in enumerate(book.race.runners) if book.active[i]}
            book.command(CloseRace(race_id, at_ms))
            book.command(ResultRace(race_id, tuple(p for p in placings if p in running_ids), at_ms))
            self._races.pop(race_id, None)
        batch.partition_of[race_id] = number

    def _settle_resulted(self, batch: _Batch) -> None:
        """Pay out every resulted race, once: SETTLED is logged with the settlements."""
        now_ms = self._clock_ms()
        for number, books in self.books.items():
            for race_id, book in books.items():
                if book.state is not RaceState.RESULTED or book.pending:
                    continue
                for settlement in settle(book):
                    value = codec.encode_settlement(settlement)
                    batch.outputs.append(
                        Outgoing(self._topics.settlements, race_id.encode(), value, number)
                    )
                book.command(SettleRace(race_id, now_ms))
                batch.partition_of[race_id] = number

    def _release_held_bets(self, batch: _Batch) -> None:
        now_ms = self._clock_ms()
        for number, books in self.books.items():
            for race_id, book in books.items():
                released = book.release_due(now_ms) if book.pending else []
                for outcome in released:
                    self._emit(number, outcome, batch, changelog=True)
                if released:
                    batch.partition_of[race_id] = number  # the held list changed

    def _handle(self, record: Record, batch: _Batch) -> None:
        """Take one record; whatever is wrong with it stays with it.

        A record that does not decode, or whose apply fails in a way the domain did not
        foresee, becomes a dead letter (and, for a bet whose id and user could be read, an
        INVALID outcome), and the engine moves on: one record must never stop the partition,
        or, being still in the topic, stop every restart too. A broken invariant still stops
        the process, since the money can no longer be trusted.
        """
        try:
            if record.topic == self._topics.bets:
                self._handle_bet(record, batch)
            else:
                self._handle_command(record, batch)
        except codec.CodecError as error:
            self._dead_letter(record, str(error), batch)
            if record.topic == self._topics.bets and error.bet_id and error.user_id:
                self._emit_invalid(record, error, batch)
        except InvariantViolation:
            raise
        except Exception as error:  # a bug met by one record: contained, and said once
            message = f"{type(error).__name__}: {error}"
            self._unexpected.skip(record.topic, message)
            self._dead_letter(record, message, batch)

    def _handle_bet(self, record: Record, batch: _Batch) -> None:
        bet = codec.decode_bet(record.value)  # CodecError: handled by `_handle`
        book = self.books.setdefault(record.partition, {}).get(bet.race_id)
        if book is None:
            self._emit(record.partition, _no_race(bet), batch)
            return
        known = bet.bet_id in book.outcomes
        try:
            outcome = book.submit(bet)
        except InvariantViolation:
            raise
        except Exception as error:
            # Deciding reads the book; only accepting writes it, and the money is the sum of
            # the outcomes, so a book rebuilt from its header and outcomes is the book before.
            self._rebuild(record.partition, book, book.snapshot(with_outcomes=False))
            raise codec.CodecError(
                f"bet: not applied ({type(error).__name__}: {error})",
                bet.bet_id, bet.user_id, bet.race_id,
            ) from error  # fmt: skip
        if outcome is None:
            # In play: held for the bet delay. The held list is in the header, which must be
            # logged in this transaction, with the offset that consumed the bet.
            batch.partition_of[bet.race_id] = record.partition
            return
        # A retry gets the same answer again; the changelog keeps each outcome once.
        self._emit(record.partition, outcome, batch, changelog=not known, repeat=known)

    def _handle_command(self, record: Record, batch: _Batch) -> None:
        try:
            command, request_id = codec.decode_command(record.value)
        except codec.CodecError as error:
            self._dead_letter(record, str(error), batch)
            request_id, race_id, name = command_results.identity(record.value)
            result = command_results.refused(
                request_id, race_id, name, RefusalReason.INVALID, str(error), self._clock_ms()
            )
            self._answer_command(record, result, batch)
            return
        books = self.books.setdefault(record.partition, {})
        result = self._apply_command(books, command, request_id, record.value)
        self._answer_command(record, result, batch)
        if result.reason is None:
            # A new state is news at once: no conflation for commands, which are rare.
            self._publish(record.partition, books[command.race_id], self._clock_ms(), batch)

    def _apply_command(
        self,
        books: dict[str, Book],
        command: CreateRace | RaceCommand,
        request_id: str,
        value: bytes,
    ) -> CommandResult:
        race_id, at_ms = command.race_id, self._clock_ms()
        name = command_results.identity(value)[2]
        book = books.get(race_id)
        if request_id and book is not None and request_id in book.request_ids:
            detail = "already applied under this request id"
            return command_results.applied(request_id, race_id, name, at_ms, detail)
        try:
            if race_id.startswith("#"):
                raise InvalidValue("race ids starting with '#' are reserved")
            if isinstance(command, CreateRace):
                if book is not None:
                    reason, detail = RefusalReason.RACE_EXISTS, f"race {race_id!r} exists"
                    return command_results.refused(request_id, race_id, name, reason, detail, at_ms)
                books[race_id] = Book(command)
                if request_id:
                    books[race_id].request_ids.append(request_id)  # a retried create is a no-op
            elif book is None:
                reason, detail = RefusalReason.UNKNOWN_RACE, f"no race {race_id!r}"
                return command_results.refused(request_id, race_id, name, reason, detail, at_ms)
            else:
                self._command_book(books, book, command, request_id)
        except DomainError as error:
            reason = command_results.reason_of(error)
            return command_results.refused(request_id, race_id, name, reason, str(error), at_ms)
        return command_results.applied(request_id, race_id, name, at_ms)

    def _answer_command(self, record: Record, result: CommandResult, batch: _Batch) -> None:
        """The command's result, in this batch's transaction: an operator reads it by request id."""
        if result.reason is not None:
            self.stats.commands_refused += 1
            fields = {"request_id": result.request_id, "reason": str(result.reason),
                      "detail": result.detail}  # fmt: skip
            log.info("command refused", extra={"fields": fields})
        batch.commands[str(result.reason or result.status)] += 1
        key = result.race_id.encode() if result.race_id else record.key or b""
        value = command_results.encode(result)
        batch.outputs.append(Outgoing(self._topics.command_results, key, value, record.partition))

    def _command_book(
        self, books: dict[str, Book], book: Book, command: RaceCommand, request_id: str
    ) -> None:
        """Apply a command to its book. A refused command raises before the book changes;
        anything else might not, so the header before it (cheap: commands are rare) is what
        the book goes back to."""
        before = book.snapshot(with_outcomes=False)
        try:
            book.command(command, request_id)
        except (DomainError, InvariantViolation):
            raise
        except Exception:
            self._rebuild_in(books, book, before)
            raise

    def _rebuild(self, partition: int, book: Book, header: bytes) -> None:
        self._rebuild_in(self.books.setdefault(partition, {}), book, header)

    def _rebuild_in(self, books: dict[str, Book], book: Book, header: bytes) -> None:
        race_id = book.race.race_id
        try:
            books[race_id] = Book.restore(header, book.outcomes.values())
        except DomainError as error:  # its own snapshot must restore: else stop, loudly
            raise InvariantViolation(f"race {race_id}: cannot rebuild its book: {error}") from error
        self._races.pop(race_id, None)  # the in-play model restarts from the book

    def _emit(
        self,
        partition: int,
        outcome: Outcome,
        batch: _Batch,
        changelog: bool = False,
        repeat: bool = False,
    ) -> None:
        """Answer a bet. Every answer counts: a decision by its outcome (also one that has no
        book to be logged in: an unknown race, a record that did not decode), a repeat as one."""
        value = codec.encode_outcome(outcome)
        key = outcome.race_id.encode()
        batch.outputs.append(Outgoing(self._topics.bet_results, key, value, partition))
        if changelog:
            changelog_key = f"{outcome.race_id}/{outcome.bet_id}".encode()
            batch.outputs.append(
                Outgoing(self._topics.book_changelog, changelog_key, value, partition)
            )
            batch.received_ms.append(outcome.decided_at_ms)
        if repeat:
            batch.repeated += 1
            return
        name = str(outcome.reason or "accepted")
        batch.decided[name] += 1
        self._decided.setdefault(partition, Counter())[name] += 1
        batch.decided_partitions.add(partition)

    def _emit_invalid(self, record: Record, error: codec.CodecError, batch: _Batch) -> None:
        outcome = Outcome(
            error.bet_id, error.user_id, error.race_id, "", 0, False, None,
            RejectReason.INVALID, str(error)[: codec.ERROR_MAX], 0, self._clock_ms(),
        )  # fmt: skip
        self._emit(record.partition, outcome, batch)

    def _dead_letter(self, record: Record, error: str, batch: _Batch) -> None:
        value = codec.encode_dead_letter(
            record.topic, record.partition, record.offset, record.key, record.value, error
        )
        key = (record.key or b"")[: codec.DEAD_LETTER_KEY_MAX]  # the letter must fit too
        batch.outputs.append(Outgoing(self._topics.dead_letters, key, value, record.partition))
        self.stats.dead_letters += 1

    def _publish_due_odds(self, batch: _Batch) -> None:
        now_ms = self._clock_ms()
        interval = self._engine.odds_interval_ms
        for number, books in self.books.items():
            for race_id, book in books.items():
                last_ms = self._published_at_ms.get(race_id, now_ms - interval)
                if book.dirty and now_ms - last_ms >= interval:
                    self._publish(number, book, now_ms, batch)

    def _publish(self, number: int, book: Book, now_ms: int, batch: _Batch) -> None:
        snapshot = book.publish_odds(now_ms)
        if snapshot is None:
            return
        race_id = book.race.race_id
        self._published_at_ms[race_id] = now_ms
        value = codec.encode_odds(snapshot)
        batch.outputs.append(Outgoing(self._topics.odds, race_id.encode(), value, number))
        batch.partition_of[race_id] = number
        self.stats.odds_published += 1

    def _write_headers(self, batch: _Batch) -> None:
        for race_id, number in batch.partition_of.items():
            header = self.books[number][race_id].snapshot(with_outcomes=False)
            batch.outputs.append(
                Outgoing(self._topics.book_changelog, race_id.encode(), header, number)
            )


def _log_batch(
    records: list[Record], batch: _Batch, started_ns: int, processed_ns: int, held: int
) -> None:
    if log.isEnabledFor(logging.DEBUG):
        now_ms = time.time_ns() // 1_000_000 - (time.perf_counter_ns() - started_ns) // 1_000_000
        fields = {
            "records": len(records),
            "held": held,
            "age_ms_max": max((now_ms - r.timestamp_ms for r in records), default=0),
            "outputs": len(batch.outputs),
            "process_ms": round((processed_ns - started_ns) / 1e6, 2),
            "commit_ms": round((time.perf_counter_ns() - processed_ns) / 1e6, 2),
        }
        log.debug("batch", extra={"fields": fields})


def in_time_order(records: list[Record], first_on_ties: str) -> list[Record]:
    """Interleave partitions by timestamp, keeping each partition's own order.

    Bets and race commands travel on two topics, which Kafka does not order against each
    other; merging by time makes a bet sent after a race opened meet the open race. Within
    the same millisecond the command goes first.
    """
    by_partition: dict[TopicPartition, list[Record]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    if len(by_partition) <= 1:
        return records
    return list(
        heapq.merge(
            *by_partition.values(),
            key=lambda record: (record.timestamp_ms, record.topic != first_on_ties),
        )
    )


def restore_decided(records: list[Record]) -> Counter[str]:
    """The partition's bets decided so far, by outcome, from its last good positions record."""
    decided: Counter[str] = Counter()
    for record in records:
        if record.key != POSITIONS_KEY:
            continue
        try:
            decided = Counter(codec.decode_positions(record.value).decided)
        except codec.CodecError:
            continue  # not the engine's: the counts stay as the last good record had them
    return decided


def restore_books(records: list[Record]) -> dict[str, Book]:
    return restore_partition(records)[0]


def restore_partition(
    records: list[Record], skipped: Skipped | None = None, inputs: set[str] | None = None
) -> tuple[dict[str, Book], dict[str, int]]:
    """Rebuild a partition's books from its changelog (latest header plus every outcome),
    and the input offsets that state was written at.

    Every record is decoded strictly; one that does not decode is skipped (and counted) as
    if it had never been written, so the race keeps its latest good header and the partition
    its latest good positions (which name only `inputs`, when given: the engine seeks
    them). Nothing in the changelog can stop a restore.
    """
    skipped = skipped or Skipped("engine restore")
    headers: dict[str, list[Record]] = {}  # since the race's last tombstone, oldest first
    outcomes: dict[str, list[Outcome]] = {}
    positions: dict[str, int] = {}
    for record in records:
        try:
            if record.key == POSITIONS_KEY:
                decoded = codec.decode_positions(record.value).offsets
                if inputs is not None and not decoded.keys() <= inputs:
                    raise codec.CodecError("positions: of a topic the engine does not read")
                positions = decoded
                continue
            race_id, bet_id = codec.decode_changelog_key(record.key)
            if bet_id is None and not record.value:
                headers.pop(race_id, None)  # tombstone: the race is gone
            elif bet_id is None:
                headers.setdefault(race_id, []).append(record)
            elif record.value:
                outcome = codec.decode_outcome(record.value)
                if (outcome.race_id, outcome.bet_id) != (race_id, bet_id):
                    raise codec.CodecError("outcome: its key names another bet")
                outcomes.setdefault(race_id, []).append(outcome)
        except codec.CodecError as error:
            skipped.skip(record.topic, error)
    books = {}
    for race_id, candidates in headers.items():
        book = _restore_book(race_id, candidates, outcomes.get(race_id, []), skipped)
        if book is not None:
            books[race_id] = book
    return books, positions


def _restore_book(
    race_id: str, candidates: list[Record], outcomes: list[Outcome], skipped: Skipped
) -> Book | None:
    """The book from the newest header that restores; a bad one is skipped like any record.
    Outcomes on runners the race does not have cannot be money on it, and are skipped."""
    for record in reversed(candidates):
        try:
            race = codec.decode_header(record.value)["race"]
            if race["race_id"] != race_id:
                raise codec.CodecError("header: its key names another race")
            runners = {runner["runner_id"] for runner in race["runners"]}
            kept = [o for o in outcomes if not o.accepted or o.runner_id in runners]
            for _ in range(len(outcomes) - len(kept)):
                skipped.skip(record.topic, "outcome: no such runner in its race")
            return Book.restore(record.value, kept)
        except (codec.CodecError, DomainError) as error:
            skipped.skip(record.topic, error)
    return None


def _no_race(bet: Bet) -> Outcome:
    return Outcome(
        bet.bet_id, bet.user_id, bet.race_id, bet.runner_id, bet.stake_minor, False, None,
        RejectReason.RACE_NOT_OPEN, f"no race {bet.race_id!r}", 0, bet.received_at_ms,
    )  # fmt: skip
