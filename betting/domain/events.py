"""What changes a book: race commands and bets, applied in log order.

Each command carries the time it was issued (`at_ms`), so replay needs no clock. `CreateRace`
carries its pricing and risk parameters, so a race replays the same under a changed config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from betting.domain.model import Bet, Runner
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams


@dataclass(frozen=True, slots=True)
class CreateRace:
    race_id: str
    name: str
    runners: tuple[Runner, ...]
    scheduled_start_ms: int
    at_ms: int
    pricing: PricingParams = field(default_factory=PricingParams)
    risk: RiskParams = field(default_factory=RiskParams)


@dataclass(frozen=True, slots=True)
class OpenRace:
    race_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class SuspendRace:
    race_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ResumeRace:
    race_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class CloseRace:
    race_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ResultRace:
    """The result: runner ids in finishing order, winner first. A dead heat is a group of
    runners sharing one place, each group listed in `dead_heats` and next to each other in
    `placings`: ("a", "b", "c") with dead heat ("a", "b") is a and b tied first, c third."""

    race_id: str
    placings: tuple[str, ...]
    at_ms: int
    dead_heats: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class StartRace:
    """The off: the race runs in play. Bets wait the bet delay, then meet the price then."""

    race_id: str
    seed: int  # the in-race model's seed: the same seed replays the same race
    at_ms: int
    length_mm: int = 1_000_000  # the course


@dataclass(frozen=True, slots=True)
class SettleRace:
    race_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class VoidRace:
    race_id: str
    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class WithdrawRunner:
    race_id: str
    runner_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class UpdateStrengths:
    """New prior strengths (from ratings, or the in-race model), one per runner id."""

    race_id: str
    strengths: tuple[tuple[str, int], ...]
    at_ms: int


RaceCommand = (
    OpenRace
    | StartRace
    | SuspendRace
    | ResumeRace
    | CloseRace
    | ResultRace
    | SettleRace
    | VoidRace
    | WithdrawRunner
    | UpdateStrengths
)
BookEvent = RaceCommand | Bet
