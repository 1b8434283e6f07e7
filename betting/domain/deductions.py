"""What a winning bet returns when the field changed: Rule 4 deductions and dead heats.

Rule 4 (Tattersalls' Rule 4(c)): when a runner is withdrawn after prices were taken, the
winning bets on the others struck before the withdrawal lose part of their winnings (never of
their stake), by a scale keyed on the withdrawn runner's price at the time. The scale is data:
each band is the longest price it covers (as a fraction: 2/11 is 2-to-11) and its deduction
in pence in the pound. A price between two bands, which a decimal ladder has and the
traditional fractional one has not, takes the longer band's smaller deduction: the table is
the house's, so its gaps go to the bettor. Deductions of several withdrawals add up; when two
or more apply, their total is capped (`combined_cap_pence`). Withdrawals at the same time are
taken one by one, not at an aggregate price.

Dead heat: a winning bet on a runner tied with others for first place, `ways` runners in all,
is paid on stake / ways at full odds and the rest of the stake is lost.

Both come to one exact fraction of the stake, rounded down once to a minor unit: the bettor
gets less than the exact figure by under one minor unit, and no money is made from rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from betting.domain.errors import InvalidValue
from betting.domain.money import ODDS_SCALE, Odds
from betting.domain.numbers import parse_int

PENCE_IN_POUND = 100


@dataclass(frozen=True, slots=True)
class DeductionBand:
    longest_numerator: int  # the longest price of the band, as the fraction numerator/denominator
    longest_denominator: int
    pence: int  # deducted from each pound of winnings


@dataclass(frozen=True, slots=True)
class DeductionScale:
    bands: tuple[DeductionBand, ...]  # shortest price first; longer prices deduct nothing
    combined_cap_pence: int  # the most that two or more withdrawals deduct together

    def __post_init__(self) -> None:
        pairs = zip(self.bands, self.bands[1:], strict=False)
        pence = [band.pence for band in self.bands] + [self.combined_cap_pence]
        if (
            not all(_shorter(a, b) and a.pence >= b.pence for a, b in pairs)
            or not all(type(p) is int and 0 <= p <= PENCE_IN_POUND for p in pence)
            or not all(b.longest_numerator > 0 < b.longest_denominator for b in self.bands)
        ):
            raise InvalidValue("deduction scale: bands must lengthen and deduct less, in pence")


def _shorter(a: DeductionBand, b: DeductionBand) -> bool:
    """Whether band a's longest price is shorter than band b's (fractions, compared exactly)."""
    return a.longest_numerator * b.longest_denominator < b.longest_numerator * a.longest_denominator


def _scale(*rows: tuple[int, int, int]) -> tuple[DeductionBand, ...]:
    return tuple(DeductionBand(*row) for row in rows)


# Tattersalls' Rule 4(c): the withdrawn runner's price at withdrawal -> pence in the pound.
TATTERSALLS_RULE_4 = DeductionScale(
    bands=_scale(
        (1, 9, 90),  # 1/9 or shorter
        (2, 11, 85),  # 2/17 to 2/11
        (1, 4, 80),  # 1/5 to 1/4
        (3, 10, 75),  # 2/7 to 3/10
        (2, 5, 70),  # 1/3 to 2/5
        (8, 15, 65),  # 4/9 to 8/15
        (8, 13, 60),  # 4/7 to 8/13
        (4, 5, 55),  # 4/6 to 4/5
        (20, 21, 50),  # 5/6 to 20/21
        (6, 5, 45),  # evens to 6/5
        (6, 4, 40),  # 5/4 to 6/4
        (7, 4, 35),  # 13/8 to 7/4
        (9, 4, 30),  # 15/8 to 9/4
        (3, 1, 25),  # 5/2 to 3/1
        (4, 1, 20),  # 10/3 to 4/1
        (11, 2, 15),  # 9/2 to 11/2
        (9, 1, 10),  # 6/1 to 9/1
        (14, 1, 5),  # 10/1 to 14/1; over 14/1 nothing
    ),
    # The table's own top band: with the 90p bands added to the older table (whose top band
    # and cap were 75p), current statements of the rule cap several withdrawals at 90p.
    combined_cap_pence=90,
)


NO_DEDUCTIONS = DeductionScale(bands=(), combined_cap_pence=0)
BANDS_MAX = 100


def parse_scale(text: str, combined_cap_pence: int) -> DeductionScale:
    """A scale written as bands, shortest price first: `1/9:90 2/11:85 ...`, each the
    longest price of the band as a fraction and its deduction in pence in the pound."""
    bands = []
    items = text.split()
    if not items or len(items) > BANDS_MAX:
        raise InvalidValue(f"deduction bands: 1 to {BANDS_MAX} bands like 1/9:90")
    for item in items:
        price, colon, pence = item.partition(":")
        numerator, slash, denominator = price.partition("/")
        if not (colon and slash):
            raise InvalidValue(f"deduction band {item[:20]!r}: expected like 1/9:90")
        bands.append(
            DeductionBand(
                parse_int(numerator, "deduction band numerator", 1, 10_000),
                parse_int(denominator, "deduction band denominator", 1, 10_000),
                parse_int(pence, "deduction band pence", 0, PENCE_IN_POUND),
            )
        )
    return DeductionScale(tuple(bands), combined_cap_pence)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    runner_id: str
    odds: Odds | None  # its price when withdrawn; None when it had none (no deduction)
    at_ms: int  # bets decided before this are struck at the old prices


def deduction_pence(odds: Odds, scale: DeductionScale = TATTERSALLS_RULE_4) -> int:
    """The deduction for one withdrawn runner priced at `odds` (decimal: 4.00 is 3/1)."""
    winnings_hundredths = odds.hundredths - ODDS_SCALE  # the fractional price, times 100
    for band in scale.bands:
        if winnings_hundredths * band.longest_denominator <= ODDS_SCALE * band.longest_numerator:
            return band.pence
    return 0


def combined_deduction_pence(
    withdrawals: Iterable[Withdrawal],
    decided_at_ms: int,
    scale: DeductionScale = TATTERSALLS_RULE_4,
) -> int:
    """The deduction on a winning bet decided at `decided_at_ms`: the withdrawals after it
    count (one in the same millisecond does not: the bettor's favour)."""
    applying = [
        deduction_pence(withdrawal.odds, scale)
        for withdrawal in withdrawals
        if withdrawal.odds is not None and decided_at_ms < withdrawal.at_ms
    ]
    total = sum(applying)
    return min(total, scale.combined_cap_pence) if len(applying) > 1 else total


def winning_payout_minor(
    stake_minor: int, odds: Odds, dead_heat_ways: int = 1, deduction_pence: int = 0
) -> int:
    """A winning bet's return, stake included: stake / ways back at `odds`, with
    `deduction_pence` taken from each pound of the winnings. One rounding, down."""
    if type(dead_heat_ways) is not int or dead_heat_ways < 1:
        raise InvalidValue(f"dead heat of {dead_heat_ways!r} ways")
    if type(deduction_pence) is not int or not 0 <= deduction_pence <= PENCE_IN_POUND:
        raise InvalidValue(f"deduction of {deduction_pence!r} pence in the pound")
    kept_pence = PENCE_IN_POUND - deduction_pence
    per_stake = ODDS_SCALE * PENCE_IN_POUND + (odds.hundredths - ODDS_SCALE) * kept_pence
    return stake_minor * per_stake // (ODDS_SCALE * PENCE_IN_POUND * dead_heat_ways)
