"""The simulator's checker must fail: cores with planted bugs produce violations.

Each planted core is the real one with one defect added after it decided (so the core's own
runtime invariants do not see it first); the reference model must name the broken promise.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import pytest

from betting import codec
from betting.domain import risk
from betting.domain.model import OddsSnapshot, Outcome, RejectReason, RunnerPrice
from betting.domain.money import Odds
from betting.engine import core as core_module
from betting.engine.core import Answer, BatchResult, EngineCore
from betting.engine.restore import RestoredPartition
from betting.log.port import Record, TopicPartition
from betting.sim import cli, world
from betting.sim.model import KNOWN_FINDINGS
from betting.tasks import views

SEEDS = range(4)
BETS = 600


def checks(core_type: type[EngineCore], seeds: Sequence[int] = SEEDS) -> set[str]:
    found: set[str] = set()
    for seed in seeds:
        found |= {v.check for v in world.run_seed(seed, BETS, core_type).violations}
    return found - KNOWN_FINDINGS


class _Planted(EngineCore):
    def process(
        self, records: Sequence[Record], assignment: set[TopicPartition], now_ms: int
    ) -> BatchResult:
        result = super().process(records, assignment, now_ms)
        self.plant(result)
        return result

    def plant(self, result: BatchResult) -> None:
        raise NotImplementedError


class RepeatDecidedAgain(_Planted):
    """A retried bet id is decided again instead of answered with its first outcome."""

    def plant(self, result: BatchResult) -> None:
        for n, answer in enumerate(result.answers):
            if answer.repeat and answer.outcome.accepted:
                late = RejectReason.LATE
                flipped = answer.outcome._replace(accepted=False, odds=None, reason=late)
                result.answers[n] = dataclasses.replace(answer, outcome=flipped)


class DoubleAccept(_Planted):
    """An accepted bet's stake is counted twice on its runner."""

    def plant(self, result: BatchResult) -> None:
        for answer in result.answers:
            if answer.logged and answer.outcome.accepted:
                book = self.books[answer.partition][answer.outcome.race_id]
                book.stakes_minor[book.runner_index[answer.outcome.runner_id]] += 1
                return


class LosingRestore(EngineCore):
    """A restore that loses the newest outcome in the changelog."""

    def restore(self, number: int, records: Sequence[Record]) -> RestoredPartition:
        kept = list(records)
        for n in range(len(kept) - 1, -1, -1):
            key = kept[n].key
            if key is not None and b"/" in key:
                del kept[n]
                break
        return super().restore(number, kept)


class VersionGoesBack(_Planted):
    def plant(self, result: BatchResult) -> None:
        result.odds[:] = [(n, dataclasses.replace(s, version=1)) for n, s in result.odds]


class OffTheLadder(_Planted):
    def plant(self, result: BatchResult) -> None:
        result.odds[:] = [(n, _off_ladder(s)) for n, s in result.odds]


class PaysDouble(_Planted):
    def plant(self, result: BatchResult) -> None:
        result.settlements[:] = [
            (n, dataclasses.replace(s, payout_minor=s.payout_minor * 2 + 1))
            for n, s in result.settlements
        ]


def _off_ladder(snapshot: OddsSnapshot) -> OddsSnapshot:
    """`Odds` refuses a price off the ladder; a bug that got past it is made by hand."""
    odd = object.__new__(Odds)
    object.__setattr__(odd, "hundredths", 1_001)
    prices = tuple(RunnerPrice(p.runner_id, p.odds and odd) for p in snapshot.prices)
    return dataclasses.replace(snapshot, prices=prices)


def test_the_real_core_passes() -> None:
    assert checks(EngineCore) == set()


def test_a_bet_decided_again_on_its_retry_is_caught() -> None:
    assert "outcome-changed" in checks(RepeatDecidedAgain)


def test_money_counted_twice_is_caught() -> None:
    assert "money" in checks(DoubleAccept)


def test_a_restore_that_loses_an_outcome_is_caught() -> None:
    assert "restore" in checks(LosingRestore, range(6))


def test_odds_versions_going_back_are_caught() -> None:
    assert "odds-version" in checks(VersionGoesBack)


def test_a_price_off_the_ladder_is_caught() -> None:
    assert "ladder" in checks(OffTheLadder)


def test_a_wrong_payout_is_caught() -> None:
    assert "settlement" in checks(PaysDouble)


def test_a_broken_runtime_invariant_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the risk check gone, the book's own liability invariant stops the core."""
    monkeypatch.setattr(risk, "check_liability", lambda *_: None)
    assert "invariant" in checks(EngineCore)


class NoVoidRefund(_Planted):
    """A void race's refunds are lost (the defect the engine had: only results settled)."""

    def plant(self, result: BatchResult) -> None:
        void = {c.result.race_id for c in result.command_results if c.result.command == "void"}
        result.settlements[:] = [(n, s) for n, s in result.settlements if s.race_id not in void]


class BetIdPerRace(_Planted):
    """A bet id keyed per race: a second user's bet under it gets the first user's outcome."""

    def plant(self, result: BatchResult) -> None:
        for n, answer in enumerate(result.answers):
            book = self.books.get(answer.partition, {}).get(answer.outcome.race_id)
            others = [
                o
                for (user, bet), o in (book.outcomes.items() if book else ())
                if bet == answer.outcome.bet_id and user != answer.outcome.user_id
            ]
            if others and others[0].decided_at_ms < answer.outcome.decided_at_ms:
                result.answers[n] = dataclasses.replace(answer, outcome=others[0])


class RetryRefusedAsReused(_Planted):
    """The same bet sent again is refused BET_ID_REUSED instead of answered as first."""

    def plant(self, result: BatchResult) -> None:
        for n, answer in enumerate(result.answers):
            if answer.repeat:
                reused = answer.outcome._replace(
                    accepted=False, odds=None, reason=RejectReason.BET_ID_REUSED
                )
                result.answers[n] = Answer(answer.partition, reused)


class InvalidUnderADecidedBet(EngineCore):
    """A record that does not decode is answered INVALID even under a decided bet's ids."""

    def _undecodable_answer(
        self, record: Record, error: codec.CodecError, now_ms: int
    ) -> Outcome | None:
        named = record.topic == self.settings.bets_topic and bool(error.bet_id and error.user_id)
        return core_module._invalid(error, now_ms) if named else None


def test_a_void_race_that_refunds_no_one_is_caught() -> None:
    assert "void-refund" in checks(NoVoidRefund, range(10))


def test_bets_keyed_per_race_and_not_per_user_are_caught() -> None:
    assert "user-bet-identity" in checks(BetIdPerRace)


def test_a_retry_refused_as_another_bet_is_caught() -> None:
    assert "outcome-changed" in checks(RetryRefusedAsReused)


def test_an_invalid_answer_under_a_decided_bet_is_caught() -> None:
    assert "invalid-after-decision" in checks(InvalidUnderADecidedBet)


def test_no_known_finding_is_left_and_strict_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert frozenset() == KNOWN_FINDINGS
    assert cli.main(["--seed", "3", "--bets", str(BETS), "--strict"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"sim: 1 seeds, \d+ bets, \d+ faults, 0 violations, [\d.]+ s", last)


def test_a_violation_names_the_command_that_replays_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "run_seed", lambda seed, bets: world.run_seed(seed, bets, PaysDouble))
    assert cli.main(["--seed", "3", "--bets", str(BETS), "--strict"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"  replay: python -m betting sim --seed 3 --bets {BETS} --strict" in lines
    assert re.fullmatch(
        r"sim: 1 seeds, \d+ bets, \d+ faults, [1-9]\d* violations, [\d.]+ s", lines[-1]
    )


def test_a_seed_replays_bit_for_bit() -> None:
    first, again = world.run_seed(7, BETS), world.run_seed(7, BETS)
    assert (first.bets, first.faults, first.violations) == (
        again.bets,
        again.faults,
        again.violations,
    )


def test_a_read_model_that_drops_records_read_early_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "EARLY_SETTLEMENTS_MAX", 0)
    monkeypatch.setattr(views, "EARLY_OUTCOME_RACES_MAX", 0)
    assert "read-model" in checks(EngineCore)
