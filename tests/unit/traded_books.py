"""Hypothesis strategies for books that have traded: bets, withdrawals, a result."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from betting.domain.book import Book
from betting.domain.events import CloseRace, ResultRace, WithdrawRunner
from betting.domain.money import Odds
from tests.unit.races import RACE_ID, bet_at_current_price, open_book

RUNNERS = 7


@dataclass(frozen=True)
class PlannedBet:
    runner: int
    stake_minor: int  # below the minimum of 100 some are rejected: those must not settle
    user: int


PLANNED_BETS = st.lists(
    st.builds(
        PlannedBet,
        runner=st.integers(0, RUNNERS - 1),
        stake_minor=st.integers(50, 200_000),
        user=st.integers(0, 3),
    ),
    max_size=30,
)


def place_all(book: Book, planned: list[PlannedBet], first_at_ms: int) -> None:
    for offset, planned_bet in enumerate(planned):
        at_ms = first_at_ms + offset
        runner = planned_bet.runner
        # A withdrawn runner has no price: its bet names any odds and is refused.
        odds = None if book.active[runner] else Odds(200)
        user_id = f"user-{planned_bet.user}"
        book.place(
            bet_at_current_price(
                book, f"b{at_ms}", runner, planned_bet.stake_minor, at_ms, user_id, odds
            )
        )
        if offset % 3 == 0:  # a new odds version now and then, as the engine publishes
            book.publish_odds(at_ms)


@st.composite
def traded_books(draw: st.DrawFn) -> Book:
    """An open book with bets, maybe some withdrawals between them, then more bets."""
    book = open_book()
    place_all(book, draw(PLANNED_BETS), first_at_ms=2_000)
    withdrawn = draw(st.sets(st.integers(0, RUNNERS - 1), max_size=RUNNERS - 1))
    for runner in sorted(withdrawn):
        book.apply(WithdrawRunner(RACE_ID, f"car-{runner}", at_ms=3_000))
    place_all(book, draw(PLANNED_BETS), first_at_ms=4_000)
    return book


@st.composite
def resulted_books(draw: st.DrawFn) -> Book:
    book = draw(traded_books())
    book.apply(CloseRace(RACE_ID, at_ms=5_000))
    running = [runner.runner_id for i, runner in enumerate(book.race.runners) if book.active[i]]
    placings = draw(st.permutations(running))
    book.apply(ResultRace(RACE_ID, tuple(placings), at_ms=6_000))
    return book
