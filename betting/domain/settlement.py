"""Settling a race: what each accepted bet returns once the race is resulted or void.

A pure function of the book (and of the withdrawals and ties the caller passes), so settling
again (after a crash, say) gives the same answers; whoever pays out uses the bet's (user, bet
id) as the idempotency key.

- A void race, or a withdrawn runner: the stake is refunded (REFUNDED).
- A dead heat: the result's places are groups of runners (`Places`); a winning bet on a
  runner tied with others for first is paid on its stake divided by the group's size.
- Rule 4: a winning bet decided before a withdrawal has its winnings reduced by the deduction
  scale (`deductions`), for the `Withdrawal` records the caller kept.

`settle(book)` is the single-winner form without deductions; `settle_race` takes the rest.

Every accepted bet ends exactly once, in one of two moments: a withdrawn runner's bets are
refunded when it is withdrawn (`withdrawal_refunds`), and every other accepted bet when the
race is resulted or void (`final_settlements`, which leaves out the bets refunded before).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from betting.domain.book import Book, result_places
from betting.domain.deductions import (
    TATTERSALLS_RULE_4,
    DeductionScale,
    Withdrawal,
    combined_deduction_pence,
    winning_payout_minor,
)
from betting.domain.errors import IllegalTransition, InvalidValue, InvariantViolation, invariant
from betting.domain.ledger import Ledger, LedgerResult
from betting.domain.model import Outcome, RaceState

# A result with ties: each place is the set of runners sharing it, first place first. The
# current single-winner form, placings (a, b, c), is ({a}, {b}, {c}): see `places_of`.
Places = tuple[frozenset[str], ...]

# SETTLED keeps its placings: settling it again must give the same answers as before.
_SETTLEABLE = frozenset({RaceState.RESULTED, RaceState.SETTLED, RaceState.VOID})


class SettlementResult(enum.StrEnum):
    WON = "won"
    LOST = "lost"
    REFUNDED = "refunded"  # the stake comes back: a void race, or a withdrawn runner


@dataclass(frozen=True, slots=True)
class Settlement:
    bet_id: str
    user_id: str
    race_id: str
    runner_id: str
    stake_minor: int
    result: SettlementResult
    payout_minor: int  # what the bettor gets back, stake included
    dead_heat_ways: int = 1  # runners sharing first place with this bet's, itself included
    deduction_pence: int = 0  # Rule 4: taken from each pound of the winnings


@dataclass(frozen=True, slots=True)
class _Terms:
    """What settles every bet of one race."""

    winners: frozenset[str]
    withdrawals: tuple[Withdrawal, ...]
    scale: DeductionScale


def settle(book: Book) -> list[Settlement]:
    """One settlement per accepted bet, in the order the bets were decided."""
    return settle_race(book)


def settle_race(
    book: Book,
    withdrawals: Sequence[Withdrawal] = (),
    places: Places | None = None,
    scale: DeductionScale = TATTERSALLS_RULE_4,
) -> list[Settlement]:
    """`settle`, with Rule 4 for `withdrawals` and ties in `places` (the book's placings and
    dead heats when None). Each withdrawal must be of a runner the book has withdrawn."""
    if book.state not in _SETTLEABLE:
        raise IllegalTransition(book.race.race_id, book.state, "settle")
    invariant(
        book.state is RaceState.VOID or bool(book.placings),
        f"race {book.race.race_id} is {book.state} without placings",
    )
    _check_withdrawals(book, withdrawals)
    if places is None and book.state is not RaceState.VOID:
        places = book_places(book)
    winners = frozenset() if book.state is RaceState.VOID else _winners(book, places)
    terms = _Terms(winners, tuple(withdrawals), scale)
    return [
        _settle_one(book, outcome, terms) for outcome in book.outcomes.values() if outcome.accepted
    ]


def withdrawal_refunds(book: Book, runner_id: str) -> list[Settlement]:
    """The refunds of a runner just withdrawn: every accepted bet on it, stake back."""
    invariant(not book.active[book.runner_index[runner_id]], f"runner {runner_id} is still running")
    return [
        _refund(outcome)
        for outcome in book.outcomes.values()
        if outcome.accepted and outcome.runner_id == runner_id
    ]


def final_settlements(book: Book, scale: DeductionScale = TATTERSALLS_RULE_4) -> list[Settlement]:
    """A resulted or void race's settlements: each accepted bet on a runner still running
    (a withdrawn runner's were refunded when it was withdrawn), with the book's dead heats
    and Rule 4 for the book's withdrawals."""
    places = None if book.state is RaceState.VOID else book_places(book)
    settlements = settle_race(book, book.withdrawals, places, scale)
    return [s for s in settlements if book.active[book.runner_index[s.runner_id]]]


def book_places(book: Book) -> Places:
    """The book's result as places: its placings, grouped by its dead heats."""
    return result_places(book.placings, book.dead_heats)


def places_of(placings: tuple[str, ...]) -> Places:
    """The single-winner form as places: one runner in each."""
    return tuple(frozenset({runner_id}) for runner_id in placings)


def withdrawal_of(book: Book, runner_id: str, at_ms: int) -> Withdrawal:
    """The record to keep when withdrawing a runner: call it before applying WithdrawRunner,
    while the runner still has its price."""
    index = book.runner_index.get(runner_id, -1)
    if index < 0 or not book.active[index]:
        raise InvalidValue(f"runner {runner_id!r} is not running")
    return Withdrawal(runner_id, book.price_of(index), at_ms)


def pay(ledger: Ledger, settlement: Settlement, at_ms: int) -> LedgerResult:
    """End the bet's hold as its settlement says: a refund releases it, a loss posts it, a win
    posts it and pays the return. Paying again answers the same and moves nothing."""
    hold = ledger.hold_of(settlement.user_id, settlement.bet_id)
    if hold is not None and (hold.amount_minor, hold.race_id) != (
        settlement.stake_minor,
        settlement.race_id,
    ):
        raise InvalidValue(f"settlement of {settlement.bet_id!r}: another stake or race was held")
    if settlement.result is SettlementResult.REFUNDED:
        return ledger.release(settlement.user_id, settlement.bet_id, at_ms)
    if settlement.result is SettlementResult.LOST:
        return ledger.post_loss(settlement.user_id, settlement.bet_id, at_ms)
    return ledger.post_win(settlement.user_id, settlement.bet_id, settlement.payout_minor, at_ms)


def house_result_minor(settlements: Iterable[Settlement]) -> int:
    """Stakes taken minus payouts: positive when the house wins."""
    return sum(settlement.stake_minor - settlement.payout_minor for settlement in settlements)


def _refund(outcome: Outcome) -> Settlement:
    return Settlement(
        outcome.bet_id, outcome.user_id, outcome.race_id, outcome.runner_id,
        outcome.stake_minor, SettlementResult.REFUNDED, outcome.stake_minor,
    )  # fmt: skip


def _settle_one(book: Book, outcome: Outcome, terms: _Terms) -> Settlement:
    result = _result(book, outcome.runner_id, terms.winners)
    settlement = Settlement(
        bet_id=outcome.bet_id,
        user_id=outcome.user_id,
        race_id=outcome.race_id,
        runner_id=outcome.runner_id,
        stake_minor=outcome.stake_minor,
        result=result,
        payout_minor=outcome.stake_minor if result is SettlementResult.REFUNDED else 0,
    )
    if result is not SettlementResult.WON:
        return settlement
    if outcome.odds is None:  # the book grants odds to every accepted bet
        raise InvariantViolation(f"accepted bet {outcome.bet_id} has no odds")
    ways = len(terms.winners)
    deduction = combined_deduction_pence(terms.withdrawals, outcome.decided_at_ms, terms.scale)
    payout = winning_payout_minor(outcome.stake_minor, outcome.odds, ways, deduction)
    return replace(settlement, payout_minor=payout, dead_heat_ways=ways, deduction_pence=deduction)


def _result(book: Book, runner_id: str, winners: frozenset[str]) -> SettlementResult:
    if book.state is RaceState.VOID or not book.active[book.runner_index[runner_id]]:
        return SettlementResult.REFUNDED
    if runner_id in winners:
        return SettlementResult.WON
    return SettlementResult.LOST


def _winners(book: Book, places: Places | None) -> frozenset[str]:
    """First place, checked: its runners ran, and no runner is placed twice."""
    if places is None:
        return frozenset({book.placings[0]})
    placed = [runner_id for place in places for runner_id in place]
    running = {runner.runner_id for i, runner in enumerate(book.race.runners) if book.active[i]}
    if not places or not places[0] or len(placed) != len(set(placed)):
        raise InvalidValue("places: a first place, and no runner placed twice")
    if not set(placed) <= running:
        raise InvalidValue("places: only runners that ran can be placed")
    return frozenset(places[0])


def _check_withdrawals(book: Book, withdrawals: Sequence[Withdrawal]) -> None:
    seen: set[str] = set()
    for withdrawal in withdrawals:
        index = book.runner_index.get(withdrawal.runner_id, -1)
        if index < 0 or book.active[index] or withdrawal.runner_id in seen:
            raise InvalidValue(f"withdrawal of {withdrawal.runner_id!r}: not withdrawn, or twice")
        seen.add(withdrawal.runner_id)
