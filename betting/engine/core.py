"""The engine's decisions: a batch of input records and a clock reading in, outputs out.

Synchronous and deterministic: no asyncio, no clock, no I/O. The same records at the same
clock readings give the same outputs, byte for byte, which is what lets the simulator
(`betting.sim`) replay any history from a seed, and the shell (`betting.tasks.engine`) stay a
thin loop of fetch, `process`, commit.

What a batch gives out (`BatchResult`): the answers to bets (`bet-results`, and for a new
decision also the changelog under `race/bet`), the odds due, the command results, dead
letters, settlements, the headers of the books it changed, the `#positions` records, and the
input offsets it consumed. Every output goes to the partition of the input it came from;
`records.batch_records` encodes them for the transaction.

A partition's state is rebuilt from its changelog by `restore.restore_partition` (records
in, state out), through `EngineCore.restore`: at start-up, on assignment, and after a commit
failed, so crash recovery and start-up are one code path.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from betting import codec, command_results
from betting.command_results import CommandResult, RefusalReason
from betting.domain import race_model
from betting.domain.book import BetKey, Book, result_places
from betting.domain.deductions import TATTERSALLS_RULE_4, DeductionScale
from betting.domain.errors import DomainError, InvalidValue, InvariantViolation, invariant
from betting.domain.events import (
    CloseRace,
    CreateRace,
    RaceCommand,
    ResultRace,
    SettleRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import Bet, OddsSnapshot, Outcome, RaceState, RejectReason
from betting.domain.money import payout_minor
from betting.domain.settlement import (
    Settlement,
    SettlementResult,
    final_settlements,
    withdrawal_refunds,
)
from betting.engine.restore import RestoredPartition, restore_partition
from betting.log.port import Record, TopicPartition

POSITIONS_KEY = codec.POSITIONS_KEY


@dataclass(frozen=True, slots=True)
class CoreSettings:
    bets_topic: str
    races_topic: str
    odds_interval_ms: int = 50  # at most one odds snapshot per race per interval
    race_tick_ms: int = 250  # the in-play model's step
    # Rule 4: what a withdrawal takes from the winnings of bets struck before it, applied
    # when the race settles (`settlement.final_settlements`).
    deduction_scale: DeductionScale = TATTERSALLS_RULE_4


@dataclass(frozen=True, slots=True)
class Answer:
    """A bet's answer. `logged`: a new decision of a book, also written to the changelog;
    `repeat`: a decided bet id sent again, answered with its outcome, not decided again."""

    partition: int
    outcome: Outcome
    logged: bool = False
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    partition: int
    key: bytes
    result: CommandResult


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int  # where the letter goes: the partition of the record
    record: Record
    error: str


@dataclass
class BatchResult:
    """Everything one batch decided, in the order it was decided."""

    answers: list[Answer] = field(default_factory=list)
    odds: list[tuple[int, OddsSnapshot]] = field(default_factory=list)
    command_results: list[CommandAnswer] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    settlements: list[tuple[int, Settlement]] = field(default_factory=list)
    headers: list[tuple[int, codec.HeaderEntry]] = field(default_factory=list)
    positions: list[tuple[int, codec.Positions]] = field(default_factory=list)
    consumed: dict[TopicPartition, int] = field(default_factory=dict)  # next offsets
    decided: Counter[str] = field(default_factory=Counter)  # bets by outcome, repeats not
    repeated: int = 0
    commands: Counter[str] = field(default_factory=Counter)  # "applied" or a refusal reason
    unexpected: list[tuple[str, str]] = field(default_factory=list)  # (topic, error) of bugs met

    @property
    def empty(self) -> bool:
        """Nothing to commit: no output and no input consumed."""
        return not (
            self.answers or self.odds or self.command_results or self.dead_letters
            or self.settlements or self.headers or self.positions or self.consumed
        )  # fmt: skip


@dataclass
class _Work:
    """A batch in progress: its result, and the races whose header must be logged."""

    result: BatchResult = field(default_factory=BatchResult)
    header_due: dict[str, int] = field(default_factory=dict)  # race id -> partition
    decided_partitions: set[int] = field(default_factory=set)


class EngineCore:
    """The books of the partitions an instance owns, and every decision about them."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.books: dict[int, dict[str, Book]] = {}  # partition -> race id -> book
        self._published_at_ms: dict[str, int] = {}
        self._races: dict[str, tuple[race_model.InPlayState, int]] = {}  # model, ticks run
        # The next offset to process per input partition: a record below it is a second copy
        # (fetched before a rebalance or a rewind, and again after) and is skipped.
        self.next_offsets: dict[TopicPartition, int] = {}
        self.positions: dict[int, dict[str, int]] = {}  # partition -> topic -> next offset
        # Bets decided per partition since the log began, by outcome: logged with the
        # positions, so the count is exactly once, and restored with the books.
        self.decided: dict[int, Counter[str]] = {}
        # Accepted stake per race and runner, summed from the accepted outcomes as they are
        # decided: the check on the books' own sums (`_check_money`).
        self._accepted_minor: dict[str, Counter[str]] = {}

    # -- partitions -----------------------------------------------------------------------

    def restore(self, number: int, records: Sequence[Record]) -> RestoredPartition:
        """Take over a partition from its changelog; the shell seeks its inputs to
        `positions` (returned), and counts `skipped`."""
        inputs = {self.settings.bets_topic, self.settings.races_topic}
        restored = restore_partition(records, inputs)
        self.forget(number)
        self.books[number] = restored.books
        self.positions[number] = dict(restored.positions)
        self.decided[number] = Counter(restored.decided)
        for race_id, book in restored.books.items():
            self._accepted_minor[race_id] = _accepted_by_runner(book.outcomes.values())
        for topic, offset in restored.positions.items():
            # Anything fetched below it before the seek lands was processed already.
            self.next_offsets[(topic, number)] = offset
        return restored

    def forget(self, number: int) -> None:
        """Drop a partition that goes (revoked): its next owner restores it."""
        for race_id in self.books.pop(number, {}):
            self._published_at_ms.pop(race_id, None)
            self._races.pop(race_id, None)
            self._accepted_minor.pop(race_id, None)
        for topic in (self.settings.bets_topic, self.settings.races_topic):
            self.next_offsets.pop((topic, number), None)
        self.positions.pop(number, None)
        self.decided.pop(number, None)

    def adopt(self, books: dict[int, dict[str, Book]]) -> None:
        """Take books built elsewhere (a test's, say) as the partitions' state."""
        self.books = books
        self._accepted_minor = {}
        self._races = {}

    def forget_offsets(self) -> None:
        """A rewind comes: every record from the committed positions is to be processed."""
        self.next_offsets = {}

    def waiting(self) -> bool:
        """Whether time alone will bring outputs: odds to publish, held bets, races running."""
        return any(
            book.dirty or book.pending or book.in_play
            for books in self.books.values()
            for book in books.values()
        )

    # -- one batch ------------------------------------------------------------------------

    def process(
        self, records: Sequence[Record], assignment: set[TopicPartition], now_ms: int
    ) -> BatchResult:
        """Decide a batch. `now_ms` is the one clock reading of the batch: commands and
        held bets are decided, races run and odds conflate at it."""
        work = _Work()
        for record in in_time_order(list(records), first_on_ties=self.settings.races_topic):
            where = (record.topic, record.partition)
            if where not in assignment:
                continue  # revoked while it was in flight: its new owner will take it
            if record.offset < self.next_offsets.get(where, 0):
                continue  # already processed: a copy fetched again
            self.next_offsets[where] = record.offset + 1
            self._handle(record, work, now_ms)
            work.result.consumed[where] = record.offset + 1
        self._run_races(work, now_ms)
        self._release_held_bets(work, now_ms)
        self._settle_resulted(work, now_ms)
        self._publish_due_odds(work, now_ms)
        self._check_money(work)
        self._write_headers(work)
        self._write_positions(work)
        return work.result

    def _handle(self, record: Record, work: _Work, now_ms: int) -> None:
        """Take one record; whatever is wrong with it stays with it.

        A record that does not decode, or whose apply fails in a way the domain did not
        foresee, becomes a dead letter (and, for a bet whose id and user could be read, an
        INVALID outcome), and the engine moves on: one record must never stop the partition,
        or, being still in the topic, stop every restart too. A broken invariant still stops
        the process, since the money can no longer be trusted.
        """
        try:
            if record.topic == self.settings.bets_topic:
                self._handle_bet(record, work)
            else:
                self._handle_command(record, work, now_ms)
        except codec.CodecError as error:
            self._dead_letter(record, str(error), work)
            answer = self._undecodable_answer(record, error, now_ms)
            if answer is not None:  # never logged: not a decision
                self._answer(record.partition, answer, work)
        except InvariantViolation:
            raise
        except Exception as error:  # a bug met by one record: contained, and said once
            message = f"{type(error).__name__}: {error}"
            work.result.unexpected.append((record.topic, message))
            self._dead_letter(record, message, work)

    def _undecodable_answer(
        self, record: Record, error: codec.CodecError, now_ms: int
    ) -> Outcome | None:
        """The answer to a bet record that did not decode, when its bet id and user could be
        read: INVALID, or, when they name a bet its race's book has (decided or held),
        BET_ID_REUSED, as for any other content under a used id: the bettor hears an answer
        for this publish, and the first bet stands."""
        if record.topic != self.settings.bets_topic or not (error.bet_id and error.user_id):
            return None
        invalid = _invalid(error, now_ms)
        book = self.books.get(record.partition, {}).get(error.race_id)
        if book is None:
            return invalid
        key: BetKey = (error.user_id, error.bet_id)
        known = key in book.outcomes or any(
            (held.user_id, held.bet_id) == key for _, held in book.pending
        )
        return invalid._replace(reason=RejectReason.BET_ID_REUSED) if known else invalid

    def _handle_bet(self, record: Record, work: _Work) -> None:
        bet = codec.decode_bet(record.value)  # CodecError: handled by `_handle`
        book = self.books.setdefault(record.partition, {}).get(bet.race_id)
        if book is None:
            self._answer(record.partition, _no_race(bet), work)
            return
        known = (bet.user_id, bet.bet_id) in book.outcomes
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
            work.header_due[bet.race_id] = record.partition
            return
        if outcome.reason is RejectReason.BET_ID_REUSED:
            # Another bet under a bettor's bet id: answered, never kept (the first stands).
            self._answer(record.partition, outcome, work)
            return
        # A retry gets the same answer again; the changelog keeps each outcome once.
        self._answer(record.partition, outcome, work, logged=not known, repeat=known)

    def _handle_command(self, record: Record, work: _Work, now_ms: int) -> None:
        try:
            command, request_id = codec.decode_command(record.value)
        except codec.CodecError as error:
            self._dead_letter(record, str(error), work)
            request_id, race_id, name = command_results.identity(record.value)
            result = command_results.refused(
                request_id, race_id, name, RefusalReason.INVALID, str(error), now_ms
            )
            self._answer_command(record, result, work)
            return
        books = self.books.setdefault(record.partition, {})
        result = self._apply_command(books, command, request_id, record.value, now_ms)
        self._answer_command(record, result, work)
        if result.reason is None:
            book = books[command.race_id]
            if not result.detail:  # applied now, not a retry's answer
                self._settle_command(record.partition, book, command, work)
            # A new state is news at once: no conflation for commands, which are rare.
            self._publish(record.partition, book, now_ms, work)

    def _apply_command(
        self,
        books: dict[str, Book],
        command: CreateRace | RaceCommand,
        request_id: str,
        value: bytes,
        at_ms: int,
    ) -> CommandResult:
        race_id = command.race_id
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
                self._accepted_minor[race_id] = Counter()
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

    def _settle_command(
        self, number: int, book: Book, command: CreateRace | RaceCommand, work: _Work
    ) -> None:
        """The stakes a command returns, in its own transaction: a void race refunds every
        accepted bet still standing, a withdrawal the bets on its runner."""
        if isinstance(command, VoidRace):
            settlements = final_settlements(book, self.settings.deduction_scale)
            _check_final_settlements(book, settlements)
        elif isinstance(command, WithdrawRunner):
            settlements = withdrawal_refunds(book, command.runner_id)
            _check_refunds(book, command.runner_id, settlements)
        else:
            return
        work.result.settlements.extend((number, s) for s in settlements)
        work.header_due[book.race.race_id] = number

    def _answer_command(self, record: Record, result: CommandResult, work: _Work) -> None:
        """The command's result, in this batch's transaction: an operator reads it by
        request id."""
        work.result.commands[str(result.reason or result.status)] += 1
        key = result.race_id.encode() if result.race_id else record.key or b""
        work.result.command_results.append(CommandAnswer(record.partition, key, result))

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

    def _answer(
        self, partition: int, outcome: Outcome, work: _Work, logged: bool = False,
        repeat: bool = False,
    ) -> None:  # fmt: skip
        """Answer a bet. Every answer counts: a decision by its outcome (also one that has no
        book to be logged in: an unknown race, a record that did not decode), a repeat as one."""
        result = work.result
        result.answers.append(Answer(partition, outcome, logged, repeat))
        if repeat:
            result.repeated += 1
            return
        accepted = self._accepted_minor.get(outcome.race_id)
        if logged and outcome.accepted and accepted is not None:
            accepted[outcome.runner_id] += outcome.stake_minor
        name = str(outcome.reason or "accepted")
        result.decided[name] += 1
        self.decided.setdefault(partition, Counter())[name] += 1
        work.decided_partitions.add(partition)

    def _dead_letter(self, record: Record, error: str, work: _Work) -> None:
        work.result.dead_letters.append(DeadLetter(record.partition, record, error))

    # -- what time brings -----------------------------------------------------------------

    def _run_races(self, work: _Work, now_ms: int) -> None:
        """Advance every in-play race to now in fixed ticks; its strengths move the odds, and
        a finished race is closed, resulted and settled in this same transaction."""
        for number, books in self.books.items():
            for race_id, book in books.items():
                if book.in_play and book.state in (RaceState.OPEN, RaceState.SUSPENDED):
                    self._run_race(number, book, now_ms, work)
                else:
                    self._races.pop(race_id, None)  # stopped by a command, or never started

    def _run_race(self, number: int, book: Book, now_ms: int, work: _Work) -> None:
        tick_ms = self.settings.race_tick_ms
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
        work.header_due[race_id] = number

    def _release_held_bets(self, work: _Work, now_ms: int) -> None:
        for number, books in self.books.items():
            for race_id, book in books.items():
                released = book.release_due(now_ms) if book.pending else []
                for outcome in released:
                    self._answer(number, outcome, work, logged=True)
                if released:
                    work.header_due[race_id] = number  # the held list changed

    def _settle_resulted(self, work: _Work, now_ms: int) -> None:
        """Pay out every resulted race, once: SETTLED is logged with the settlements."""
        for number, books in self.books.items():
            for race_id, book in books.items():
                if book.state is not RaceState.RESULTED or book.pending:
                    continue
                settlements = final_settlements(book, self.settings.deduction_scale)
                _check_final_settlements(book, settlements)
                work.result.settlements.extend((number, s) for s in settlements)
                book.command(SettleRace(race_id, now_ms))
                work.header_due[race_id] = number

    def _publish_due_odds(self, work: _Work, now_ms: int) -> None:
        interval = self.settings.odds_interval_ms
        for number, books in self.books.items():
            for race_id, book in books.items():
                last_ms = self._published_at_ms.get(race_id, now_ms - interval)
                if book.dirty and now_ms - last_ms >= interval:
                    self._publish(number, book, now_ms, work)

    def _publish(self, number: int, book: Book, now_ms: int, work: _Work) -> None:
        snapshot = book.publish_odds(now_ms)
        if snapshot is None:
            return
        race_id = book.race.race_id
        self._published_at_ms[race_id] = now_ms
        work.result.odds.append((number, snapshot))
        work.header_due[race_id] = number

    # -- what the batch logs --------------------------------------------------------------

    def _check_money(self, work: _Work) -> None:
        """Per batch, for the races it touched: each runner's money in the book is the sum of
        its accepted outcomes, and the pool is the stakes on runners still running.
        O(runners) per race: the sums are kept as the outcomes are decided."""
        touched = {a.outcome.race_id for a in work.result.answers if a.logged} | set(
            work.header_due
        )
        for books in self.books.values():
            for race_id in touched & books.keys():
                book = books[race_id]
                accepted = self._accepted_minor.get(race_id)
                if accepted is None:  # a book handed in whole (`adopt`): summed once
                    accepted = _accepted_by_runner(book.outcomes.values())
                    self._accepted_minor[race_id] = accepted
                _check_book_money(book, accepted)

    def _write_headers(self, work: _Work) -> None:
        for race_id, number in work.header_due.items():
            header = self.books[number][race_id].snapshot(with_outcomes=False)
            work.result.headers.append((number, codec.HeaderEntry(race_id, header)))

    def _write_positions(self, work: _Work) -> None:
        """The consumed offsets go in the changelog, in the batch's transaction, beside the
        state they produced: restoring a partition restores where to read on from."""
        for (topic, number), offset in work.result.consumed.items():
            self.positions.setdefault(number, {})[topic] = offset
        # Held bets decided without new input change the counts only: logged with the
        # positions the partition has (it has some, or it would hold no bets).
        counted = {number for number in work.decided_partitions if self.positions.get(number)}
        for number in sorted({number for _, number in work.result.consumed} | counted):
            positions = codec.Positions(
                dict(self.positions.get(number, {})), dict(self.decided.get(number, {}))
            )
            work.result.positions.append((number, positions))


# -- helpers -------------------------------------------------------------------------------


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


def _accepted_by_runner(outcomes: Iterable[Outcome]) -> Counter[str]:
    accepted: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.accepted:
            accepted[outcome.runner_id] += outcome.stake_minor
    return accepted


def _check_book_money(book: Book, accepted_minor: Counter[str]) -> None:
    race_id = book.race.race_id
    for index, runner in enumerate(book.race.runners):
        if book.stakes_minor[index] != accepted_minor[runner.runner_id]:
            invariant(False, f"race {race_id}: runner {runner.runner_id} holds "
                      f"{book.stakes_minor[index]}, its accepted bets "
                      f"{accepted_minor[runner.runner_id]}")  # fmt: skip
    pool = sum(s for s, active in zip(book.stakes_minor, book.active, strict=True) if active)
    invariant(book.pool_minor == pool, f"race {race_id}: pool {book.pool_minor}, stakes {pool}")


def _check_final_settlements(book: Book, settlements: list[Settlement]) -> None:
    """Once per race, when it is resulted or void: one settlement per accepted bet on a
    runner still running (a withdrawn runner's were refunded at its withdrawal), each as the
    race's end says. A void race refunds each stake, all of them together the pool; a
    resulted one pays a winner from more than nothing up to its payout at the granted odds
    (a dead heat or a deduction pays in between), a loser nothing, and refunds no one."""
    race_id = book.race.race_id
    running = {
        r.runner_id for r, active in zip(book.race.runners, book.active, strict=True) if active
    }
    accepted = {
        key: outcome
        for key, outcome in book.outcomes.items()
        if outcome.accepted and outcome.runner_id in running
    }
    _check_one_each(race_id, accepted, settlements)
    void = book.state is RaceState.VOID
    places = () if void else result_places(book.placings, book.dead_heats)
    winners = set(places[0]) if places else set()
    for settlement in settlements:
        outcome = accepted[(settlement.user_id, settlement.bet_id)]
        most = payout_minor(outcome.stake_minor, outcome.odds) if outcome.odds else 0
        if void:
            good = settlement.result is SettlementResult.REFUNDED
            good = good and settlement.payout_minor == outcome.stake_minor
        elif outcome.runner_id in winners:
            good = settlement.result is SettlementResult.WON
            good = good and 0 < settlement.payout_minor <= most
        else:
            good = settlement.result is SettlementResult.LOST and settlement.payout_minor == 0
        if not good:
            invariant(False, f"race {race_id}: bet {outcome.bet_id} of {outcome.user_id} "
                      f"{settlement.result} pays {settlement.payout_minor}")  # fmt: skip
    if void:
        refunded = sum(s.payout_minor for s in settlements)
        invariant(refunded == book.pool_minor, f"race {race_id}: refunds {refunded}, pool "
                  f"{book.pool_minor}")  # fmt: skip


def _check_refunds(book: Book, runner_id: str, settlements: list[Settlement]) -> None:
    """At a withdrawal: every accepted bet on the runner refunded once, stake back, and all
    of them together the money the book held on it."""
    race_id = book.race.race_id
    accepted = {
        key: outcome
        for key, outcome in book.outcomes.items()
        if outcome.accepted and outcome.runner_id == runner_id
    }
    _check_one_each(race_id, accepted, settlements)
    for settlement in settlements:
        outcome = accepted[(settlement.user_id, settlement.bet_id)]
        if settlement.result is not SettlementResult.REFUNDED or (
            settlement.payout_minor != outcome.stake_minor
        ):
            paid = f"{settlement.result} pays {settlement.payout_minor}"
            invariant(False, f"race {race_id}: bet {outcome.bet_id} on the withdrawn {paid}")
    held = book.stakes_minor[book.runner_index[runner_id]]
    refunded = sum(s.payout_minor for s in settlements)
    invariant(refunded == held, f"race {race_id}: {runner_id} refunds {refunded} of {held}")


def _check_one_each(
    race_id: str, accepted: dict[BetKey, Outcome], settlements: list[Settlement]
) -> None:
    keys = [(s.user_id, s.bet_id) for s in settlements]
    invariant(
        len(keys) == len(accepted) and set(keys) == accepted.keys(),
        f"race {race_id}: settlements do not match its accepted bets",
    )
    for settlement in settlements:
        outcome = accepted[(settlement.user_id, settlement.bet_id)]
        invariant(
            (settlement.race_id, settlement.runner_id, settlement.stake_minor)
            == (race_id, outcome.runner_id, outcome.stake_minor),
            f"race {race_id}: bet {outcome.bet_id} settled for another race, runner or stake",
        )


def _invalid(error: codec.CodecError, now_ms: int) -> Outcome:
    return Outcome(
        error.bet_id, error.user_id, error.race_id, "", 0, False, None,
        RejectReason.INVALID, str(error)[: codec.ERROR_MAX], 0, now_ms,
    )  # fmt: skip


def _no_race(bet: Bet) -> Outcome:
    return Outcome(
        bet.bet_id, bet.user_id, bet.race_id, bet.runner_id, bet.stake_minor, False, None,
        RejectReason.RACE_NOT_OPEN, f"no race {bet.race_id!r}", 0, bet.received_at_ms,
    )  # fmt: skip
