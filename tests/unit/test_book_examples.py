"""One example per rejection reason and per refused transition."""

from __future__ import annotations

from dataclasses import replace

import pytest

from betting.domain.book import Book
from betting.domain.errors import IllegalTransition, InvalidValue
from betting.domain.events import (
    CloseRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import FavourablePolicy, RaceState, RejectReason
from betting.domain.money import LADDER, Odds
from betting.domain.risk import RiskParams
from tests.unit.races import RACE_ID, bet_at_current_price, open_book, race


def test_a_fresh_bet_is_accepted_at_the_current_price() -> None:
    book = open_book()
    price = book.price_of(0)
    outcome = book.place(bet_at_current_price(book, "b1"))
    assert outcome.accepted and outcome.odds == price and outcome.reason is None
    assert book.stakes_minor[0] == 1_000 and book.pool_minor == 1_000


def test_race_not_open() -> None:
    book = Book(race())
    outcome = book.place(bet_at_current_price(book, "b1"))
    assert outcome.reason is RejectReason.RACE_NOT_OPEN


def test_bet_after_close_is_race_not_open() -> None:
    book = open_book()
    bet = bet_at_current_price(book, "b1")
    book.apply(CloseRace(RACE_ID, at_ms=1_500))
    assert book.place(bet).reason is RejectReason.RACE_NOT_OPEN


def test_unknown_and_withdrawn_runner() -> None:
    book = open_book()
    bet = bet_at_current_price(book, "b1")
    unknown = replace(bet, runner_id="car-99")
    assert book.place(unknown).reason is RejectReason.UNKNOWN_RUNNER
    book.apply(WithdrawRunner(RACE_ID, "car-1", at_ms=1_100))
    withdrawn = bet_at_current_price(book, "b2", runner=0)
    withdrawn = replace(withdrawn, runner_id="car-1")
    assert book.place(withdrawn).reason is RejectReason.UNKNOWN_RUNNER


def test_stake_limits() -> None:
    book = open_book(risk=RiskParams(stake_min_minor=100, stake_max_minor=10_000))
    assert book.place(bet_at_current_price(book, "low", stake_minor=99)).reason is (
        RejectReason.STAKE_TOO_LOW
    )
    assert book.place(bet_at_current_price(book, "high", stake_minor=10_001)).reason is (
        RejectReason.STAKE_TOO_HIGH
    )
    assert book.place(bet_at_current_price(book, "ok", stake_minor=10_000)).accepted


MIDFIELD = 3  # the ratings make car-0 a 1000.00 shot: no longer price to move it to


def test_odds_changed_carries_the_current_price() -> None:
    book = open_book()
    seen = book.price_of(MIDFIELD)
    stale = bet_at_current_price(book, "late-comer", runner=MIDFIELD, at_ms=2_100)
    book.place(bet_at_current_price(book, "mover", runner=MIDFIELD, stake_minor=5_000_000))
    assert book.price_of(MIDFIELD) < seen
    outcome = book.place(stale)
    assert outcome.reason is RejectReason.ODDS_CHANGED
    assert outcome.odds == book.price_of(MIDFIELD)


def test_tolerance_grants_the_seen_price_when_close_enough() -> None:
    book = open_book(risk=RiskParams(odds_tolerance_ticks=1))
    current = book.price_of(MIDFIELD)
    one_tick_better = Odds(LADDER[current.tick + 1])
    outcome = book.place(bet_at_current_price(book, "b1", MIDFIELD, odds=one_tick_better))
    assert outcome.accepted and outcome.odds == one_tick_better
    two_ticks = Odds(LADDER[book.price_of(MIDFIELD).tick + 2])
    assert book.place(bet_at_current_price(book, "b2", MIDFIELD, odds=two_ticks)).reason is (
        RejectReason.ODDS_CHANGED
    )


@pytest.mark.parametrize(
    ("policy", "expect_current"),
    [(FavourablePolicy.BEST_PRICE, True), (FavourablePolicy.SEEN_PRICE, False)],
)
def test_favourable_move_follows_policy(policy: FavourablePolicy, expect_current: bool) -> None:
    book = open_book(risk=RiskParams(favourable_policy=policy))
    current = book.price_of(0)
    shorter = Odds(LADDER[current.tick - 3])
    outcome = book.place(bet_at_current_price(book, "b1", odds=shorter))
    assert outcome.accepted
    assert outcome.odds == (current if expect_current else shorter)


def test_late_after_the_window() -> None:
    book = open_book(risk=RiskParams(late_window_ms=1_000))
    stale = bet_at_current_price(book, "stale", runner=3, at_ms=2_000)
    book.place(bet_at_current_price(book, "other", runner=5, at_ms=1_500))
    book.publish_odds(at_ms=1_500)  # supersedes the version `stale` names
    within = replace(stale, bet_id="within", received_at_ms=2_500)
    beyond = replace(stale, bet_id="beyond", received_at_ms=2_501)
    assert book.place(beyond).reason is RejectReason.LATE
    assert book.place(within).reason is not RejectReason.LATE


def test_versions_count_published_snapshots_only_when_something_changed() -> None:
    book = open_book()
    assert book.version == 1 and book.publish_odds(at_ms=1_100) is None
    book.place(bet_at_current_price(book, "b1"))
    snapshot = book.publish_odds(at_ms=1_200)
    assert snapshot is not None and snapshot.version == 2
    assert book.superseded_at_ms[1] == 1_200


def test_version_from_the_future_is_invalid() -> None:
    book = open_book()
    bet = bet_at_current_price(book, "b1")
    future = replace(bet, odds_version=book.version + 1)
    assert book.place(future).reason is RejectReason.INVALID


def test_liability_limit() -> None:
    book = open_book(risk=RiskParams(runner_liability_max_minor=50_000))
    outcome = book.place(bet_at_current_price(book, "big", stake_minor=100_000))
    assert outcome.reason is RejectReason.LIABILITY_LIMIT
    assert book.pool_minor == 0 and not book.dirty


def test_race_liability_limit() -> None:
    book = open_book(risk=RiskParams(race_liability_max_minor=10_000))
    outcome = book.place(bet_at_current_price(book, "big", stake_minor=100_000))
    assert outcome.reason is RejectReason.LIABILITY_LIMIT
    assert "race" in outcome.detail


def test_the_same_bet_again_returns_the_first_outcome_unchanged() -> None:
    book = open_book()
    first = book.place(bet_at_current_price(book, "b1", stake_minor=50))
    assert first.reason is RejectReason.STAKE_TOO_LOW
    again = book.place(bet_at_current_price(book, "b1", stake_minor=50, at_ms=9_000))
    assert again is first and book.pool_minor == 0


def test_another_bet_under_a_decided_bet_id_is_refused_and_the_first_stands() -> None:
    book = open_book()
    first = book.place(bet_at_current_price(book, "b1", stake_minor=1_000))
    assert first.accepted
    for other in (
        bet_at_current_price(book, "b1", stake_minor=2_000),
        bet_at_current_price(book, "b1", runner=1, stake_minor=1_000),
    ):
        refused = book.place(other)
        assert refused.reason is RejectReason.BET_ID_REUSED and not refused.accepted
        assert (refused.runner_id, refused.stake_minor) == (other.runner_id, other.stake_minor)
    assert book.outcomes == {("user-1", "b1"): first}
    assert book.pool_minor == 1_000 and book.place(bet_at_current_price(book, "b1")) is first


def test_another_users_bet_under_the_same_bet_id_is_their_own_bet() -> None:
    book = open_book()
    alice = book.place(bet_at_current_price(book, "b1", user_id="alice", stake_minor=1_000))
    bob = book.place(bet_at_current_price(book, "b1", user_id="bob", runner=1, stake_minor=3_000))
    assert alice.accepted and bob.accepted and (alice.user_id, bob.user_id) == ("alice", "bob")
    assert book.outcomes == {("alice", "b1"): alice, ("bob", "b1"): bob}
    assert book.pool_minor == 4_000
    restored = Book.restore(book.snapshot())
    assert restored.outcomes == book.outcomes and restored.pool_minor == 4_000


REFUSED: list[tuple[RaceState, RaceCommand]] = [
    (RaceState.SCHEDULED, SuspendRace(RACE_ID, 5)),
    (RaceState.SCHEDULED, ResumeRace(RACE_ID, 5)),
    (RaceState.SCHEDULED, CloseRace(RACE_ID, 5)),
    (RaceState.SCHEDULED, ResultRace(RACE_ID, ("car-0",), 5)),
    (RaceState.SCHEDULED, SettleRace(RACE_ID, 5)),
    (RaceState.OPEN, OpenRace(RACE_ID, 5)),
    (RaceState.OPEN, ResumeRace(RACE_ID, 5)),
    (RaceState.OPEN, ResultRace(RACE_ID, ("car-0",), 5)),
    (RaceState.OPEN, SettleRace(RACE_ID, 5)),
    (RaceState.SUSPENDED, SuspendRace(RACE_ID, 5)),
    (RaceState.SUSPENDED, OpenRace(RACE_ID, 5)),
    (RaceState.CLOSED, OpenRace(RACE_ID, 5)),
    (RaceState.CLOSED, SettleRace(RACE_ID, 5)),
    (RaceState.CLOSED, WithdrawRunner(RACE_ID, "car-0", 5)),
    (RaceState.RESULTED, CloseRace(RACE_ID, 5)),
    (RaceState.RESULTED, ResultRace(RACE_ID, ("car-0",), 5)),
    (RaceState.SETTLED, VoidRace(RACE_ID, "too late", 5)),
    (RaceState.SETTLED, OpenRace(RACE_ID, 5)),
    (RaceState.VOID, VoidRace(RACE_ID, "twice", 5)),
    (RaceState.VOID, OpenRace(RACE_ID, 5)),
    (RaceState.VOID, UpdateStrengths(RACE_ID, (("car-0", 5),), 5)),
]
PATH: dict[RaceState, list[RaceCommand]] = {
    RaceState.SCHEDULED: [],
    RaceState.OPEN: [OpenRace(RACE_ID, 1)],
    RaceState.SUSPENDED: [OpenRace(RACE_ID, 1), SuspendRace(RACE_ID, 2)],
    RaceState.CLOSED: [OpenRace(RACE_ID, 1), CloseRace(RACE_ID, 2)],
    RaceState.RESULTED: [
        OpenRace(RACE_ID, 1),
        CloseRace(RACE_ID, 2),
        ResultRace(RACE_ID, ("car-0",), 3),
    ],
    RaceState.SETTLED: [
        OpenRace(RACE_ID, 1),
        CloseRace(RACE_ID, 2),
        ResultRace(RACE_ID, ("car-0",), 3),
        SettleRace(RACE_ID, 4),
    ],
    RaceState.VOID: [VoidRace(RACE_ID, "weather", 1)],
}


@pytest.mark.parametrize(("state", "command"), REFUSED)
def test_refused_transitions_change_nothing(state: RaceState, command: RaceCommand) -> None:
    book = Book(race())
    for step in PATH[state]:
        book.apply(step)
    assert book.state is state
    before = book.snapshot()
    with pytest.raises(IllegalTransition) as refused:
        book.apply(command)
    assert refused.value.state == state
    assert book.snapshot() == before


@pytest.mark.parametrize(
    "command",
    [
        ResultRace(RACE_ID, (), 5),
        ResultRace(RACE_ID, ("car-0", "car-0"), 5),
        ResultRace(RACE_ID, ("car-42",), 5),
    ],
)
def test_bad_results_are_refused(command: ResultRace) -> None:
    book = Book(race())
    for step in PATH[RaceState.CLOSED]:
        book.apply(step)
    with pytest.raises(InvalidValue):
        book.apply(command)
    assert book.state is RaceState.CLOSED


def test_command_for_another_race_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Book(race()).apply(OpenRace("race-2", 1))


def test_last_runner_cannot_be_withdrawn() -> None:
    book = Book(race(runners=2))
    book.apply(WithdrawRunner(RACE_ID, "car-0", 1))
    with pytest.raises(InvalidValue):
        book.apply(WithdrawRunner(RACE_ID, "car-1", 2))


def test_in_play_bets_wait_the_delay_then_meet_the_price_of_that_moment() -> None:
    book = open_book(risk=RiskParams(in_play_bet_delay_ms=2_000))
    book.apply(StartRace(RACE_ID, seed=7, at_ms=1_500))
    assert book.in_play
    held = bet_at_current_price(book, "held", runner=MIDFIELD, at_ms=2_000)
    assert book.submit(held) is None and book.submit(held) is None  # held once
    assert book.release_due(3_999) == []
    book.place(bet_at_current_price(book, "mover", runner=MIDFIELD, stake_minor=5_000_000))
    (outcome,) = book.release_due(4_000)
    assert outcome.bet_id == "held" and outcome.reason is RejectReason.ODDS_CHANGED
    assert book.pending == []


def test_closing_decides_every_held_bet_at_once() -> None:
    book = open_book()
    book.apply(StartRace(RACE_ID, seed=1, at_ms=1_500))
    assert book.submit(bet_at_current_price(book, "held", at_ms=2_000)) is None
    book.apply(CloseRace(RACE_ID, at_ms=2_100))
    (outcome,) = book.release_due(2_100)
    assert outcome.reason is RejectReason.RACE_NOT_OPEN


def test_start_is_refused_unless_open_and_not_yet_started() -> None:
    book = Book(race())
    with pytest.raises(IllegalTransition):
        book.apply(StartRace(RACE_ID, 1, 5))
    book.apply(OpenRace(RACE_ID, 6))
    book.apply(StartRace(RACE_ID, 1, 7))
    with pytest.raises(IllegalTransition):
        book.apply(StartRace(RACE_ID, 1, 8))


def test_a_command_repeated_under_its_request_id_is_applied_once() -> None:
    book = Book(race())
    book.command(OpenRace(RACE_ID, 1), request_id="req-1")
    book.command(OpenRace(RACE_ID, 2), request_id="req-1")  # a retry: no error, no change
    assert book.state is RaceState.OPEN
    with pytest.raises(IllegalTransition):
        book.command(OpenRace(RACE_ID, 3), request_id="req-2")
    restored = Book.restore(book.snapshot())
    restored.command(OpenRace(RACE_ID, 4), request_id="req-1")
    assert restored.snapshot() == book.snapshot()
