"""Immutable values of the betting domain: races, runners, bets, outcomes, odds snapshots.

Times are milliseconds since the epoch, always passed in; the core never reads a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from betting.domain.money import Odds

DEFAULT_STRENGTH = 100  # the rating of a runner that has none


class RaceState(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    RESULTED = "resulted"
    SETTLED = "settled"
    VOID = "void"


class RejectReason(enum.StrEnum):
    RACE_NOT_OPEN = "RACE_NOT_OPEN"
    UNKNOWN_RUNNER = "UNKNOWN_RUNNER"
    STAKE_TOO_LOW = "STAKE_TOO_LOW"
    STAKE_TOO_HIGH = "STAKE_TOO_HIGH"
    ODDS_CHANGED = "ODDS_CHANGED"
    LATE = "LATE"
    LIABILITY_LIMIT = "LIABILITY_LIMIT"
    INVALID = "INVALID"
    # The bettor's bet id is already a bet of theirs with other content (runner or stake):
    # the first bet stands, untouched; a retry must resend it unchanged.
    BET_ID_REUSED = "BET_ID_REUSED"


class FavourablePolicy(enum.StrEnum):
    """What a bettor gets when the price moved in their favour since they saw it."""

    BEST_PRICE = "best_price"  # the current, longer price
    SEEN_PRICE = "seen_price"  # the price they asked for


@dataclass(frozen=True, slots=True)
class Runner:
    runner_id: str
    name: str
    rating: int | None = None  # relative strength; a higher rating is a likelier winner


@dataclass(frozen=True, slots=True)
class Bet:
    bet_id: str  # chosen by the client: the idempotency key, reused on every retry
    user_id: str
    race_id: str
    runner_id: str
    stake_minor: int
    odds_seen: Odds
    odds_version: int
    received_at_ms: int  # stamped by the edge: authoritative
    client_sent_at_ms: int | None = None  # kept for audit only


class Outcome(NamedTuple):
    """The one answer a bet ever gets: accepted at `odds`, or rejected with a reason.

    A named tuple rather than a frozen dataclass: one is built per bet on the hot path, and a
    tuple is several times cheaper to build.
    """

    bet_id: str
    user_id: str
    race_id: str
    runner_id: str
    stake_minor: int
    accepted: bool
    odds: Odds | None  # granted odds when accepted; the current price on ODDS_CHANGED
    reason: RejectReason | None
    detail: str
    odds_version: int  # the book's version when the bet was decided
    decided_at_ms: int


@dataclass(frozen=True, slots=True)
class RunnerPrice:
    runner_id: str
    odds: Odds | None  # None when the runner is withdrawn


@dataclass(frozen=True, slots=True)
class OddsSnapshot:
    race_id: str
    version: int
    state: RaceState
    prices: tuple[RunnerPrice, ...]
    at_ms: int
