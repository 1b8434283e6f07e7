"""Cash-out offers: never above the bet's worth or its return, never a profit at the price
it was taken at, higher as its runner's price shortens, and standing for one odds version."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.cashout import (
    CashOutOffer,
    CashOutRefusal,
    check_acceptance,
    fair_value,
    offer_for,
)
from betting.domain.errors import InvalidValue
from betting.domain.model import OddsSnapshot, Outcome, RaceState, RunnerPrice
from betting.domain.money import LADDER, Odds, payout_minor

prices = st.sampled_from(LADDER).map(Odds)
stakes = st.integers(1, 10**9)
margins = st.integers(0, 5_000)


def snapshot(odds: list[Odds], state: RaceState = RaceState.OPEN, version: int = 7) -> OddsSnapshot:
    runners = tuple(RunnerPrice(f"car-{n}", price) for n, price in enumerate(odds))
    return OddsSnapshot("race-1", version, state, runners, 0)


def accepted(stake: int, odds: Odds, runner: str = "car-0") -> Outcome:
    return Outcome("b1", "ann", "race-1", runner, stake, True, odds, None, "", 3, 0)


def overround(odds: list[Odds]) -> Fraction:
    return sum((Fraction(100, price.hundredths) for price in odds), Fraction(0))


@given(stakes, prices, st.lists(prices, min_size=1, max_size=12), margins)
def test_an_offer_is_below_the_bets_worth_and_its_return(
    stake: int, taken: Odds, field: list[Odds], margin: int
) -> None:
    offer = offer_for(accepted(stake, taken), snapshot(field), margin)
    assert isinstance(offer, CashOutOffer)
    worth = fair_value(stake, taken, field[0], field)
    assert 0 <= offer.amount_minor <= worth
    assert offer.amount_minor <= payout_minor(stake, taken)
    assert worth - offer.amount_minor >= worth * margin / 10_000 - 1  # the margin is kept


@given(stakes, st.lists(prices, min_size=1, max_size=12), margins)
def test_no_profit_at_the_price_it_was_taken_at(stake: int, field: list[Odds], margin: int) -> None:
    """Unchanged prices on a book with an overround: the offer is at most the stake."""
    if overround(field) < 1:
        return  # the engine never publishes such a book (its overround is at least 1)
    offer = offer_for(accepted(stake, field[0]), snapshot(field), margin)
    assert isinstance(offer, CashOutOffer) and offer.amount_minor <= stake


@given(stakes, prices, st.lists(prices, min_size=2, max_size=12), margins, st.data())
def test_a_shorter_price_never_lowers_the_offer(
    stake: int, taken: Odds, field: list[Odds], margin: int, data: st.DataObject
) -> None:
    shorter = data.draw(st.sampled_from([p for p in LADDER if p <= field[0].hundredths]))
    before = offer_for(accepted(stake, taken), snapshot(field), margin)
    after = offer_for(accepted(stake, taken), snapshot([Odds(shorter), *field[1:]]), margin)
    assert isinstance(before, CashOutOffer) and isinstance(after, CashOutOffer)
    assert after.amount_minor >= before.amount_minor


def test_a_worked_example() -> None:
    """10.00 at 5.00; now 1.80 in a two-runner book of 1.80 and 1.80 (overround 1.11, so
    a chance of 1/2 each once it is taken out): worth 50.00 x 1/2 = 25.00, offered less 5%:
    23.75."""
    field = [Odds.parse("1.80"), Odds.parse("1.80")]
    offer = offer_for(accepted(1_000, Odds.parse("5.00")), snapshot(field), 500)
    assert offer == CashOutOffer("race-1", "ann", "b1", 2_375, 7)


@pytest.mark.parametrize(
    ("state", "refusal"),
    [
        (RaceState.SUSPENDED, CashOutRefusal.RACE_SUSPENDED),
        (RaceState.CLOSED, CashOutRefusal.CASHOUT_CLOSED),
        (RaceState.RESULTED, CashOutRefusal.CASHOUT_CLOSED),
        (RaceState.SETTLED, CashOutRefusal.CASHOUT_CLOSED),
        (RaceState.VOID, CashOutRefusal.CASHOUT_CLOSED),
        (RaceState.SCHEDULED, CashOutRefusal.CASHOUT_CLOSED),
    ],
)
def test_no_offer_and_no_acceptance_outside_an_open_race(
    state: RaceState, refusal: CashOutRefusal
) -> None:
    field = [Odds.parse("3.00"), Odds.parse("1.50")]
    bet = accepted(500, Odds.parse("3.00"))
    assert offer_for(bet, snapshot(field, state), 300) is refusal
    offer = offer_for(bet, snapshot(field), 300)
    assert isinstance(offer, CashOutOffer)
    assert check_acceptance(offer, snapshot(field, state)) is refusal


def test_an_offer_stands_for_its_version_only() -> None:
    field = [Odds.parse("3.00"), Odds.parse("1.50")]
    offer = offer_for(accepted(500, Odds.parse("3.00")), snapshot(field, version=7), 300)
    assert isinstance(offer, CashOutOffer)
    assert check_acceptance(offer, snapshot(field, version=7)) is None
    moved = snapshot(field, version=8)
    assert check_acceptance(offer, moved) is CashOutRefusal.CASHOUT_CHANGED


def test_a_withdrawn_runner_has_no_offer() -> None:
    prices = (RunnerPrice("car-0", None), RunnerPrice("car-1", Odds.parse("1.20")))
    withdrawn = OddsSnapshot("race-1", 7, RaceState.OPEN, prices, 0)
    bet = accepted(500, Odds.parse("3.00"))
    assert offer_for(bet, withdrawn, 300) is CashOutRefusal.CASHOUT_CLOSED


@pytest.mark.parametrize("margin", [-1, 5_001])
def test_a_margin_out_of_range_is_refused(margin: int) -> None:
    with pytest.raises(InvalidValue):
        offer_for(accepted(500, Odds.parse("3.00")), snapshot([Odds.parse("3.00")]), margin)


def test_a_rejected_bet_has_no_offer() -> None:
    rejected = accepted(500, Odds.parse("3.00"))._replace(accepted=False)
    with pytest.raises(InvalidValue):
        offer_for(rejected, snapshot([Odds.parse("3.00")]), 300)
