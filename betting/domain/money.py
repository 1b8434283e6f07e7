"""Money and odds as integers: minor units, and decimal odds on a fixed price ladder.

Odds are held in hundredths (2.50 -> 250): every step of the ladder is a whole number of
hundredths, so no float ever touches a price.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import total_ordering

from betting.domain.errors import InvalidValue
from betting.domain.numbers import is_ascii_digits

ODDS_SCALE = 100
ODDS_WHOLE_DIGITS_MAX = 4  # the ladder ends at 1000
ODDS_TEXT_MAX = ODDS_WHOLE_DIGITS_MAX + 3  # "1000.00"

# (from, to, step) in hundredths: the Betfair-style ladder, 1.01 to 1000.
_LADDER_BANDS: tuple[tuple[int, int, int], ...] = (
    (101, 200, 1),
    (200, 300, 2),
    (300, 400, 5),
    (400, 600, 10),
    (600, 1000, 20),
    (1000, 2000, 50),
    (2000, 3000, 100),
    (3000, 5000, 200),
    (5000, 10000, 500),
    (10000, 100000, 1000),
)


def _build_ladder() -> tuple[int, ...]:
    ticks: list[int] = []
    for start, stop, step in _LADDER_BANDS:
        ticks.extend(range(start, stop, step))
    ticks.append(_LADDER_BANDS[-1][1])
    return tuple(ticks)


LADDER: tuple[int, ...] = _build_ladder()
_LADDER_INDEX: dict[int, int] = {tick: index for index, tick in enumerate(LADDER)}
ODDS_MIN_HUNDREDTHS = LADDER[0]
ODDS_MAX_HUNDREDTHS = LADDER[-1]


@total_ordering
@dataclass(frozen=True, slots=True)
class Odds:
    """Decimal odds on the ladder; `hundredths` is the price times 100."""

    hundredths: int

    def __post_init__(self) -> None:
        if type(self.hundredths) is not int or self.hundredths not in _LADDER_INDEX:
            raise InvalidValue(f"odds {self.hundredths!r} hundredths are not on the price ladder")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Odds):
            return NotImplemented
        return self.hundredths < other.hundredths

    def __str__(self) -> str:
        whole, cents = divmod(self.hundredths, ODDS_SCALE)
        return f"{whole}.{cents:02d}"

    @property
    def tick(self) -> int:
        """Position on the ladder: ticks between two prices are a difference of these."""
        return _LADDER_INDEX[self.hundredths]

    @classmethod
    def parse(cls, text: str) -> Odds:
        """Parse "2.5" or "2.50" exactly; floats are refused by type, not rounded.

        Only ASCII digits count ("²" or "①" are not digits here), and the text is short: a
        whole part of at most `ODDS_WHOLE_DIGITS_MAX` digits and at most two decimal places,
        so no conversion ever sees a long string.
        """
        if not isinstance(text, str):
            raise InvalidValue(f"odds must be a decimal string, got {type(text).__name__}")
        whole, point, fraction = text.partition(".")
        if (
            len(text) > ODDS_TEXT_MAX
            or not is_ascii_digits(whole, ODDS_WHOLE_DIGITS_MAX)
            or (point and not is_ascii_digits(fraction, 2))
        ):
            raise InvalidValue(
                f"odds {text[:ODDS_TEXT_MAX]!r} are not a decimal with at most two places"
            )
        return cls(int(whole) * ODDS_SCALE + int(fraction.ljust(2, "0") or "0"))


def odds_floor(numerator: int, denominator: int) -> Odds:
    """The longest ladder price not above numerator/denominator, clamped to the ladder.

    Rounding down shortens the price: the house's favour.
    """
    hundredths = numerator * ODDS_SCALE // denominator
    index = bisect.bisect_right(LADDER, hundredths) - 1
    return Odds(LADDER[max(index, 0)])


def ticks_between(lower: Odds, upper: Odds) -> int:
    return upper.tick - lower.tick


def payout_minor(stake_minor: int, odds: Odds) -> int:
    """What a winning bet returns, stake included; fractions of a minor unit go to the house."""
    return stake_minor * odds.hundredths // ODDS_SCALE


def format_minor(amount_minor: int, scale: int = 100) -> str:
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), scale)
    return f"{sign}{whole}.{part:0{len(str(scale)) - 1}d}"
