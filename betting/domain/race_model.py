"""A simulated in-play race: cars whose positions advance each tick, replayable from a seed.

Everything is integer: positions in millimetres, speeds in millimetres per second, time in
milliseconds (finish times in microseconds, so close finishes still order). Randomness comes
from splitmix64 on Python ints; its state lives in `InPlayState`, so a logged state plus the
same ticks replays the race exactly.

Each car cruises at a speed set by its rating relative to the field and by a seeded "form" for
the day; every tick its speed reverts toward that cruise speed plus seeded noise. Form makes
upsets possible, noise makes the lead change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from betting.domain.book import DEFAULT_STRENGTH
from betting.domain.errors import InvalidValue

BASIS_POINTS = 10_000
UINT64_MASK = (1 << 64) - 1
RACE_LENGTH_MM_DEFAULT = 1_000_000
RACE_LENGTH_MM_MAX = 10**9
ELAPSED_MS_MAX = 10_000  # one advance at most; longer steps would skip the racing
RATING_MAX = 10**9

SPEED_BASE_MM_PER_S = 25_000  # 1 km in 40 s for an average car
SPEED_MIN_MM_PER_S = 5_000  # bounds the race: every car finishes in length / this
SPEED_MAX_MM_PER_S = 60_000
RATING_DEVIATION_MAX_BP = 5_000  # a rating counts at most 50% above or below the field's mean
RATING_SPREAD_BP = 1_000  # speed gained per unit of relative rating
FORM_BP = 400  # the day's form: cruise speed within +-4%, so upsets happen
REVERSION_PER_S_BP = 8_000  # how fast speed returns to cruise
NOISE_MM_PER_S = 1_500  # speed noise per reference tick; scales with the square root of time
NOISE_REFERENCE_TICK_MS = 250

STRENGTH_MAX = 10**9  # strengths are win chances in parts per billion, at least 1
STRENGTH_RAW = 1 << 40  # the leader's unnormalised weight; halvings run out after 40
HALVING_MIN_MS = 50  # a gap this long at the line halves a car's chance
HALVING_SHARE_BP = 150  # plus this share of the leader's time to go: early gaps matter less


@dataclass(frozen=True, slots=True)
class CarState:
    runner_id: str
    rating: int
    cruise_mm_per_s: int
    speed_mm_per_s: int
    position_mm: int
    finished_at_us: int | None = None  # race time at which the car crossed the line


@dataclass(frozen=True, slots=True)
class InPlayState:
    length_mm: int
    elapsed_ms: int
    rng_state: int
    cars: tuple[CarState, ...]  # in gate order, which also breaks dead heats

    def to_dict(self) -> dict[str, Any]:
        return {
            "length_mm": self.length_mm,
            "elapsed_ms": self.elapsed_ms,
            "rng_state": self.rng_state,
            "cars": [_car_to_dict(car) for car in self.cars],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InPlayState:
        try:
            cars = tuple(_car_from_dict(car) for car in data["cars"])
            state = cls(
                length_mm=_integer(data, "length_mm"),
                elapsed_ms=_integer(data, "elapsed_ms"),
                rng_state=_integer(data, "rng_state"),
                cars=cars,
            )
        except (KeyError, TypeError) as error:
            raise InvalidValue(f"in-play state does not decode: {error!r}") from error
        _check_state(state)
        return state


# -- the race ---------------------------------------------------------------------------------


def start_race(
    runner_ids_and_ratings: Sequence[tuple[str, int | None]],
    seed: int,
    length_mm: int = RACE_LENGTH_MM_DEFAULT,
) -> InPlayState:
    """Cars on the line at position 0, each already at its cruise speed: a rolling start."""
    _check_start(runner_ids_and_ratings, seed, length_mm)
    ratings = [
        DEFAULT_STRENGTH if rating is None else rating for _, rating in runner_ids_and_ratings
    ]
    mean_rating = max(1, sum(ratings) // len(ratings))
    rng_state = seed
    cars: list[CarState] = []
    for (runner_id, _), rating in zip(runner_ids_and_ratings, ratings, strict=True):
        rng_state, form_bp = _uniform(rng_state, FORM_BP)
        cruise = _cruise_mm_per_s(rating, mean_rating, form_bp)
        cars.append(CarState(runner_id, rating, cruise, cruise, 0))
    return InPlayState(length_mm, 0, rng_state, tuple(cars))


def advance(state: InPlayState, elapsed_ms: int) -> InPlayState:
    """The race `elapsed_ms` later; cars that have finished stay on the line."""
    if type(elapsed_ms) is not int or not 1 <= elapsed_ms <= ELAPSED_MS_MAX:
        raise InvalidValue(f"elapsed_ms must be an integer in [1, {ELAPSED_MS_MAX}]")
    reversion_bp = min(BASIS_POINTS, REVERSION_PER_S_BP * elapsed_ms // 1000)
    noise = NOISE_MM_PER_S * math.isqrt(elapsed_ms * 10**6 // NOISE_REFERENCE_TICK_MS) // 1000
    rng_state = state.rng_state
    cars: list[CarState] = []
    for car in state.cars:
        if car.finished_at_us is not None:
            cars.append(car)
            continue
        rng_state, jolt = _uniform(rng_state, noise)
        reverted = (
            car.speed_mm_per_s
            + (car.cruise_mm_per_s - car.speed_mm_per_s) * reversion_bp // BASIS_POINTS
        )
        speed = _clamp(reverted + jolt, SPEED_MIN_MM_PER_S, SPEED_MAX_MM_PER_S)
        cars.append(_move(car, speed, state.elapsed_ms, elapsed_ms, state.length_mm))
    return InPlayState(state.length_mm, state.elapsed_ms + elapsed_ms, rng_state, tuple(cars))


def finished(state: InPlayState) -> tuple[str, ...] | None:
    """Placings, winner first, once every car has crossed the line; dead heats go by gate."""
    if any(car.finished_at_us is None for car in state.cars):
        return None
    order = sorted(range(len(state.cars)), key=lambda i: (state.cars[i].finished_at_us, i))
    return tuple(state.cars[i].runner_id for i in order)


def strengths(state: InPlayState) -> tuple[tuple[str, int], ...]:
    """Win chances in parts per billion (each in [1, 10^9]), for `UpdateStrengths`.

    A car's chance halves for every `halving` of time it would finish behind the car expected
    to finish first; the halving shrinks with the time that car has left, so a lead near the
    line is worth far more than the same lead at the start.
    """
    if any(car.finished_at_us is not None for car in state.cars):
        return _decided(state)
    # Speed reverts to cruise within a second or two: expect a pace between the two.
    paces = [(car.speed_mm_per_s + car.cruise_mm_per_s) // 2 for car in state.cars]
    remaining = [state.length_mm - car.position_mm for car in state.cars]
    leader = _expected_first(remaining, paces)
    raw = [
        _halved(remaining[i], paces[i], remaining[leader], paces[leader])
        for i in range(len(state.cars))
    ]
    total = sum(raw)
    return tuple(
        (car.runner_id, max(1, weight * STRENGTH_MAX // total))
        for car, weight in zip(state.cars, raw, strict=True)
    )


# -- helpers ----------------------------------------------------------------------------------


def _splitmix64(state: int) -> tuple[int, int]:
    """The next state and a 64-bit output: Steele, Lea and Flood's SplitMix64."""
    state = (state + 0x9E3779B97F4A7C15) & UINT64_MASK
    mixed = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & UINT64_MASK
    mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & UINT64_MASK
    return state, mixed ^ (mixed >> 31)


def _uniform(state: int, bound: int) -> tuple[int, int]:
    """A value in [-bound, bound]; the modulo bias over 2^64 is far below anything measurable."""
    state, output = _splitmix64(state)
    return state, output % (2 * bound + 1) - bound


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _cruise_mm_per_s(rating: int, mean_rating: int, form_bp: int) -> int:
    deviation_bp = _clamp(
        (rating - mean_rating) * BASIS_POINTS // mean_rating,
        -RATING_DEVIATION_MAX_BP,
        RATING_DEVIATION_MAX_BP,
    )
    factor_bp = BASIS_POINTS + deviation_bp * RATING_SPREAD_BP // BASIS_POINTS + form_bp
    return _clamp(
        SPEED_BASE_MM_PER_S * factor_bp // BASIS_POINTS, SPEED_MIN_MM_PER_S, SPEED_MAX_MM_PER_S
    )


def _move(car: CarState, speed: int, start_ms: int, elapsed_ms: int, length_mm: int) -> CarState:
    step_mm = speed * elapsed_ms // 1000  # at least 5 mm: speed and elapsed_ms are bounded below
    to_go_mm = length_mm - car.position_mm
    if step_mm < to_go_mm:
        return CarState(
            car.runner_id, car.rating, car.cruise_mm_per_s, speed, car.position_mm + step_mm
        )
    # Crossed during this tick: interpolate the crossing time, rounding up, in microseconds.
    crossing_us = -(-to_go_mm * elapsed_ms * 1000 // step_mm)
    finished_at_us = start_ms * 1000 + crossing_us
    return CarState(
        car.runner_id, car.rating, car.cruise_mm_per_s, speed, length_mm, finished_at_us
    )


def _expected_first(remaining_mm: list[int], paces: list[int]) -> int:
    """The car with the least time to go, compared exactly; the lower gate wins a tie."""
    leader = 0
    for i in range(1, len(paces)):
        if remaining_mm[i] * paces[leader] < remaining_mm[leader] * paces[i]:
            leader = i
    return leader


def _halved(remaining_mm: int, pace: int, leader_remaining_mm: int, leader_pace: int) -> int:
    """STRENGTH_RAW halved once per halving of time behind the leader, linear in between.

    Time behind is R/p - Rl/pl seconds and the halving is HALVING_MIN_MS/1000 +
    HALVING_SHARE_BP/10000 * Rl/pl; their ratio is taken exactly as one fraction.
    """
    numerator = (remaining_mm * leader_pace - leader_remaining_mm * pace) * BASIS_POINTS
    denominator = pace * (
        HALVING_MIN_MS * (BASIS_POINTS // 1000) * leader_pace
        + HALVING_SHARE_BP * leader_remaining_mm
    )
    halvings, fraction = divmod(numerator, denominator)
    if halvings >= STRENGTH_RAW.bit_length():
        return 0
    whole = STRENGTH_RAW >> halvings
    return whole * (2 * denominator - fraction) // (2 * denominator)


def _decided(state: InPlayState) -> tuple[tuple[str, int], ...]:
    """Once a car has crossed the line the winner is known: it takes all but the minimum."""
    first = min(
        (i for i, car in enumerate(state.cars) if car.finished_at_us is not None),
        key=lambda i: (state.cars[i].finished_at_us, i),
    )
    return tuple(
        (car.runner_id, STRENGTH_MAX if i == first else 1) for i, car in enumerate(state.cars)
    )


# -- validation and plain data ----------------------------------------------------------------


def _check_start(
    runner_ids_and_ratings: Sequence[tuple[str, int | None]], seed: int, length_mm: int
) -> None:
    if not runner_ids_and_ratings:
        raise InvalidValue("a race needs at least one runner")
    ids = [runner_id for runner_id, _ in runner_ids_and_ratings]
    if len(set(ids)) != len(ids):
        raise InvalidValue("runner ids must be unique")
    for runner_id, rating in runner_ids_and_ratings:
        if rating is not None and (type(rating) is not int or not 1 <= rating <= RATING_MAX):
            raise InvalidValue(f"rating of {runner_id!r} must be in [1, {RATING_MAX}]")
    if type(seed) is not int or not 0 <= seed <= UINT64_MASK:
        raise InvalidValue("seed must be an integer in [0, 2^64)")
    if type(length_mm) is not int or not 1_000 <= length_mm <= RACE_LENGTH_MM_MAX:
        raise InvalidValue(f"length_mm must be an integer in [1000, {RACE_LENGTH_MM_MAX}]")


def _check_state(state: InPlayState) -> None:
    if not state.cars or not 1_000 <= state.length_mm <= RACE_LENGTH_MM_MAX:
        raise InvalidValue("in-play state needs cars and a track length in range")
    if state.elapsed_ms < 0 or not 0 <= state.rng_state <= UINT64_MASK:
        raise InvalidValue("in-play state has a negative time or an rng state out of range")
    for car in state.cars:
        if not 0 <= car.position_mm <= state.length_mm:
            raise InvalidValue(f"car {car.runner_id!r} is off the track")
        if not SPEED_MIN_MM_PER_S <= car.speed_mm_per_s <= SPEED_MAX_MM_PER_S:
            raise InvalidValue(f"car {car.runner_id!r} has a speed out of range")
        if not SPEED_MIN_MM_PER_S <= car.cruise_mm_per_s <= SPEED_MAX_MM_PER_S:
            raise InvalidValue(f"car {car.runner_id!r} has a cruise speed out of range")
        if (car.finished_at_us is None) != (car.position_mm < state.length_mm):
            raise InvalidValue(f"car {car.runner_id!r} is finished only if on the line")


def _car_to_dict(car: CarState) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "runner_id": car.runner_id,
        "rating": car.rating,
        "cruise_mm_per_s": car.cruise_mm_per_s,
        "speed_mm_per_s": car.speed_mm_per_s,
        "position_mm": car.position_mm,
    }
    if car.finished_at_us is not None:  # absent rather than null: plain ints and strs only
        fields["finished_at_us"] = car.finished_at_us
    return fields


def _car_from_dict(data: dict[str, Any]) -> CarState:
    runner_id = data["runner_id"]
    if type(runner_id) is not str:
        raise InvalidValue("runner_id must be a string")
    return CarState(
        runner_id=runner_id,
        rating=_integer(data, "rating"),
        cruise_mm_per_s=_integer(data, "cruise_mm_per_s"),
        speed_mm_per_s=_integer(data, "speed_mm_per_s"),
        position_mm=_integer(data, "position_mm"),
        finished_at_us=_integer(data, "finished_at_us") if "finished_at_us" in data else None,
    )


def _integer(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if type(value) is not int:
        raise InvalidValue(f"{key} must be an integer, got {type(value).__name__}")
    return value
