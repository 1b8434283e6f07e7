"""How an in-play book moves its prices between ticks of the race model, as a trader would.

On each strengths update the book compares the prices it would now make (`raw`) with those it
showed before:
- nothing happened: each price moves at most `in_play_step_ticks` ladder ticks toward its new
  value (a band around the old price); the rest of the move follows on later ticks. A drift
  held back is in the house's favour; a price that comes in is held back only as far as the
  book's own chance allows (never longer than its margin-free price), so no price shown while
  the race is open gives a bettor an edge;
- something happened (the model has a new favourite, an overtake as it sees it, or the race
  is decided): prices go straight to their new values;
- a runner whose chance rises by more than `in_play_jump_bp` in one update is a jump (an
  incident, as a trader sees it): the race is suspended for `in_play_suspend_ms`. Prices go
  straight to their new values, bets are refused while suspended, and the book resumes at the
  first strengths update at or after the suspension's end.

Whatever the band says, the prices a book shows keep an overround of at least one
(`overround_at_least_one`): backing every runner can never guarantee a profit.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from betting.domain.money import LADDER, ODDS_SCALE, Odds, odds_floor

BASIS_POINTS = 10_000
STRENGTH_DECIDED = 10**9  # the strength the race model gives a car over the line

Band = tuple[int, int]  # lowest and highest ladder tick a runner's price may show


def favourite(strengths: Sequence[int], active: Sequence[bool]) -> int:
    """The active runner with the highest strength; the lower index wins a tie."""
    best = -1
    for index, (strength, running) in enumerate(zip(strengths, active, strict=True)):
        if running and (best < 0 or strength > strengths[best]):
            best = index
    return best


def something_happened(before: Sequence[int], after: Sequence[int], active: Sequence[bool]) -> bool:
    """A new favourite (an overtake in the model's eyes) or a decided race (the finish)."""
    decided = any(
        s >= STRENGTH_DECIDED for s, running in zip(after, active, strict=True) if running
    )
    return decided or favourite(before, active) != favourite(after, active)


def bands(before_ticks: Sequence[int | None], step_ticks: int) -> list[Band | None]:
    """The band each runner's price may show until the next update."""
    top = len(LADDER) - 1
    return [
        None if tick is None else (max(0, tick - step_ticks), min(top, tick + step_ticks))
        for tick in before_ticks
    ]


def no_edge_price(weight: int, weight_total: int) -> Odds:
    """The longest ladder price at which backing is worth nothing to a bettor at the book's
    own chance (weight / weight_total): the margin-free price, rounded down."""
    return odds_floor(weight_total, weight) if weight else Odds(LADDER[-1])


def without_edges(
    held: Sequence[Odds | None], weights: Sequence[int], weight_total: int
) -> list[Odds | None]:
    """The held prices, none longer than its margin-free price."""
    return [
        odds if odds is None else min(odds, no_edge_price(weight, weight_total))
        for odds, weight in zip(held, weights, strict=True)
    ]


def jumped(
    before: Sequence[int], before_total: int, after: Sequence[int], after_total: int, jump_bp: int
) -> bool:
    """Whether some runner's chance (weight / total) rose by more than `jump_bp`, exactly."""
    return any(
        (new * before_total - old * after_total) * BASIS_POINTS
        > jump_bp * before_total * after_total
        for old, new in zip(before, after, strict=True)
    )


def within(raw: Sequence[Odds | None], band: Sequence[Band | None]) -> list[Odds | None]:
    """Each price held inside its band."""
    held: list[Odds | None] = []
    for odds, limits in zip(raw, band, strict=True):
        if odds is None or limits is None:
            held.append(odds)
        else:
            low, high = limits
            held.append(Odds(LADDER[min(high, max(low, odds.tick))]))
    return held


def overround(prices: Sequence[Odds | None]) -> Fraction:
    """Sum of 1/odds over the priced runners, exactly."""
    return sum(
        (Fraction(ODDS_SCALE, odds.hundredths) for odds in prices if odds is not None),
        Fraction(0),
    )


def overround_at_least_one(prices: Sequence[Odds | None]) -> bool:
    return overround(prices) >= 1


def with_overround(prices: Sequence[Odds | None]) -> list[Odds | None]:
    """Prices shortened, longest first and one tick at a time, until their overround is at
    least one. Only a price held up at the ladder's floor (1.01 for a near-certain winner) can
    leave a book short of one; with a single runner it cannot be done and the prices are left
    as they are (the book takes no bets then)."""
    fixed = list(prices)
    while not overround_at_least_one(fixed):
        longest = max(
            (i for i, odds in enumerate(fixed) if odds is not None and odds.tick > 0),
            key=lambda i: (fixed[i].tick, -i),  # type: ignore[union-attr]
            default=-1,
        )
        if longest < 0:
            break
        fixed[longest] = Odds(LADDER[fixed[longest].tick - 1])  # type: ignore[union-attr]
    return fixed
