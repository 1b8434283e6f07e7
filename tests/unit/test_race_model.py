"""Properties of the simulated in-play race: exact replay from a seed, a sane track, fair odds."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from betting.domain import race_model
from betting.domain.errors import InvalidValue
from betting.domain.events import UpdateStrengths
from betting.domain.race_model import (
    SPEED_MAX_MM_PER_S,
    SPEED_MIN_MM_PER_S,
    STRENGTH_MAX,
    CarState,
    InPlayState,
    advance,
    finished,
    start_race,
    strengths,
)
from tests.unit.races import RACE_ID, open_book

SEEDS = st.integers(0, 2**64 - 1)
RATINGS = st.lists(st.none() | st.integers(1, 10**9), min_size=1, max_size=9)
TICK_MS = st.sampled_from([100, 250, 1_000])
LENGTH_MM = st.integers(1_000, 400_000)


def field(ratings: list[int | None]) -> list[tuple[str, int | None]]:
    return [(f"car-{i}", rating) for i, rating in enumerate(ratings)]


def ticks_max(length_mm: int, tick_ms: int) -> int:
    """The slowest possible car still covers SPEED_MIN_MM_PER_S * tick_ms / 1000 each tick."""
    step_mm_min = SPEED_MIN_MM_PER_S * tick_ms // 1000
    return -(-length_mm // step_mm_min)


def run(state: InPlayState, tick_ms: int) -> list[InPlayState]:
    """Every state from the start to the last car over the line; fails if that takes too long."""
    trace = [state]
    bound = ticks_max(state.length_mm, tick_ms)
    while finished(trace[-1]) is None:
        assert len(trace) <= bound, f"race not finished after {bound} ticks of {tick_ms} ms"
        trace.append(advance(trace[-1], tick_ms))
    return trace


def positions(trace: list[InPlayState]) -> list[tuple[int, ...]]:
    return [tuple(car.position_mm for car in state.cars) for state in trace]


@settings(max_examples=50, deadline=None)
@given(ratings=RATINGS, seed=SEEDS, tick_ms=TICK_MS, length_mm=LENGTH_MM)
def test_the_same_seed_replays_the_same_race(
    ratings: list[int | None], seed: int, tick_ms: int, length_mm: int
) -> None:
    first = run(start_race(field(ratings), seed, length_mm), tick_ms)
    second = run(start_race(field(ratings), seed, length_mm), tick_ms)
    assert first == second


@settings(max_examples=50, deadline=None)
@given(seeds=st.lists(SEEDS, min_size=2, max_size=2, unique=True), tick_ms=TICK_MS)
def test_different_seeds_give_different_races(seeds: list[int], tick_ms: int) -> None:
    ratings: list[int | None] = [100, 110, 120, 130, 140, 150, 160]
    one, other = (run(start_race(field(ratings), seed, 200_000), tick_ms) for seed in seeds)
    assert positions(one) != positions(other)


@settings(max_examples=50, deadline=None)
@given(ratings=RATINGS, seed=SEEDS, tick_ms=TICK_MS, length_mm=LENGTH_MM)
def test_cars_only_move_forward_stay_on_the_track_and_all_finish(
    ratings: list[int | None], seed: int, tick_ms: int, length_mm: int
) -> None:
    trace = run(start_race(field(ratings), seed, length_mm), tick_ms)
    for before, after in itertools.pairwise(trace):
        assert after.elapsed_ms == before.elapsed_ms + tick_ms
        for car_before, car_after in zip(before.cars, after.cars, strict=True):
            assert car_before.position_mm <= car_after.position_mm <= length_mm
            assert SPEED_MIN_MM_PER_S <= car_after.speed_mm_per_s <= SPEED_MAX_MM_PER_S
            step_mm = car_after.speed_mm_per_s * tick_ms // 1000
            if car_before.finished_at_us is None:  # a car covers what its speed says
                assert car_after.position_mm == min(length_mm, car_before.position_mm + step_mm)
            if car_before.finished_at_us is not None:
                assert car_after == car_before
    assert len(trace) - 1 <= ticks_max(length_mm, tick_ms)
    for car in trace[-1].cars:
        assert car.position_mm == length_mm and car.finished_at_us is not None
        assert 0 < car.finished_at_us <= trace[-1].elapsed_ms * 1000


@settings(max_examples=50, deadline=None)
@given(ratings=RATINGS, seed=SEEDS, tick_ms=TICK_MS, length_mm=LENGTH_MM)
def test_placings_are_the_runners_in_order_of_crossing_the_line(
    ratings: list[int | None], seed: int, tick_ms: int, length_mm: int
) -> None:
    trace = run(start_race(field(ratings), seed, length_mm), tick_ms)
    assert all(finished(state) is None for state in trace[:-1])
    placings = finished(trace[-1])
    assert placings is not None
    assert sorted(placings) == sorted(runner_id for runner_id, _ in field(ratings))
    crossed = {car.runner_id: car.finished_at_us or 0 for car in trace[-1].cars}
    times = [crossed[runner_id] for runner_id in placings]
    assert times == sorted(times)


@settings(max_examples=50, deadline=None)
@given(ratings=RATINGS, seed=SEEDS, tick_ms=TICK_MS, length_mm=LENGTH_MM)
def test_strengths_are_in_range_for_every_runner_and_the_winner_takes_all_at_the_line(
    ratings: list[int | None], seed: int, tick_ms: int, length_mm: int
) -> None:
    trace = run(start_race(field(ratings), seed, length_mm), tick_ms)
    for state in trace:
        given_strengths = strengths(state)
        assert [runner_id for runner_id, _ in given_strengths] == [
            car.runner_id for car in state.cars
        ]
        for _, strength in given_strengths:
            assert type(strength) is int and 1 <= strength <= STRENGTH_MAX
    first_over = next(s for s in trace if any(c.finished_at_us is not None for c in s.cars))
    winner = (finished(trace[-1]) or ("",))[0]
    assert dict(strengths(first_over))[winner] == STRENGTH_MAX
    assert all(s == 1 for runner_id, s in strengths(first_over) if runner_id != winner)


def lined_up(
    leader_position_mm: int, gaps_mm: list[int], speed_mm_per_s: int, length_mm: int
) -> InPlayState:
    """The leader at a position, the others the given gaps behind, all at one steady speed."""
    cars = [CarState("leader", 100, speed_mm_per_s, speed_mm_per_s, leader_position_mm)]
    cars += [
        CarState(f"chaser-{i}", 100, speed_mm_per_s, speed_mm_per_s, leader_position_mm - gap)
        for i, gap in enumerate(gaps_mm)
    ]
    return InPlayState(length_mm, 0, 0, tuple(cars))


QUADRATURE_TOLERANCE = 2_000_000  # 0.2 points: the integration grid's error is well below


@settings(deadline=None)
@given(
    gaps_mm=st.lists(st.integers(0, 50_000), min_size=1, max_size=8),
    speed_mm_per_s=st.integers(SPEED_MIN_MM_PER_S, SPEED_MAX_MM_PER_S),
    remaining_mm=st.lists(st.integers(1, 900_000), min_size=2, max_size=10, unique=True),
)
def test_the_same_lead_is_worth_more_nearer_the_finish(
    gaps_mm: list[int], speed_mm_per_s: int, remaining_mm: list[int]
) -> None:
    length_mm = 1_000_000
    # Within the last tick a chaser's longer way home gives it more spread: no order there.
    last_tick_mm = speed_mm_per_s * race_model.MODEL_TICK_MS // 1000
    leader_strengths = [
        dict(strengths(lined_up(length_mm - r, gaps_mm, speed_mm_per_s, length_mm)))["leader"]
        for r in sorted(remaining_mm, reverse=True)
        if r >= last_tick_mm
    ]
    for earlier, later in itertools.pairwise(leader_strengths):
        assert later >= earlier - QUADRATURE_TOLERANCE


@given(
    gaps_mm=st.lists(st.integers(5_000, 10_000), min_size=3, max_size=6),
    remaining_mm=st.integers(1, 10_000),
)
def test_a_clear_leader_near_the_finish_is_dominant(gaps_mm: list[int], remaining_mm: int) -> None:
    """Five to ten metres clear with ten to go: dominant; the same gaps at the start are not."""
    state = lined_up(1_000_000 - remaining_mm, gaps_mm, 25_000, 1_000_000)
    assert dict(strengths(state))["leader"] > STRENGTH_MAX // 2
    start = lined_up(max(gaps_mm), gaps_mm, 25_000, 1_000_000)
    assert dict(strengths(start))["leader"] < STRENGTH_MAX // 2


def plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(plain(item) for item in value)
    return type(value) in (int, str)


@settings(max_examples=30, deadline=None)
@given(ratings=RATINGS, seed=SEEDS, tick_ms=TICK_MS, length_mm=LENGTH_MM)
def test_plain_data_round_trips_and_a_restored_race_runs_on_the_same(
    ratings: list[int | None], seed: int, tick_ms: int, length_mm: int
) -> None:
    trace = run(start_race(field(ratings), seed, length_mm), tick_ms)
    for state in trace:
        data = state.to_dict()
        assert plain(data)
        assert InPlayState.from_dict(data) == state
    middle = len(trace) // 2
    assert run(InPlayState.from_dict(trace[middle].to_dict()), tick_ms) == trace[middle:]


@pytest.mark.parametrize(
    "change",
    [
        {"length_mm": 1.5},
        {"rng_state": -1},
        {"cars": []},
        {"cars": [{"runner_id": "car-0"}]},
        {"elapsed_ms": None},
    ],
)
def test_malformed_plain_data_is_refused(change: dict[str, Any]) -> None:
    data = {**start_race(field([100, 120]), 7).to_dict(), **change}
    with pytest.raises(InvalidValue):
        InPlayState.from_dict(data)


def test_a_car_off_the_line_cannot_claim_a_finish() -> None:
    data = start_race(field([100, 120]), 7).to_dict()
    data["cars"][0]["finished_at_us"] = 1_000
    with pytest.raises(InvalidValue):
        InPlayState.from_dict(data)


@pytest.mark.parametrize(
    ("runners", "seed", "length_mm"),
    [
        ([], 1, 1_000_000),
        ([("a", 100), ("a", 120)], 1, 1_000_000),
        ([("a", 0)], 1, 1_000_000),
        ([("a", 100)], -1, 1_000_000),
        ([("a", 100)], 2**64, 1_000_000),
        ([("a", 100)], 1, 999),
    ],
)
def test_a_malformed_start_is_refused(
    runners: list[tuple[str, int | None]], seed: int, length_mm: int
) -> None:
    with pytest.raises(InvalidValue):
        start_race(runners, seed, length_mm)


@pytest.mark.parametrize("elapsed_ms", [0, -250, race_model.ELAPSED_MS_MAX + 1])
def test_time_must_move_forward_in_bounded_steps(elapsed_ms: int) -> None:
    with pytest.raises(InvalidValue):
        advance(start_race(field([100]), 1), elapsed_ms)


def test_over_many_seeds_the_favourite_usually_but_not_always_wins() -> None:
    ratings: list[int | None] = [100, 110, 120, 130, 140, 150, 160]
    winners: list[str] = []
    comebacks = 0  # races the leader at half distance did not win: the noise changes leads
    for seed in range(300):
        trace = run(start_race(field(ratings), seed), 250)
        halfway = next(s for s in trace if max(c.position_mm for c in s.cars) >= 500_000)
        leader_at_halfway = max(halfway.cars, key=lambda car: car.position_mm).runner_id
        winners.append((finished(trace[-1]) or ("",))[0])
        comebacks += leader_at_halfway != winners[-1]
    favourite, outsider = winners.count("car-6"), winners.count("car-0")
    assert favourite > 2 * max(outsider, winners.count("car-3"))
    assert favourite < len(winners) * 3 // 4  # upsets happen
    assert comebacks >= len(winners) // 20


def test_pre_race_strengths_follow_the_ratings_on_average() -> None:
    ratings: list[int | None] = [100, 110, 120, 130, 140, 150, 160]
    totals = [0] * len(ratings)
    for seed in range(300):
        for index, (_, strength) in enumerate(strengths(start_race(field(ratings), seed))):
            totals[index] += strength
    assert totals == sorted(totals)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, ticks=st.integers(1, 150))
def test_the_book_takes_the_model_strengths_and_shortens_the_leader(seed: int, ticks: int) -> None:
    book = open_book()
    ratings = [runner.rating for runner in book.race.runners]
    state = start_race(field(ratings), seed)
    for _ in range(ticks):
        state = advance(state, 250)
    given_strengths = strengths(state)
    book.apply(UpdateStrengths(RACE_ID, given_strengths, at_ms=2_000))
    strongest = max(range(len(given_strengths)), key=lambda i: given_strengths[i][1])
    shortest = min(range(len(book.race.runners)), key=book.price_of)
    assert book.price_of(strongest) == book.price_of(shortest)


def test_finished_cars_are_frozen_in_place() -> None:
    state = start_race(field([100, 120]), 3, length_mm=1_000)
    done = advance(state, 1_000)
    assert finished(done) is not None
    assert advance(done, 250).cars == done.cars
    assert dataclasses.replace(done, elapsed_ms=done.elapsed_ms + 250) == advance(done, 250)
