"""Settlement reconciles with the book to the minor unit, and only a finished race settles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.book import Book
from betting.domain.errors import IllegalTransition
from betting.domain.events import (
    CloseRace,
    ResultRace,
    SettleRace,
    SuspendRace,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import Outcome, RaceState
from betting.domain.money import ODDS_SCALE
from betting.domain.settlement import Settlement, SettlementResult, house_result_minor, settle
from tests.unit.races import RACE_ID, bet_at_current_price, open_book, race
from tests.unit.traded_books import resulted_books, traded_books


def accepted(book: Book) -> list[Outcome]:
    return [outcome for outcome in book.outcomes.values() if outcome.accepted]


def withdrawn_stakes_minor(book: Book) -> int:
    return sum(
        stake for stake, active in zip(book.stakes_minor, book.active, strict=True) if not active
    )


@given(resulted_books())
def test_one_settlement_per_accepted_bet_in_order(book: Book) -> None:
    settlements = settle(book)
    assert [s.bet_id for s in settlements] == [o.bet_id for o in accepted(book)]
    for settlement, outcome in zip(settlements, accepted(book), strict=True):
        assert (settlement.user_id, settlement.race_id, settlement.runner_id) == (
            outcome.user_id,
            outcome.race_id,
            outcome.runner_id,
        )
        assert settlement.stake_minor == outcome.stake_minor


@given(resulted_books())
def test_each_bet_is_paid_by_its_own_rule(book: Book) -> None:
    winner = book.placings[0]
    for settlement, outcome in zip(settle(book), accepted(book), strict=True):
        assert outcome.odds is not None
        if not book.active[book.runner_index[outcome.runner_id]]:
            expected = (SettlementResult.REFUNDED, outcome.stake_minor)
        elif outcome.runner_id == winner:
            won = outcome.stake_minor * outcome.odds.hundredths // ODDS_SCALE
            expected = (SettlementResult.WON, won)
        else:
            expected = (SettlementResult.LOST, 0)
        assert (settlement.result, settlement.payout_minor) == expected


@given(resulted_books())
def test_payouts_reconcile_with_the_book_to_the_minor_unit(book: Book) -> None:
    settlements = settle(book)
    winner = book.runner_index[book.placings[0]]
    paid_minor = sum(s.payout_minor for s in settlements)
    assert paid_minor == book.payouts_minor[winner] + withdrawn_stakes_minor(book)
    assert house_result_minor(settlements) == book.pool_minor - book.payouts_minor[winner]
    assert sum(s.stake_minor for s in settlements) == sum(book.stakes_minor)


@given(traded_books(), st.sampled_from(["before close", "after close", "after result"]))
def test_a_void_race_returns_every_stake(book: Book, when: str) -> None:
    if when != "before close":
        book.apply(CloseRace(RACE_ID, at_ms=5_000))
    if when == "after result":
        running = book.race.runners[book.active.index(True)].runner_id
        book.apply(ResultRace(RACE_ID, (running,), at_ms=6_000))
    book.apply(VoidRace(RACE_ID, "stewards' inquiry", at_ms=7_000))
    settlements = settle(book)
    assert len(settlements) == len(accepted(book))
    assert all(s.result is SettlementResult.REFUNDED for s in settlements)
    assert all(s.payout_minor == s.stake_minor for s in settlements)
    assert house_result_minor(settlements) == 0


@given(resulted_books())
def test_settling_again_gives_the_same_answers(book: Book) -> None:
    first = settle(book)
    assert settle(book) == first
    book.apply(SettleRace(RACE_ID, at_ms=7_000))
    assert settle(book) == first
    assert settle(Book.restore(book.snapshot())) == first


@pytest.mark.parametrize(
    "state", [RaceState.SCHEDULED, RaceState.OPEN, RaceState.SUSPENDED, RaceState.CLOSED]
)
def test_a_race_that_is_not_finished_is_refused(state: RaceState) -> None:
    book = Book(race()) if state is RaceState.SCHEDULED else open_book()
    if state is not RaceState.SCHEDULED:
        book.place(bet_at_current_price(book, "b1"))
    if state is RaceState.SUSPENDED:
        book.apply(SuspendRace(RACE_ID, at_ms=2_500))
    if state is RaceState.CLOSED:
        book.apply(CloseRace(RACE_ID, at_ms=2_500))
    assert book.state is state
    before = book.snapshot()
    with pytest.raises(IllegalTransition):
        settle(book)
    assert book.snapshot() == before


def test_a_worked_example() -> None:
    book = open_book()
    odds = book.price_of(0)
    book.place(bet_at_current_price(book, "win", runner=0, stake_minor=1_001))
    book.place(bet_at_current_price(book, "lose", runner=1, stake_minor=500))
    book.place(bet_at_current_price(book, "void", runner=2, stake_minor=300))
    book.place(bet_at_current_price(book, "rejected", runner=3, stake_minor=1))
    book.apply(WithdrawRunner(RACE_ID, "car-2", at_ms=2_500))
    book.apply(CloseRace(RACE_ID, at_ms=3_000))
    book.apply(ResultRace(RACE_ID, ("car-0", "car-1"), at_ms=4_000))
    won_minor = 1_001 * odds.hundredths // 100
    assert settle(book) == [
        Settlement("win", "user-1", RACE_ID, "car-0", 1_001, SettlementResult.WON, won_minor),
        Settlement("lose", "user-1", RACE_ID, "car-1", 500, SettlementResult.LOST, 0),
        Settlement("void", "user-1", RACE_ID, "car-2", 300, SettlementResult.REFUNDED, 300),
    ]
    assert house_result_minor(settle(book)) == 1_501 - won_minor
