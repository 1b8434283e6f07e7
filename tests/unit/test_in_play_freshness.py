"""LATE is judged at the moment the edge received a bet, also for an in-play bet that is
decided only after the bet delay, when the prices have moved on many times."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from betting.domain.book import Book
from betting.domain.events import StartRace, UpdateStrengths
from betting.domain.model import RejectReason
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams
from tests.unit.races import RACE_ID, bet_at_current_price, open_book


def start(book: Book, at_ms: int) -> None:
    book.apply(StartRace(RACE_ID, seed=7, at_ms=at_ms))


# These tests are about odds versions: a jump in their made-up strengths must not suspend.
NO_SUSPENSION = PricingParams(in_play_jump_bp=10_000)


def move_prices(book: Book, at_ms: int, step: int) -> None:
    """What a race tick does: new strengths, then (conflated) a new odds version."""
    strengths = tuple((runner.runner_id, 100 + (step * 7 + i) % 50) for i, runner in
                      enumerate(book.race.runners))  # fmt: skip
    book.apply(UpdateStrengths(RACE_ID, strengths, at_ms))
    book.publish_odds(at_ms)


def test_a_bet_at_the_latest_price_is_not_late_when_the_window_is_shorter_than_the_delay() -> None:
    book = open_book(
        pricing=NO_SUSPENSION, risk=RiskParams(late_window_ms=500, in_play_bet_delay_ms=2_000)
    )
    start(book, at_ms=1_500)
    held = bet_at_current_price(book, "held", at_ms=2_000)  # the latest version, at receipt
    assert book.submit(held) is None
    for step, at_ms in enumerate(range(2_050, 4_000, 50)):
        move_prices(book, at_ms, step)  # superseded at 2,050: 1,950 ms before the decision
    (outcome,) = book.release_due(4_000)
    assert outcome.reason is not RejectReason.LATE, outcome.detail


def test_an_in_play_bet_already_stale_at_receipt_is_late() -> None:
    book = open_book(
        pricing=NO_SUSPENSION, risk=RiskParams(late_window_ms=500, in_play_bet_delay_ms=2_000)
    )
    start(book, at_ms=1_500)
    seen = book.version
    move_prices(book, 1_600, 0)  # supersedes the version the bettor saw
    stale = bet_at_current_price(book, "stale", at_ms=2_101)  # 501 ms after it was replaced
    stale = replace(stale, odds_version=seen)
    within = replace(stale, bet_id="within", received_at_ms=2_100)
    assert book.submit(stale) is None and book.submit(within) is None
    for step, at_ms in enumerate(range(2_150, 4_200, 50)):
        move_prices(book, at_ms, step + 1)
    outcomes = {outcome.bet_id: outcome for outcome in book.release_due(4_200)}
    assert outcomes["stale"].reason is RejectReason.LATE
    assert outcomes["within"].reason is not RejectReason.LATE


def test_versions_a_held_bet_may_name_survive_a_snapshot_and_restore() -> None:
    book = open_book(
        pricing=NO_SUSPENSION, risk=RiskParams(late_window_ms=100, in_play_bet_delay_ms=2_000)
    )
    start(book, at_ms=1_500)
    assert book.submit(bet_at_current_price(book, "held", at_ms=2_000)) is None
    for step, at_ms in enumerate(range(2_050, 3_000, 50)):
        move_prices(book, at_ms, step)
    restored = Book.restore(book.snapshot())
    for step, at_ms in enumerate(range(3_000, 4_000, 50)):
        move_prices(restored, at_ms, step)
    (outcome,) = restored.release_due(4_000)
    assert outcome.reason is not RejectReason.LATE, outcome.detail


def test_without_held_bets_old_versions_are_still_forgotten() -> None:
    book = open_book(
        pricing=NO_SUSPENSION, risk=RiskParams(late_window_ms=100, in_play_bet_delay_ms=2_000)
    )
    for step, at_ms in enumerate(range(1_100, 3_000, 50)):
        move_prices(book, at_ms, step)
    assert min(book.superseded_at_ms.values()) >= book.latest_ms - 100


@settings(max_examples=200, deadline=None)
@given(
    late_window_ms=st.integers(0, 3_000),
    delay_ms=st.integers(1, 5_000),
    gaps_ms=st.lists(st.integers(1, 400), min_size=1, max_size=40),
    seen_back=st.integers(0, 5),
    receipt_offset_ms=st.integers(0, 800),
    release_extra_ms=st.integers(0, 3_000),
)
def test_late_depends_only_on_how_stale_the_bet_was_when_the_edge_received_it(
    late_window_ms: int,
    delay_ms: int,
    gaps_ms: list[int],
    seen_back: int,
    receipt_offset_ms: int,
    release_extra_ms: int,
) -> None:
    """Reference: LATE exactly when the version seen had been replaced more than the window
    before receipt, however long the bet then waits and however often the prices move."""
    risk = RiskParams(late_window_ms=late_window_ms, in_play_bet_delay_ms=delay_ms)
    book = open_book(pricing=NO_SUSPENSION, risk=risk)
    start(book, at_ms=1_000)
    replaced_at_ms: dict[int, int] = {}
    now_ms = 1_000
    for step, gap in enumerate(gaps_ms[: len(gaps_ms) // 2 + 1]):  # before the bet
        now_ms += gap
        replaced_at_ms[book.version] = now_ms
        move_prices(book, now_ms, step)
    seen = max(1, book.version - seen_back)
    received_at_ms = now_ms + receipt_offset_ms
    bet = replace(bet_at_current_price(book, "b", at_ms=received_at_ms), odds_version=seen)
    assert book.submit(bet) is None
    for step, gap in enumerate(gaps_ms[len(gaps_ms) // 2 + 1 :]):  # while it waits
        now_ms = max(now_ms, received_at_ms) + gap
        move_prices(book, now_ms, 100 + step)
    (outcome,) = book.release_due(max(now_ms, received_at_ms + delay_ms) + release_extra_ms)
    stale_for_ms = received_at_ms - replaced_at_ms[seen] if seen in replaced_at_ms else None
    expect_late = stale_for_ms is not None and stale_for_ms > late_window_ms
    assert (outcome.reason is RejectReason.LATE) == expect_late, (outcome, stale_for_ms)
