from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.errors import InvalidValue
from betting.domain.money import (
    LADDER,
    Odds,
    format_minor,
    odds_floor,
    payout_minor,
    ticks_between,
)


def test_ladder_follows_the_published_bands() -> None:
    assert LADDER[0] == 101 and LADDER[-1] == 100_000
    assert list(LADDER) == sorted(set(LADDER))
    steps = {
        (101, 200): 1,
        (200, 300): 2,
        (300, 400): 5,
        (400, 600): 10,
        (600, 1000): 20,
        (1000, 2000): 50,
        (2000, 3000): 100,
        (3000, 5000): 200,
        (5000, 10000): 500,
        (10000, 100000): 1000,
    }
    for low, high in itertools.pairwise(LADDER):
        band = next(step for (a, b), step in steps.items() if a <= low < b)
        assert high - low == band


@pytest.mark.parametrize(
    ("text", "hundredths"), [("2.5", 250), ("2.50", 250), ("1.01", 101), ("1000", 100_000)]
)
def test_parse_exact(text: str, hundredths: int) -> None:
    assert Odds.parse(text).hundredths == hundredths


@pytest.mark.parametrize("text", ["2.51", "1.00", "0.5", "abc", "2.505", "", "-2", "1001"])
def test_parse_refuses_prices_off_the_ladder(text: str) -> None:
    with pytest.raises(InvalidValue):
        Odds.parse(text)


def test_odds_refuse_floats_and_bools() -> None:
    with pytest.raises(InvalidValue):
        Odds(2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        Odds.parse(2.5)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=10**12))
def test_floor_is_on_the_ladder_and_never_above_the_exact_price(num: int, den: int) -> None:
    odds = odds_floor(num, den)
    assert odds.hundredths in LADDER
    if odds.hundredths > LADDER[0]:  # clamping up to 1.01 is the one exception
        assert odds.hundredths * den <= num * 100


def test_round_trip_and_helpers() -> None:
    assert str(Odds.parse("7.2")) == "7.20"
    assert ticks_between(Odds(200), Odds(204)) == 2
    assert payout_minor(333, Odds(150)) == 499  # 499.5 rounds down: the house keeps the half
    assert format_minor(-1234) == "-12.34"
