"""Rule 4 deductions and dead heats: the table's figures, worked returns, their bounds, and
settlements paid through the ledger."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.book import Book
from betting.domain.deductions import (
    TATTERSALLS_RULE_4,
    DeductionBand,
    DeductionScale,
    Withdrawal,
    combined_deduction_pence,
    deduction_pence,
    winning_payout_minor,
)
from betting.domain.errors import InvalidValue
from betting.domain.events import CloseRace, ResultRace, VoidRace, WithdrawRunner
from betting.domain.ledger import HOUSE_ACCOUNT, HoldState, Ledger
from betting.domain.money import LADDER, Odds, payout_minor
from betting.domain.settlement import (
    SettlementResult,
    house_result_minor,
    pay,
    places_of,
    settle,
    settle_race,
    withdrawal_of,
)
from tests.unit.races import RACE_ID, bet_at_current_price, open_book
from tests.unit.traded_books import resulted_books


@pytest.mark.parametrize(
    ("price", "pence"),
    [
        ("1.01", 90),
        ("1.11", 90),  # 1/9 or shorter
        ("1.12", 85),  # between 1/9 and 2/17: the smaller deduction
        ("1.18", 85),  # up to 2/11
        ("1.19", 80),
        ("1.25", 80),  # 1/4
        ("1.26", 75),
        ("1.30", 75),  # 3/10
        ("1.40", 70),  # 2/5
        ("1.53", 65),  # up to 8/15
        ("1.54", 60),
        ("1.61", 60),  # up to 8/13
        ("1.62", 55),
        ("1.80", 55),  # 4/5
        ("1.95", 50),  # up to 20/21
        ("1.96", 45),
        ("2.00", 45),  # evens
        ("2.20", 45),  # 6/5
        ("2.22", 40),
        ("2.50", 40),  # 6/4
        ("2.74", 35),  # up to 7/4
        ("2.76", 30),
        ("3.25", 30),  # 9/4
        ("4.00", 25),  # 3/1
        ("5.00", 20),  # 4/1
        ("6.40", 15),  # up to 11/2
        ("6.60", 10),
        ("10.00", 10),  # 9/1
        ("15.00", 5),  # 14/1
        ("15.50", 0),  # over 14/1
        ("1000", 0),
    ],
)
def test_the_tattersalls_table(price: str, pence: int) -> None:
    assert deduction_pence(Odds.parse(price)) == pence


@pytest.mark.parametrize(
    ("stake_minor", "price", "withdrawn_at", "payout"),
    [
        (1_000, "9.00", "4.00", 7_000),  # £10 at 8/1, a 3/1 shot out: 25p, returns £70
        (10_000, "11.00", "6.00", 95_000),  # £100 at 10/1, a 5/1 shot out: 15p, returns £950
        (1_000, "2.24", "1.25", 1_248),  # £10 at 2.24, a 1/4 shot out: 80p, returns £12.48
        (1_000, "3.00", "20.00", 3_000),  # a 19/1 outsider out: nothing deducted
    ],
)
def test_worked_rule_4_returns(
    stake_minor: int, price: str, withdrawn_at: str, payout: int
) -> None:
    deduction = deduction_pence(Odds.parse(withdrawn_at))
    assert winning_payout_minor(stake_minor, Odds.parse(price), 1, deduction) == payout


@pytest.mark.parametrize(
    ("stake_minor", "price", "ways", "deduction", "payout"),
    [
        (1_000, "5.00", 2, 0, 2_500),  # £10 at 4/1 in a two-way dead heat: £5 at 4/1
        (1_000, "4.00", 3, 0, 1_333),  # £3.333.. at 3/1: rounded down, a third of a penny
        (1_000, "5.00", 2, 25, 2_000),  # both: £5 at 4/1 less 25p in the pound of winnings
        (1, "1.01", 2, 0, 0),
    ],
)
def test_worked_dead_heat_returns(
    stake_minor: int, price: str, ways: int, deduction: int, payout: int
) -> None:
    assert winning_payout_minor(stake_minor, Odds.parse(price), ways, deduction) == payout


def test_withdrawals_after_the_bet_add_up_to_the_cap() -> None:
    out_at_2 = Withdrawal("car-1", Odds.parse("1.50"), at_ms=1_000)  # 1/2: 65p
    out_at_3 = Withdrawal("car-2", Odds.parse("2.50"), at_ms=2_000)  # 6/4: 40p
    both = [out_at_2, out_at_3]
    assert combined_deduction_pence(both, decided_at_ms=500) == 90  # 105p, capped
    assert combined_deduction_pence(both, decided_at_ms=1_000) == 40  # struck with the first
    assert combined_deduction_pence(both, decided_at_ms=2_000) == 0
    three = [*both, Withdrawal("car-3", Odds.parse("21.00"), at_ms=1_500)]  # 20/1: 0p
    assert combined_deduction_pence(three, decided_at_ms=1_200) == 40
    assert combined_deduction_pence([Withdrawal("car-4", None, 9)], decided_at_ms=0) == 0
    older = DeductionScale(TATTERSALLS_RULE_4.bands, combined_cap_pence=75)
    assert combined_deduction_pence(both, 500, older) == 75
    whole = DeductionScale(TATTERSALLS_RULE_4.bands, combined_cap_pence=100)
    assert combined_deduction_pence(both, 500, whole) == 100  # never past the whole winnings


@pytest.mark.parametrize(
    "bands",
    [
        ((1, 4, 80), (2, 11, 85)),  # not lengthening
        ((1, 9, 50), (2, 11, 85)),  # deducting more on a longer price
        ((1, 9, 101),),
        ((0, 9, 50),),
    ],
)
def test_a_malformed_scale_is_refused(bands: tuple[tuple[int, int, int], ...]) -> None:
    with pytest.raises(InvalidValue):
        DeductionScale(tuple(DeductionBand(*band) for band in bands), 75)


@given(
    stake=st.integers(1, 10**12),
    odds=st.sampled_from(LADDER).map(Odds),
    ways=st.integers(1, 8),
    deduction=st.integers(0, 100),
)
def test_a_return_is_the_exact_figure_rounded_down_once(
    stake: int, odds: Odds, ways: int, deduction: int
) -> None:
    exact = Fraction(stake, ways) * (
        1 + Fraction(odds.hundredths - 100, 100) * Fraction(100 - deduction, 100)
    )
    payout = winning_payout_minor(stake, odds, ways, deduction)
    assert exact - 1 < payout <= exact
    assert stake // ways <= payout <= payout_minor(stake, odds)
    assert winning_payout_minor(stake, odds) == payout_minor(stake, odds)
    if deduction < 100:
        assert winning_payout_minor(stake, odds, ways, deduction + 1) <= payout
    assert winning_payout_minor(stake, odds, ways + 1, deduction) <= payout


@pytest.mark.parametrize(("ways", "deduction"), [(0, 0), (-1, 0), (1, -1), (1, 101), (True, 0)])
def test_impossible_terms_are_refused(ways: int, deduction: int) -> None:
    with pytest.raises(InvalidValue):
        winning_payout_minor(1_000, Odds(200), ways, deduction)


# -- settling a race with withdrawals and ties ---------------------------------------------


def by_price(book: Book) -> list[int]:
    """Runner indexes from the shortest price to the longest."""
    return sorted(range(len(book.race.runners)), key=lambda i: book.price_of(i).hundredths)


def withdrawn_race() -> tuple[Book, list[Withdrawal]]:
    """Bets on the second favourite before and after the favourite is withdrawn, and one on
    the favourite: a short price, so the deduction is large."""
    book = open_book()
    favourite, backed = by_price(book)[:2]
    book.place(bet_at_current_price(book, "before", runner=backed, stake_minor=1_000, at_ms=2_000))
    book.place(bet_at_current_price(book, "on-fav", runner=favourite, stake_minor=500,
                                    at_ms=2_000))  # fmt: skip
    out = book.race.runners[favourite].runner_id
    withdrawal = withdrawal_of(book, out, at_ms=2_500)
    book.apply(WithdrawRunner(RACE_ID, out, at_ms=2_500))
    book.publish_odds(2_500)
    book.place(bet_at_current_price(book, "after", runner=backed, stake_minor=1_000, at_ms=3_000))
    book.apply(CloseRace(RACE_ID, at_ms=4_000))
    return book, [withdrawal]


def cast(book: Book) -> tuple[str, str, str]:
    """(the runner backed, the one withdrawn, another still running) in `withdrawn_race`."""
    favourite, backed, other = by_price(open_book())[:3]
    runners = book.race.runners
    return runners[backed].runner_id, runners[favourite].runner_id, runners[other].runner_id


def placings_won_by(book: Book, bet_id: str) -> tuple[str, ...]:
    winner = book.outcomes[("user-1", bet_id)].runner_id
    others = [r.runner_id for i, r in enumerate(book.race.runners) if book.active[i]]
    return (winner, *[r for r in others if r != winner][:1])


def test_rule_4_reduces_bets_struck_before_the_withdrawal_only() -> None:
    book, withdrawals = withdrawn_race()
    book.apply(ResultRace(RACE_ID, placings_won_by(book, "before"), at_ms=5_000))
    before, on_withdrawn, after = settle_race(book, withdrawals)
    deduction = deduction_pence(withdrawals[0].odds)  # type: ignore[arg-type]
    odds_before = book.outcomes[("user-1", "before")].odds
    assert odds_before is not None and deduction > 0
    assert (before.result, before.deduction_pence) == (SettlementResult.WON, deduction)
    assert before.payout_minor == winning_payout_minor(1_000, odds_before, 1, deduction)
    assert before.payout_minor < payout_minor(1_000, odds_before)
    assert (on_withdrawn.result, on_withdrawn.payout_minor) == (SettlementResult.REFUNDED, 500)
    assert (after.result, after.deduction_pence) == (SettlementResult.WON, 0)
    assert settle(book)[0].payout_minor == payout_minor(1_000, odds_before)  # without records


def test_a_void_race_refunds_every_stake_whatever_was_withdrawn() -> None:
    book, withdrawals = withdrawn_race()
    book.apply(VoidRace(RACE_ID, "abandoned", at_ms=5_000))
    settlements = settle_race(book, withdrawals)
    assert all(s.result is SettlementResult.REFUNDED for s in settlements)
    assert house_result_minor(settlements) == 0


def test_a_dead_heat_divides_the_stake_between_the_tied_runners() -> None:
    book = open_book()
    for runner in range(3):
        book.place(bet_at_current_price(book, f"on-{runner}", runner=runner, stake_minor=1_001))
    book.apply(CloseRace(RACE_ID, at_ms=4_000))
    book.apply(ResultRace(RACE_ID, ("car-0", "car-1", "car-2"), at_ms=5_000))
    places = (frozenset({"car-0", "car-1"}), frozenset({"car-2"}))
    first, second, third = settle_race(book, places=places)
    for settlement in (first, second):
        odds = book.outcomes[(settlement.user_id, settlement.bet_id)].odds
        assert odds is not None
        assert (settlement.result, settlement.dead_heat_ways) == (SettlementResult.WON, 2)
        assert settlement.payout_minor == 1_001 * odds.hundredths // 200
    assert (third.result, third.payout_minor) == (SettlementResult.LOST, 0)
    assert settle_race(book, places=places_of(book.placings)) == settle(book)


@pytest.mark.parametrize(
    "places",
    [
        (),
        (frozenset(),),
        (frozenset({"BACKED"}), frozenset({"BACKED"})),
        (frozenset({"OUT"}),),  # withdrawn: it did not run
        (frozenset({"car-99"}),),
    ],
)
def test_impossible_places_are_refused(places: tuple[frozenset[str], ...]) -> None:
    book, withdrawals = withdrawn_race()
    backed, out, _ = cast(book)
    names = {"BACKED": backed, "OUT": out}
    places = tuple(frozenset(names.get(r, r) for r in place) for place in places)
    book.apply(ResultRace(RACE_ID, (backed,), at_ms=5_000))
    with pytest.raises(InvalidValue):
        settle_race(book, withdrawals, places)


def test_a_withdrawal_record_of_a_runner_still_running_is_refused() -> None:
    book, withdrawals = withdrawn_race()
    backed, out, other = cast(book)
    book.apply(ResultRace(RACE_ID, (backed,), at_ms=5_000))
    running = Withdrawal(other, Odds(300), 2_500)
    for records in ([running], [*withdrawals, *withdrawals], [Withdrawal("car-99", None, 1)]):
        with pytest.raises(InvalidValue):
            settle_race(book, records)
    with pytest.raises(InvalidValue):
        withdrawal_of(book, out, 9_000)  # already withdrawn


@given(resulted_books(), st.data())
def test_deductions_and_ties_never_pay_more_than_full_odds(book: Book, data: st.DataObject) -> None:
    withdrawn = [r.runner_id for i, r in enumerate(book.race.runners) if not book.active[i]]
    prices = st.sampled_from(LADDER).map(Odds)
    withdrawals = [Withdrawal(runner, data.draw(prices), 3_000) for runner in withdrawn]
    tied = data.draw(st.integers(1, len(book.placings)))
    places = (frozenset(book.placings[:tied]), *places_of(book.placings[tied:]))
    full = settle(book)
    reduced = settle_race(book, withdrawals, places)
    for plain, settlement in zip(full, reduced, strict=True):
        assert settlement.stake_minor == plain.stake_minor
        if settlement.result is SettlementResult.WON:
            assert settlement.payout_minor <= payout_minor(
                settlement.stake_minor,
                book.outcomes[(settlement.user_id, settlement.bet_id)].odds,  # type: ignore[arg-type]
            )
            assert settlement.dead_heat_ways == tied
        else:  # first place includes the single winner: a bet not winning now did not then
            assert settlement == plain
    if tied == 1:  # no dead heat: deductions only ever keep money for the house
        assert house_result_minor(reduced) >= house_result_minor(full)


# -- paying settlements through the ledger -------------------------------------------------


@given(resulted_books(), st.booleans())
def test_paying_every_settlement_ends_every_hold_once_and_matches_the_house_result(
    book: Book, void: bool
) -> None:
    ledger = Ledger()
    for user in range(4):
        ledger.deposit(f"user-{user}", f"deposit-{user}", 10**9, 1)
    accepted = [outcome for outcome in book.outcomes.values() if outcome.accepted]
    for outcome in accepted:
        held = ledger.hold(outcome.user_id, outcome.bet_id, RACE_ID, outcome.stake_minor, 2)
        assert held.accepted
    if void:
        book.apply(VoidRace(RACE_ID, "abandoned", at_ms=7_000))
    settlements = settle_race(book)
    answers = [pay(ledger, settlement, 8_000) for settlement in settlements]
    assert all(answer.accepted for answer in answers)
    count = ledger.transfer_count
    assert [pay(ledger, settlement, 9_000) for settlement in settlements] == answers
    assert ledger.transfer_count == count
    assert all(hold.state is not HoldState.PENDING for hold in ledger.holds())
    assert ledger.race_result_minor(RACE_ID) == house_result_minor(settlements)
    assert ledger.balance_minor(HOUSE_ACCOUNT) == house_result_minor(settlements)
    assert ledger.reconcile() == ()


def test_paying_a_settlement_for_another_stake_is_refused() -> None:
    book, _ = withdrawn_race()
    book.apply(ResultRace(RACE_ID, (cast(book)[0],), at_ms=5_000))
    ledger = Ledger()
    ledger.deposit("user-1", "d1", 10**6, 1)
    ledger.hold("user-1", "before", RACE_ID, 999, 2)
    with pytest.raises(InvalidValue):
        pay(ledger, settle(book)[0], 3)
    assert ledger.hold_of("user-1", "before").state is HoldState.PENDING  # type: ignore[union-attr]
