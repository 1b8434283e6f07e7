"""Acceptance rules: a bet is accepted at some odds, or rejected with one reason.

Risk sits in front of the book: a rejection changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from betting.domain.errors import InvalidValue
from betting.domain.model import FavourablePolicy, RejectReason
from betting.domain.money import Odds, ticks_between


@dataclass(frozen=True, slots=True)
class RiskParams:
    stake_min_minor: int = 100
    stake_max_minor: int = 10_000_000
    odds_tolerance_ticks: int = 0  # how much better than the current price a seen price may be
    favourable_policy: FavourablePolicy = FavourablePolicy.BEST_PRICE
    late_window_ms: int = 5_000  # a superseded odds version stays bettable this long
    runner_liability_max_minor: int = 500_000_000
    race_liability_max_minor: int = 1_000_000_000
    version_history_max: int = 100_000  # bound on remembered odds versions per race
    in_play_bet_delay_ms: int = 2_000  # an in-play bet waits this long, then meets the price

    def __post_init__(self) -> None:
        if not 1 <= self.stake_min_minor <= self.stake_max_minor:
            raise InvalidValue("stake_min_minor must be at least 1 and at most stake_max_minor")
        if not 0 <= self.odds_tolerance_ticks <= 100:
            raise InvalidValue("odds_tolerance_ticks must be in [0, 100]")
        if self.late_window_ms < 0:
            raise InvalidValue("late_window_ms must not be negative")
        if self.runner_liability_max_minor < 0 or self.race_liability_max_minor < 0:
            raise InvalidValue("liability caps must not be negative")
        if not 0 <= self.in_play_bet_delay_ms <= 60_000:
            raise InvalidValue("in_play_bet_delay_ms must be in [0, 60000]")
        if self.version_history_max < 1:
            raise InvalidValue("version_history_max must be at least 1")


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RejectReason
    detail: str


def check_stake(params: RiskParams, stake_minor: int) -> Refusal | None:
    if stake_minor < params.stake_min_minor:
        return Refusal(RejectReason.STAKE_TOO_LOW, f"minimum stake is {params.stake_min_minor}")
    if stake_minor > params.stake_max_minor:
        return Refusal(RejectReason.STAKE_TOO_HIGH, f"maximum stake is {params.stake_max_minor}")
    return None


def check_freshness(
    params: RiskParams,
    version_seen: int,
    version_now: int,
    superseded_at_ms: int | None,
    received_at_ms: int,
) -> Refusal | None:
    """LATE when the version the bettor saw was replaced more than the window before the edge
    received the bet (`received_at_ms`), however long after that the bet is decided: an
    in-play bet waits out the bet delay, and the prices it meets then are another check.

    `superseded_at_ms` is None when the version is too old to be remembered: that is late too.
    """
    if version_seen > version_now:
        return Refusal(RejectReason.INVALID, f"odds version {version_seen} does not exist yet")
    if version_seen == version_now:
        return None
    if superseded_at_ms is None or received_at_ms - superseded_at_ms > params.late_window_ms:
        return Refusal(RejectReason.LATE, f"odds version {version_seen} is out of date")
    return None


def granted_odds(params: RiskParams, seen: Odds, current: Odds) -> Odds | Refusal:
    """The price a bettor gets, or ODDS_CHANGED when what they saw is too generous now."""
    if seen > current:
        if ticks_between(current, seen) > params.odds_tolerance_ticks:
            return Refusal(RejectReason.ODDS_CHANGED, f"price is now {current}")
        return seen
    if seen < current and params.favourable_policy is FavourablePolicy.BEST_PRICE:
        return current
    return seen


def check_liability(
    params: RiskParams, runner_liability_after_minor: int, race_liability_after_minor: int
) -> Refusal | None:
    if runner_liability_after_minor > params.runner_liability_max_minor:
        return Refusal(RejectReason.LIABILITY_LIMIT, "runner liability limit reached")
    if race_liability_after_minor > params.race_liability_max_minor:
        return Refusal(RejectReason.LIABILITY_LIMIT, "race liability limit reached")
    return None
