"""In-play pricing a trader would sign off: overround, bounded moves, suspension on a jump,
determinism; and the in-play findings (prices that jumped, a stake taken at 1000.00)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from betting.domain import in_play, race_model
from betting.domain.book import Book
from betting.domain.errors import InvalidValue
from betting.domain.events import StartRace, UpdateStrengths, WithdrawRunner
from betting.domain.model import Bet, OddsSnapshot, RaceState, RejectReason
from betting.domain.money import LADDER, Odds
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams
from tests.unit.races import RACE_ID, open_book

TICK_MS = 250
START_MS = 10_000
NO_DELAY = RiskParams(in_play_bet_delay_ms=0, stake_min_minor=1, stake_max_minor=10**10)
PARAMS = PricingParams()
STEP, JUMP_BP = PARAMS.in_play_step_ticks, PARAMS.in_play_jump_bp

ratings = st.lists(st.integers(60, 140), min_size=2, max_size=8)
seeds = st.integers(0, 2**63 - 1)  # what a book header holds
bets = st.lists(st.tuples(st.integers(0, 7), st.integers(1, 10**9)), max_size=4)


def in_play_book(rating_list: list[int], seed: int = 1, risk: RiskParams = NO_DELAY) -> Book:
    book = open_book(ratings=list(rating_list), risk=risk)
    book.apply(StartRace(RACE_ID, seed=seed, at_ms=START_MS))
    return book


def model_of(book: Book) -> race_model.InPlayState:
    runners = [(r.runner_id, r.rating) for r in book.race.runners]
    return race_model.start_race(runners, book.seed, book.length_mm)


def tick(book: Book, state: race_model.InPlayState, number: int) -> race_model.InPlayState:
    """What the engine does on a race tick: advance the model, hand the book its strengths."""
    state = race_model.advance(state, TICK_MS)
    running = tuple(
        (r, s) for r, s in race_model.strengths(state) if book.active[book.runner_index[r]]
    )
    book.apply(UpdateStrengths(RACE_ID, running, START_MS + number * TICK_MS))
    return state


def back(book: Book, bet_id: str, runner: int, stake: int, odds: Odds | None = None) -> Bet:
    index = runner % len(book.race.runners)
    seen = odds or book.price_of(index) if book.active[index] else Odds(101)
    return Bet(bet_id, "u", RACE_ID, f"car-{index}", stake, seen, book.version, START_MS)


def ticks(snapshot: OddsSnapshot) -> list[int | None]:
    return [None if p.odds is None else p.odds.tick for p in snapshot.prices]


def assert_no_sure_profit(book: Book, snapshot: OddsSnapshot) -> None:
    """Overround at least one, or the book takes no bet at all (a race of one runner)."""
    if in_play.overround_at_least_one([p.odds for p in snapshot.prices]):
        return
    assert sum(book.active) == 1
    outcome = book.place(back(book, f"probe-{snapshot.version}", book.active.index(True), 100))
    assert outcome.reason is RejectReason.RACE_NOT_OPEN


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    rating_list=ratings,
    seed=seeds,
    withdrawn=st.lists(st.integers(0, 7), max_size=7),
    pre_off_bets=bets,
    tick_bets=st.lists(bets, min_size=1, max_size=40),
)
def test_every_published_version_has_an_overround_of_at_least_one(
    rating_list: list[int],
    seed: int,
    withdrawn: list[int],
    pre_off_bets: list[tuple[int, int]],
    tick_bets: list[list[tuple[int, int]]],
) -> None:
    book = open_book(ratings=list(rating_list), risk=NO_DELAY)
    for runner in withdrawn:
        index = runner % len(rating_list)
        if book.active[index] and sum(book.active) > 1:
            book.apply(WithdrawRunner(RACE_ID, f"car-{index}", 1_500))
    for n, (runner, stake) in enumerate(pre_off_bets):
        book.place(back(book, f"pre-{n}", runner, stake))
    assert_no_sure_profit(book, book.odds_snapshot(2_000))
    book.apply(StartRace(RACE_ID, seed=seed, at_ms=START_MS))
    state = model_of(book)
    for number, tick_bet_list in enumerate(tick_bets, start=1):
        state = tick(book, state, number)
        for n, (runner, stake) in enumerate(tick_bet_list):
            book.place(back(book, f"t{number}-{n}", runner, stake))
        snapshot = book.publish_odds(START_MS + number * TICK_MS)
        if snapshot is not None:
            assert_no_sure_profit(book, snapshot)
        if race_model.finished(state) is not None:
            break


@settings(max_examples=20)
@given(rating_list=ratings, seed=seeds, count=st.integers(1, 200))
def test_prices_move_at_most_a_few_ticks_per_model_tick_unless_something_happens(
    rating_list: list[int], seed: int, count: int
) -> None:
    book = in_play_book(rating_list, seed)
    state = model_of(book)
    for number in range(1, count + 1):
        before, before_strengths = ticks(book.odds_snapshot(0)), list(book.strengths)
        was_suspended = book.suspended_until_ms is not None
        state = tick(book, state, number)
        after = ticks(book.odds_snapshot(0))
        happened = in_play.something_happened(before_strengths, book.strengths, book.active)
        # A favourite held up at 1.01 has the book shorten its longest prices (overround).
        at_floor = min(t for t in after if t is not None) == 0
        if not (happened or at_floor or was_suspended or book.suspended_until_ms is not None):
            weights, total = book.weights()
            for index, (a, b) in enumerate(zip(after, before, strict=True)):
                if a is None or b is None or abs(a - b) <= STEP:
                    continue
                # Coming in further: only as far as the book's own chance demands, no edge.
                assert a < b and a == in_play.no_edge_price(weights[index], total).tick
        if race_model.finished(state) is not None:
            break


@settings(max_examples=40)
@given(
    outsider_ppb=st.integers(1_000_000, 600_000_000),  # the outsider's new strength
    suspend_ms=st.integers(0, 5_000),
    later_ms=st.lists(st.integers(1, 2_000), min_size=1, max_size=6),
)
def test_a_jump_suspends_the_race_until_the_first_update_after_the_pause(
    outsider_ppb: int, suspend_ms: int, later_ms: list[int]
) -> None:
    book = hand_book(PricingParams(in_play_suspend_ms=suspend_ms))
    old = dict(SET_PIECE)
    new = {**old, "car-2": outsider_ppb, "car-0": 10**9 - old["car-1"] - outsider_ppb}
    at_ms = START_MS + TICK_MS
    book.apply(UpdateStrengths(RACE_ID, tuple(new.items()), at_ms))
    # The outsider's chance rose by more than the threshold, exactly (no money on the race).
    old_total, new_total = sum(old.values()), sum(new.values())
    rise = new["car-2"] * old_total - old["car-2"] * new_total
    if rise * 10_000 <= JUMP_BP * old_total * new_total:
        assert book.suspended_until_ms is None
        return
    assert book.shown_state() is RaceState.SUSPENDED
    assert book.publish_odds(at_ms).state is RaceState.SUSPENDED  # type: ignore[union-attr]
    refused = book.place(back(book, "during", 2, 1_000))
    assert refused.reason is RejectReason.RACE_NOT_OPEN and "suspended" in refused.detail
    for gap_ms in later_ms:
        at_ms += gap_ms
        book.apply(UpdateStrengths(RACE_ID, tuple(new.items()), at_ms))
        assert (book.suspended_until_ms is None) == (at_ms >= START_MS + TICK_MS + suspend_ms)
    if book.suspended_until_ms is None:
        assert book.publish_odds(at_ms).state is RaceState.OPEN  # type: ignore[union-attr]
        assert book.place(back(book, "after", 2, 1_000)).accepted


def hand_book(
    pricing: PricingParams,
    risk: RiskParams = NO_DELAY,
    strengths: tuple[tuple[str, int], ...] | None = None,
) -> Book:
    """A three-runner in-play book on strengths set by hand: car-0 the favourite."""
    book = open_book(ratings=[100, 100, 100], pricing=pricing, risk=risk)
    book.apply(UpdateStrengths(RACE_ID, strengths or SET_PIECE, START_MS - 1))  # as given
    book.apply(StartRace(RACE_ID, seed=1, at_ms=START_MS))
    return book


def by_id(book: Book) -> dict[str, int]:
    return {r.runner_id: s for r, s in zip(book.race.runners, book.strengths, strict=True)}


SET_PIECE = (("car-0", 700_000_000), ("car-1", 280_000_000), ("car-2", 20_000_000))


@settings(max_examples=10)
@given(rating_list=ratings, seed=seeds, count=st.integers(1, 120), cut=st.integers(0, 120))
def test_the_same_seed_gives_the_same_prices_and_a_restored_book_prices_on_the_same(
    rating_list: list[int], seed: int, count: int, cut: int
) -> None:
    first, second = in_play_book(rating_list, seed), in_play_book(rating_list, seed)
    state_first, state_second = model_of(first), model_of(second)
    for number in range(1, count + 1):
        state_first = tick(first, state_first, number)
        state_second = tick(second, state_second, number)
        assert first.publish_odds(number) == second.publish_odds(number)
        if number == cut:  # restore one mid-race, bands and suspension included
            second = Book.restore(second.snapshot())
        if race_model.finished(state_first) is not None:
            break
    assert first.snapshot() == second.snapshot()


# -- the in-play findings --------------------------------------------------------------------


def test_a_price_cannot_go_1_01_to_2_76_to_1_03_while_bets_are_open() -> None:
    """The favourite at 1.01; the next tick says 2.76, the one after 1.03. Both are jumps (the
    others' prices come in far, then the favourite's): the race is suspended, shows the new
    prices, and reopens at the first tick after the pause with nothing left to jump."""
    sure = (("car-0", 990_000_000), ("car-1", 5_000_000), ("car-2", 5_000_000))
    book = hand_book(PARAMS, strengths=sure)
    wobble = (("car-0", 345_000_000), ("car-1", 330_000_000), ("car-2", 325_000_000))
    back_in = (("car-0", 920_000_000), ("car-1", 40_000_000), ("car-2", 40_000_000))
    path: list[tuple[str, RaceState]] = []
    for number, strengths in enumerate([sure, wobble, back_in, back_in], start=1):
        book.apply(UpdateStrengths(RACE_ID, strengths, START_MS + number * 1_000))
        snapshot = book.publish_odds(START_MS + number * 1_000)
        assert snapshot is not None
        path.append((str(snapshot.prices[0].odds), snapshot.state))
        if snapshot.state is RaceState.SUSPENDED:
            stale = book.place(back(book, f"stale-{number}", 0, 500, Odds(101)))
            assert stale.reason is RejectReason.RACE_NOT_OPEN
    assert path == [
        ("1.01", RaceState.OPEN),
        ("2.76", RaceState.SUSPENDED),
        ("1.03", RaceState.SUSPENDED),
        ("1.03", RaceState.OPEN),
    ]


def test_a_drift_alone_moves_a_few_ticks_a_tick() -> None:
    """The favourite drifts and the second comes in within the margin: both held to 3 ticks."""
    book = hand_book(PARAMS)
    favourite, second = book.price_of(0), book.price_of(1)
    drift = (("car-0", 680_000_000), ("car-1", 300_000_000), ("car-2", 20_000_000))
    book.apply(UpdateStrengths(RACE_ID, drift, START_MS + 250))
    assert book.suspended_until_ms is None
    assert book.price_of(0).tick - favourite.tick == STEP
    assert second.tick - book.price_of(1).tick == STEP
    book.apply(UpdateStrengths(RACE_ID, drift, START_MS + 500))  # the rest follows later
    assert str(book.price_of(0)) == "1.40"  # 1/(0.68 * 1.05): four ticks in all


def test_a_5_00_stake_at_1000_00_needs_a_price_that_is_never_shown() -> None:
    """42 -> 1000 -> 390: the drift to 1000 is held to three ticks (42 -> 48), so a bet seen at
    1000 meets ODDS_CHANGED; and a price on its way back in is never shown longer than the
    book's own chance makes it (no edge), so a bet seen at the old long price is refused."""
    at_42 = (("car-0", 700_000_000), ("car-1", 277_500_000), ("car-2", 22_500_000))
    book = hand_book(PARAMS, strengths=at_42)
    assert str(book.price_of(2)) == "42.00"
    gone = (("car-0", 710_000_000), ("car-1", 289_000_000), ("car-2", 1_000_000))
    book.apply(UpdateStrengths(RACE_ID, gone, START_MS + 250))
    assert str(book.price_of(2)) == "48.00"  # three ticks out, not 950
    outcome = book.place(back(book, "lottery", 2, 500, Odds(100_000)))
    assert outcome.reason is RejectReason.ODDS_CHANGED and str(outcome.odds) == "48.00"
    # A price the model has sent out to 950 over many ticks comes back in at once.
    for number in range(2, 200):
        book.apply(UpdateStrengths(RACE_ID, gone, START_MS + number * 250))
    assert str(book.price_of(2)) == "950.00"  # 1/(0.001 * 1.05), rounded down
    back_to_390 = (("car-0", 708_000_000), ("car-1", 289_500_000), ("car-2", 2_500_000))
    book.apply(UpdateStrengths(RACE_ID, back_to_390, START_MS + 200 * 250))
    assert book.shown_state() is RaceState.OPEN  # a quarter of a point: no jump
    assert str(book.price_of(2)) == "400.00"  # held only to its margin-free price, 1/0.0025
    refused = book.place(back(book, "lottery-2", 2, 500, Odds(95_000)))
    assert refused.reason is RejectReason.ODDS_CHANGED and str(refused.odds) == "400.00"


def test_a_bet_held_in_the_delay_when_the_race_suspends_is_refused() -> None:
    book = hand_book(PARAMS, RiskParams(in_play_bet_delay_ms=2_000))
    held = Bet("held", "u", RACE_ID, "car-2", 500, book.price_of(2), book.version, START_MS)
    assert book.submit(held) is None
    jump = (("car-0", 500_000_000), ("car-1", 200_000_000), ("car-2", 300_000_000))
    book.apply(UpdateStrengths(RACE_ID, jump, START_MS + 250))
    assert book.shown_state() is RaceState.SUSPENDED
    (outcome,) = book.release_due(START_MS + 300)  # suspended: decided at once
    assert outcome.reason is RejectReason.RACE_NOT_OPEN


def test_the_ratings_prior_is_the_models_chances_at_the_off() -> None:
    book = open_book(ratings=[90, 100, 110])
    runners = [(r.runner_id, r.rating) for r in book.race.runners]
    assert [s for _, s in race_model.prior_strengths(runners)] == book.strengths
    assert book.strengths == sorted(book.strengths)
    off = race_model.strengths(race_model.start_race(runners, seed=12345))
    assert [s for _, s in off] == book.strengths


def test_a_snapshot_with_malformed_bands_or_suspension_is_refused() -> None:
    book = hand_book(PARAMS)
    tick(book, model_of(book), 1)
    good = orjson.loads(book.snapshot())
    assert Book.restore(orjson.dumps(good)).snapshot() == book.snapshot()
    for bad in (
        {"bands": [[0, 1]]},  # one band for three runners
        {"bands": [[5, 4], None, None]},  # low above high
        {"bands": [[0, len(LADDER)], None, None]},  # off the ladder
        {"bands": [["0", 1], None, None]},
        {"suspended_until_ms": -1},
        {"suspended_until_ms": "soon"},
    ):
        with pytest.raises(InvalidValue):
            Book.restore(orjson.dumps({**good, **bad}))
