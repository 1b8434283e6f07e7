"""Properties of the odds engine and the book, for any stakes and any sequence of bets."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from betting.domain import pricing
from betting.domain.book import Book
from betting.domain.events import OpenRace
from betting.domain.model import Bet
from betting.domain.money import LADDER
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams
from tests.unit.races import RACE_ID, race

NO_CAPS = RiskParams(
    stake_min_minor=1,
    stake_max_minor=10**13,
    runner_liability_max_minor=10**18,
    race_liability_max_minor=10**18,
)
ratings = st.lists(st.one_of(st.none(), st.integers(1, 10_000)), min_size=1, max_size=20)
params = st.builds(
    PricingParams,
    margin_bp=st.integers(0, 5_000),
    prior_pool_minor=st.integers(1, 10**12),
    money_weight_bp=st.integers(0, 100_000),
    liability_weight_bp=st.integers(0, 100_000),
    liability_reference_minor=st.integers(1, 10**12),
)
stakes = st.integers(1, 10**12)  # from one minor unit to ten billion in major units
bets = st.lists(st.tuples(st.integers(0, 19), stakes), max_size=40)


def book_with(
    rating_list: list[int | None], pricing_params: PricingParams, risk: RiskParams = NO_CAPS
) -> Book:
    book = Book(race(ratings=rating_list, pricing=pricing_params, risk=risk))
    book.apply(OpenRace(RACE_ID, 1))
    book.publish_odds(1)
    return book


def place(book: Book, bet_id: str, runner: int, stake: int, at_ms: int = 10) -> bool:
    index = runner % len(book.race.runners)
    outcome = book.place(
        Bet(bet_id, "u", RACE_ID, f"car-{index}", stake, book.price_of(index), book.version, at_ms)
    )
    return outcome.accepted


@given(ratings, params, bets)
def test_unrounded_overround_equals_the_margin(
    rating_list: list[int | None], pricing_params: PricingParams, bet_list: list[tuple[int, int]]
) -> None:
    book = book_with(rating_list, pricing_params)
    for n, (runner, stake) in enumerate(bet_list):
        place(book, f"b{n}", runner, stake)
    weights, total = book.weights()
    assert (weights, total) == book.weights_from_scratch()
    implied = sum(
        Fraction(den, num)
        for num, den in (pricing.unrounded_price(pricing_params, w, total) for w in weights)
    )
    assert implied == 1 + Fraction(pricing_params.margin_bp, 10_000)


@given(ratings, params, bets)
def test_every_price_is_on_the_ladder_and_rounded_for_the_house(
    rating_list: list[int | None], pricing_params: PricingParams, bet_list: list[tuple[int, int]]
) -> None:
    book = book_with(rating_list, pricing_params)
    for n, (runner, stake) in enumerate(bet_list):
        place(book, f"b{n}", runner, stake)
    weights, total = book.weights()
    for weight, runner_price in zip(weights, book.prices(), strict=True):
        assert runner_price.odds is not None and runner_price.odds.hundredths in LADDER
        num, den = pricing.unrounded_price(pricing_params, weight, total)
        if runner_price.odds.hundredths > LADDER[0]:
            assert runner_price.odds.hundredths * den <= num * 100  # never longer than fair


@given(ratings, params, bets, st.integers(0, 19), stakes)
def test_more_money_on_a_runner_never_lengthens_its_price(
    rating_list: list[int | None],
    pricing_params: PricingParams,
    bet_list: list[tuple[int, int]],
    runner: int,
    stake: int,
) -> None:
    assume(len(rating_list) > 1)  # a race of one runner takes no bets
    book = book_with(rating_list, pricing_params)
    for n, (other, other_stake) in enumerate(bet_list):
        place(book, f"b{n}", other, other_stake)
    index = runner % len(book.race.runners)
    before = book.price_of(index)
    assert place(book, "extra", index, stake)
    assert book.price_of(index) <= before


caps = st.builds(
    RiskParams,
    stake_min_minor=st.just(1),
    stake_max_minor=st.just(10**12),
    runner_liability_max_minor=st.integers(0, 10**9),
    race_liability_max_minor=st.integers(0, 10**9),
)


@given(ratings, params, caps, bets)
def test_accepted_bets_never_push_liability_over_a_cap(
    rating_list: list[int | None],
    pricing_params: PricingParams,
    risk: RiskParams,
    bet_list: list[tuple[int, int]],
) -> None:
    book = book_with(rating_list, pricing_params, risk)
    for n, (runner, stake) in enumerate(bet_list):
        place(book, f"b{n}", runner, stake)
        for index in range(len(book.race.runners)):
            assert book.liability_minor(index) <= max(risk.runner_liability_max_minor, 0)
        assert book.race_liability_minor() <= risk.race_liability_max_minor


@settings(max_examples=50)
@given(ratings, params, bets)
def test_replay_is_exact_and_snapshots_round_trip(
    rating_list: list[int | None], pricing_params: PricingParams, bet_list: list[tuple[int, int]]
) -> None:
    first, second = book_with(rating_list, pricing_params), book_with(rating_list, pricing_params)
    outcomes = []
    for n, (runner, stake) in enumerate(bet_list):
        place(first, f"b{n}", runner, stake, at_ms=n)
        outcomes.append(first.outcomes[("u", f"b{n}")])
        if n % 3 == 0:
            first.publish_odds(n)
    for n, (runner, stake) in enumerate(bet_list):
        place(second, f"b{n}", runner, stake, at_ms=n)
        if n % 3 == 0:
            second.publish_odds(n)
    assert first.snapshot() == second.snapshot()
    assert list(second.outcomes.values()) == outcomes
    restored = Book.restore(first.snapshot())
    assert restored.snapshot() == first.snapshot()
    from_header = Book.restore(first.snapshot(with_outcomes=False), first.outcomes.values())
    from_header.dirty = first.dirty  # a changelog restore publishes once more, to be sure
    assert from_header.snapshot() == first.snapshot()
    assert from_header.stakes_minor == first.stakes_minor
    assert from_header.payouts_minor == first.payouts_minor
    assert restored.prices() == first.prices()
    place(first, "after", 0, 1_000)
    place(restored, "after", 0, 1_000)
    assert restored.snapshot() == first.snapshot()


@given(ratings, params, bets)
def test_a_repeated_bet_id_changes_nothing(
    rating_list: list[int | None], pricing_params: PricingParams, bet_list: list[tuple[int, int]]
) -> None:
    book = book_with(rating_list, pricing_params)
    for n, (runner, stake) in enumerate(bet_list):
        place(book, f"b{n}", runner, stake)
    before = book.snapshot()
    for n, (runner, stake) in enumerate(bet_list):
        first = book.outcomes[("u", f"b{n}")]
        place(book, f"b{n}", runner, stake)  # the same bet again: its first outcome
        place(book, f"b{n}", runner, stake + 1)  # another bet under its id: BET_ID_REUSED
        assert book.outcomes[("u", f"b{n}")] is first
    assert book.snapshot() == before
