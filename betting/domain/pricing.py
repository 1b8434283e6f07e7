"""The odds engine: pure integer arithmetic, no floats, no clock.

A runner's fair chance is a pari-mutuel pool seeded by the prior: the prior stands in as
`prior_pool_minor` of virtual money split by runner strength, and real stakes join it at
`money_weight_bp`. So the first bets nudge prices and heavy money moves them, and with no money
at all the prior alone sets them.

A runner on which the house stands to lose (worst-case liability above zero) is shortened in
proportion to that liability. The configured margin is applied after normalising, so the
unrounded book's overround is exactly the margin; rounding down to the ladder only adds to it.

Every weight below is an integer on a common (unnormalised) scale; only ratios matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from betting.domain.errors import InvalidValue
from betting.domain.money import Odds, odds_floor

BASIS_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class PricingParams:
    margin_bp: int = 500  # overround: 500 bp makes implied chances sum to 105%
    prior_pool_minor: int = 10_000_000  # how much money the prior is worth
    money_weight_bp: int = 10_000  # how much real money counts next to the prior
    liability_weight_bp: int = 5_000  # shortening per `liability_reference_minor` of loss
    liability_reference_minor: int = 1_000_000
    # In play (`in_play`): a price moves this many ladder ticks at most per strengths update
    # when nothing happens; a runner whose chance rises by more than `in_play_jump_bp` (of
    # probability) in one update is a jump: it suspends the race for `in_play_suspend_ms`.
    in_play_step_ticks: int = 3
    in_play_jump_bp: int = 1_000
    in_play_suspend_ms: int = 1_000

    def __post_init__(self) -> None:
        _check_range("margin_bp", self.margin_bp, 0, 5_000)
        _check_range("prior_pool_minor", self.prior_pool_minor, 1, 10**15)
        _check_range("money_weight_bp", self.money_weight_bp, 0, 1_000_000)
        _check_range("liability_weight_bp", self.liability_weight_bp, 0, 1_000_000)
        _check_range("liability_reference_minor", self.liability_reference_minor, 1, 10**15)
        _check_range("in_play_step_ticks", self.in_play_step_ticks, 1, 1_000)
        _check_range("in_play_jump_bp", self.in_play_jump_bp, 1, BASIS_POINTS)
        _check_range("in_play_suspend_ms", self.in_play_suspend_ms, 0, 60_000)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise InvalidValue(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def fair_weight(params: PricingParams, strength: int, strength_total: int, stake_minor: int) -> int:
    """Prior pool share plus weighted money, scaled by BASIS_POINTS * strength_total."""
    return (
        params.prior_pool_minor * strength * BASIS_POINTS
        + params.money_weight_bp * stake_minor * strength_total
    )


def adjusted_weight(params: PricingParams, fair: int, liability_minor: int) -> int:
    """Shorten a runner on which the house stands to lose; a winning book is left alone."""
    exposure = liability_minor if liability_minor > 0 else 0
    return fair * (
        params.liability_reference_minor * BASIS_POINTS + params.liability_weight_bp * exposure
    )


def adjusted_weights(
    params: PricingParams, fair: list[int], payouts_minor: list[int], pool_minor: int
) -> list[int]:
    """`adjusted_weight` for every runner at once: the hot path after each accepted bet."""
    base = params.liability_reference_minor * BASIS_POINTS
    per_minor = params.liability_weight_bp
    return [
        weight * (base + per_minor * (payout - pool_minor))
        if payout > pool_minor
        else weight * base
        for weight, payout in zip(fair, payouts_minor, strict=True)
    ]


def price(params: PricingParams, weight: int, weight_total: int) -> Odds:
    """Decimal odds = 1 / (chance * (1 + margin)), rounded down onto the ladder."""
    return odds_floor(weight_total * BASIS_POINTS, weight * (BASIS_POINTS + params.margin_bp))


def unrounded_price(params: PricingParams, weight: int, weight_total: int) -> tuple[int, int]:
    """The exact price as numerator and denominator, for checks of the overround."""
    return weight_total * BASIS_POINTS, weight * (BASIS_POINTS + params.margin_bp)
