"""A stateful model of a race: random commands and bets against a simple reference model."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from betting.domain.book import Book
from betting.domain.errors import IllegalTransition, InvalidValue
from betting.domain.events import (
    CloseRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import Bet, Outcome, RaceState, RejectReason
from betting.domain.money import LADDER, Odds
from betting.domain.risk import RiskParams
from tests.unit.races import RACE_ID, race

S = RaceState
# The reference model of legal transitions, written out independently of the book's table.
LEGAL = {
    "open": {S.SCHEDULED: S.OPEN},
    "suspend": {S.OPEN: S.SUSPENDED},
    "resume": {S.SUSPENDED: S.OPEN},
    "close": {S.OPEN: S.CLOSED, S.SUSPENDED: S.CLOSED},
    "result": {S.CLOSED: S.RESULTED},
    "settle": {S.RESULTED: S.SETTLED},
    "void": {s: S.VOID for s in (S.SCHEDULED, S.OPEN, S.SUSPENDED, S.CLOSED, S.RESULTED)},
}
RISK = RiskParams(
    stake_min_minor=100,
    stake_max_minor=5_000_000,
    runner_liability_max_minor=20_000_000,
    race_liability_max_minor=30_000_000,
    odds_tolerance_ticks=1,
    late_window_ms=500,
)


class RaceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = Book(race(runners=5, risk=RISK))
        self.state = S.SCHEDULED
        self.clock_ms = 0
        self.last_version = self.book.version
        self.accepted: dict[str, Bet] = {}
        self.bet_count = 0
        self.withdrawn: set[str] = set()
        self.held: dict[str, Bet] = {}

    def _command(self, name: str, command: RaceCommand) -> None:
        self.clock_ms += 1
        target = LEGAL[name].get(self.state)
        try:
            self.book.apply(command)
        except IllegalTransition:
            assert target is None, f"{name} refused from {self.state}"
            return
        assert target is not None, f"{name} allowed from {self.state}"
        self.state = target

    @rule()
    def open(self) -> None:
        self._command("open", OpenRace(RACE_ID, self.clock_ms))

    @rule()
    def suspend(self) -> None:
        self._command("suspend", SuspendRace(RACE_ID, self.clock_ms))

    @rule()
    def resume(self) -> None:
        self._command("resume", ResumeRace(RACE_ID, self.clock_ms))

    @rule()
    def close(self) -> None:
        self._command("close", CloseRace(RACE_ID, self.clock_ms))

    @rule(winner=st.integers(0, 4))
    def result(self, winner: int) -> None:
        runner_id = f"car-{winner}"
        if runner_id in self.withdrawn:
            return
        self._command("result", ResultRace(RACE_ID, (runner_id,), self.clock_ms))

    @rule()
    def settle(self) -> None:
        self._command("settle", SettleRace(RACE_ID, self.clock_ms))

    @rule()
    def void(self) -> None:
        self._command("void", VoidRace(RACE_ID, "test", self.clock_ms))

    @precondition(lambda self: self.state in (S.SCHEDULED, S.OPEN, S.SUSPENDED))
    @rule(runner=st.integers(0, 4))
    def withdraw(self, runner: int) -> None:
        runner_id = f"car-{runner}"
        try:
            self.book.apply(WithdrawRunner(RACE_ID, runner_id, self.clock_ms))
        except InvalidValue:
            assert runner_id in self.withdrawn or len(self.withdrawn) == 4
            return
        self.withdrawn.add(runner_id)

    @rule(
        runner=st.integers(0, 4),
        stake=st.integers(0, 6_000_000),
        ticks=st.integers(-3, 3),
        version_lag=st.integers(0, 3),
        delay_ms=st.integers(0, 1_000),
    )
    def bet(self, runner: int, stake: int, ticks: int, version_lag: int, delay_ms: int) -> None:
        self.clock_ms += 1
        self.bet_count += 1
        index = runner
        active = self.book.active[index]
        current = self.book.price_of(index) if active else Odds(200)
        seen = Odds(LADDER[min(max(current.tick + ticks, 0), len(LADDER) - 1)])
        bet = Bet(
            f"bet-{self.bet_count}",
            "user",
            RACE_ID,
            f"car-{runner}",
            stake,
            seen,
            max(self.book.version - version_lag, 1),
            self.clock_ms + delay_ms,
        )
        outcome = self.book.submit(bet)
        if outcome is None:  # in play: held for the delay
            self.held[bet.bet_id] = bet
            return
        self._check_decided(bet, outcome, current, seen)

    def _check_decided(self, bet: Bet, outcome: Outcome, current: Odds, seen: Odds) -> None:
        if outcome.accepted:
            assert self.state is S.OPEN and bet.runner_id not in self.withdrawn
            assert RISK.stake_min_minor <= bet.stake_minor <= RISK.stake_max_minor
            assert outcome.odds is not None and outcome.odds >= seen
            assert outcome.odds.tick - current.tick <= RISK.odds_tolerance_ticks
            self.accepted[bet.bet_id] = bet
        assert self.book.place(bet) is outcome  # idempotent at once

    @precondition(lambda self: self.state in (S.OPEN, S.SUSPENDED) and not self.book.in_play)
    @rule(seed=st.integers(0, 2**32))
    def start(self, seed: int) -> None:
        self.clock_ms += 1
        self.book.apply(StartRace(RACE_ID, seed, self.clock_ms))

    @rule(after_ms=st.integers(0, 3_000))
    def release(self, after_ms: int) -> None:
        self.clock_ms += after_ms
        for outcome in self.book.release_due(self.clock_ms):
            bet = self.held.pop(outcome.bet_id)
            assert outcome.reason is not None or self.state is S.OPEN
            if outcome.accepted:
                self.accepted[bet.bet_id] = bet
        assert all(at > self.clock_ms for at, _ in self.book.pending) or self.state is not S.OPEN

    @rule(after_ms=st.integers(0, 600))
    def publish(self, after_ms: int) -> None:
        self.clock_ms += after_ms
        was_dirty, version = self.book.dirty, self.book.version
        snapshot = self.book.publish_odds(self.clock_ms)
        assert (snapshot is not None) == was_dirty
        if snapshot is not None:
            assert snapshot.version == version + 1 and snapshot.prices == self.book.prices()

    @rule()
    def replay_bet(self) -> None:
        if not self.accepted:
            return
        bet_id = next(iter(self.accepted))
        before = self.book.snapshot()
        outcome = self.book.outcomes[("user", bet_id)]
        assert self.book.place(self.accepted[bet_id]) is outcome
        other = replace(self.accepted[bet_id], stake_minor=self.accepted[bet_id].stake_minor + 1)
        assert self.book.place(other).reason is RejectReason.BET_ID_REUSED
        assert self.book.outcomes[("user", bet_id)] is outcome
        assert self.book.snapshot() == before

    @invariant()
    def state_matches_the_model(self) -> None:
        assert self.book.state is self.state

    @invariant()
    def version_only_grows(self) -> None:
        assert self.book.version >= self.last_version
        self.last_version = self.book.version

    @invariant()
    def money_adds_up(self) -> None:
        active_stakes = sum(
            bet.stake_minor for bet in self.accepted.values() if bet.runner_id not in self.withdrawn
        )
        assert self.book.pool_minor == active_stakes
        assert sum(self.book.stakes_minor) == sum(b.stake_minor for b in self.accepted.values())

    @invariant()
    def liability_within_caps(self) -> None:
        assert self.book.race_liability_minor() <= RISK.race_liability_max_minor
        for i, active in enumerate(self.book.active):
            if active:
                assert self.book.liability_minor(i) <= RISK.runner_liability_max_minor

    @invariant()
    def prices_on_the_ladder(self) -> None:
        for runner_price in self.book.prices():
            if runner_price.odds is not None:
                assert runner_price.odds.hundredths in LADDER

    @invariant()
    def incremental_prices_match_a_full_recompute(self) -> None:
        assert self.book.weights() == self.book.weights_from_scratch()

    @invariant()
    def snapshot_round_trips(self) -> None:
        assert Book.restore(self.book.snapshot()).snapshot() == self.book.snapshot()


RaceMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestRaceMachine = RaceMachine.TestCase
