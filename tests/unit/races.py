"""Small builders for domain tests."""

from __future__ import annotations

from betting.domain.book import Book
from betting.domain.events import CreateRace, OpenRace
from betting.domain.model import Bet, Runner
from betting.domain.money import Odds
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams

RACE_ID = "race-1"


def race(
    runners: int = 7,
    ratings: list[int | None] | None = None,
    pricing: PricingParams | None = None,
    risk: RiskParams | None = None,
) -> CreateRace:
    ratings = ratings if ratings is not None else [100 + 10 * i for i in range(runners)]
    return CreateRace(
        race_id=RACE_ID,
        name="Test race",
        runners=tuple(Runner(f"car-{i}", f"Car {i}", rating) for i, rating in enumerate(ratings)),
        scheduled_start_ms=60_000,
        at_ms=0,
        pricing=pricing or PricingParams(),
        risk=risk or RiskParams(),
    )


def open_book(**kwargs: object) -> Book:
    book = Book(race(**kwargs))  # type: ignore[arg-type]
    book.apply(OpenRace(RACE_ID, at_ms=1_000))
    book.publish_odds(at_ms=1_000)
    return book


def bet_at_current_price(
    book: Book,
    bet_id: str,
    runner: int = 0,
    stake_minor: int = 1_000,
    at_ms: int = 2_000,
    user_id: str = "user-1",
    odds: Odds | None = None,
) -> Bet:
    return Bet(
        bet_id=bet_id,
        user_id=user_id,
        race_id=RACE_ID,
        runner_id=f"car-{runner}",
        stake_minor=stake_minor,
        odds_seen=odds or book.price_of(runner),
        odds_version=book.version,
        received_at_ms=at_ms,
    )
