"""Settling a race: what each accepted bet returns once the race is resulted or void.

A pure function of the book, so settling again (after a crash, say) gives the same answers;
whoever pays out uses `bet_id` as the idempotency key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from betting.domain.book import Book
from betting.domain.errors import IllegalTransition, InvariantViolation, invariant
from betting.domain.model import Outcome, RaceState
from betting.domain.money import payout_minor

# SETTLED keeps its placings: settling it again must give the same answers as before.
_SETTLEABLE = frozenset({RaceState.RESULTED, RaceState.SETTLED, RaceState.VOID})


class SettlementResult(enum.StrEnum):
    WON = "won"
    LOST = "lost"
    VOID = "void"  # the stake comes back: a void race, or a withdrawn runner


@dataclass(frozen=True, slots=True)
class Settlement:
    bet_id: str
    user_id: str
    race_id: str
    runner_id: str
    stake_minor: int
    result: SettlementResult
    payout_minor: int  # what the bettor gets back, stake included


def settle(book: Book) -> list[Settlement]:
    """One settlement per accepted bet, in the order the bets were decided."""
    if book.state not in _SETTLEABLE:
        raise IllegalTransition(book.race.race_id, book.state, "settle")
    invariant(
        book.state is RaceState.VOID or bool(book.placings),
        f"race {book.race.race_id} is {book.state} without placings",
    )
    return [_settle_one(book, outcome) for outcome in book.outcomes.values() if outcome.accepted]


def house_result_minor(settlements: Iterable[Settlement]) -> int:
    """Stakes taken minus payouts: positive when the house wins."""
    return sum(settlement.stake_minor - settlement.payout_minor for settlement in settlements)


def _settle_one(book: Book, outcome: Outcome) -> Settlement:
    result = _result(book, outcome.runner_id)
    return Settlement(
        bet_id=outcome.bet_id,
        user_id=outcome.user_id,
        race_id=outcome.race_id,
        runner_id=outcome.runner_id,
        stake_minor=outcome.stake_minor,
        result=result,
        payout_minor=_payout_minor(outcome, result),
    )


def _payout_minor(outcome: Outcome, result: SettlementResult) -> int:
    if result is SettlementResult.VOID:
        return outcome.stake_minor
    if result is SettlementResult.LOST:
        return 0
    if outcome.odds is None:  # the book grants odds to every accepted bet
        raise InvariantViolation(f"accepted bet {outcome.bet_id} has no odds")
    return payout_minor(outcome.stake_minor, outcome.odds)


def _result(book: Book, runner_id: str) -> SettlementResult:
    if book.state is RaceState.VOID or not book.active[book.runner_index[runner_id]]:
        return SettlementResult.VOID
    if runner_id == book.placings[0]:
        return SettlementResult.WON
    return SettlementResult.LOST
