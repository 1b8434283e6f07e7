"""Cash-out: what an open back bet is worth at the book's current prices, offered less a
margin, and whether an offer the bettor accepts still stands.

A back bet of stake S at odds O returns S x O if its runner wins. At the current prices the
runner's chance is its implied chance with the overround taken out,
p = (1 / C) / sum over the priced runners of (1 / C_i), so the bet is worth S x O x p now.
The offer is that value less `margin_bp` basis points, rounded down to a minor unit (the
house's favour, as every price here is rounded), and never more than the bet's return.
Exact rational arithmetic: no floats.

An offer stands for one version of the race's odds. Accepting it after the prices moved is
CASHOUT_CHANGED (the page shows the new offer), while the race is suspended RACE_SUSPENDED,
and once the race is no longer open (closed, resulted, settled, void) CASHOUT_CLOSED.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from betting.domain.errors import InvalidValue
from betting.domain.model import OddsSnapshot, Outcome, RaceState
from betting.domain.money import ODDS_SCALE, Odds, payout_minor

BASIS_POINTS = 10_000
MARGIN_BP_MAX = 5_000  # an offer of half the value is as low as any operator would go


class CashOutRefusal(enum.StrEnum):
    CASHOUT_CHANGED = "CASHOUT_CHANGED"
    RACE_SUSPENDED = "RACE_SUSPENDED"
    CASHOUT_CLOSED = "CASHOUT_CLOSED"  # the race is past betting, or the runner withdrew


@dataclass(frozen=True, slots=True)
class CashOutOffer:
    race_id: str
    user_id: str
    bet_id: str
    amount_minor: int
    odds_version: int  # the offer stands for this version of the race's odds only


def fair_value(stake_minor: int, odds: Odds, current: Odds, field: list[Odds]) -> Fraction:
    """The bet's worth at the current prices, in minor units, before any margin."""
    if current not in field:
        raise InvalidValue("the runner's current price must be one of the field's")
    implied = Fraction(ODDS_SCALE, current.hundredths)
    book = sum((Fraction(ODDS_SCALE, price.hundredths) for price in field), Fraction(0))
    return Fraction(stake_minor * odds.hundredths, ODDS_SCALE) * implied / book


def offer_for(
    bet: Outcome, snapshot: OddsSnapshot, margin_bp: int
) -> CashOutOffer | CashOutRefusal:
    """The offer for an accepted bet at `snapshot`, or why there is none."""
    if not bet.accepted or bet.odds is None or bet.race_id != snapshot.race_id:
        raise InvalidValue("a cash-out is offered on an accepted bet, at its own race's prices")
    if not 0 <= margin_bp <= MARGIN_BP_MAX:
        raise InvalidValue(f"cash-out margin {margin_bp} bp is outside 0..{MARGIN_BP_MAX}")
    refusal = _closed(snapshot)
    if refusal is not None:
        return refusal
    field = [price.odds for price in snapshot.prices if price.odds is not None]
    current = next((p.odds for p in snapshot.prices if p.runner_id == bet.runner_id), None)
    if current is None:
        return CashOutRefusal.CASHOUT_CLOSED  # withdrawn: its stake is refunded instead
    value = fair_value(bet.stake_minor, bet.odds, current, field)
    offered = value * (BASIS_POINTS - margin_bp) // BASIS_POINTS
    amount = min(int(offered), payout_minor(bet.stake_minor, bet.odds))
    return CashOutOffer(bet.race_id, bet.user_id, bet.bet_id, amount, snapshot.version)


def check_acceptance(offer: CashOutOffer, snapshot: OddsSnapshot) -> CashOutRefusal | None:
    """None when the offer still stands at `snapshot` (the race's newest odds)."""
    refusal = _closed(snapshot)
    if refusal is not None:
        return refusal
    if offer.odds_version != snapshot.version:
        return CashOutRefusal.CASHOUT_CHANGED
    return None


def _closed(snapshot: OddsSnapshot) -> CashOutRefusal | None:
    if snapshot.state is RaceState.SUSPENDED:
        return CashOutRefusal.RACE_SUSPENDED
    if snapshot.state is not RaceState.OPEN:
        return CashOutRefusal.CASHOUT_CLOSED
    return None
