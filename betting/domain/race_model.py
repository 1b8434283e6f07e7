"""A simulated in-play race: cars whose positions advance each tick, replayable from a seed.

Everything is integer: positions in millimetres, speeds in millimetres per second, time in
milliseconds (finish times in microseconds, so close finishes still order). Randomness comes
from splitmix64 on Python ints; its state lives in `InPlayState`, so a logged state plus the
same ticks replays the race exactly.

Each car cruises at a speed set by its rating relative to the field; every tick its speed
reverts toward that cruise speed plus seeded noise, so leads change and upsets happen. The
cruise speed follows from the ratings alone, so the chances the ratings give before the off
are the same as the in-race model's at the off: one model, calibrated (`bench calibration`).

Win chances (`strengths`) treat each car's time still to go as normal: its mean from the
distance left at cruise speed, corrected for how far the car is above or below cruise now; its
spread from the noise still to come, which shrinks as the car nears the line. The chance of
each car is that its time is the smallest (`chances.win_chances`, integers only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from betting.domain import chances
from betting.domain.errors import InvalidValue
from betting.domain.model import DEFAULT_STRENGTH

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
REVERSION_PER_S_BP = 8_000  # how fast speed returns to cruise
NOISE_MM_PER_S = 1_500  # speed noise per reference tick; scales with the square root of time
NOISE_REFERENCE_TICK_MS = 250

STRENGTH_MAX = 10**9  # strengths are win chances in parts per billion, at least 1
# The chance model assumes the reference tick: its noise and reversion per tick are then
# exactly the simulation's (other ticks have nearly the same noise per second).
MODEL_TICK_MS = NOISE_REFERENCE_TICK_MS
MODEL_TICKS_MAX = 256  # beyond this many ticks to go, the reversion's remainder is below 2^-32
FIXED_BITS = 32


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
    cars: list[CarState] = []
    for (runner_id, _), rating in zip(runner_ids_and_ratings, ratings, strict=True):
        cruise = _cruise_mm_per_s(rating, mean_rating)
        cars.append(CarState(runner_id, rating, cruise, cruise, 0))
    return InPlayState(length_mm, 0, seed, tuple(cars))


def prior_strengths(
    runner_ids_and_ratings: Sequence[tuple[str, int | None]],
    length_mm: int = RACE_LENGTH_MM_DEFAULT,
) -> tuple[tuple[str, int], ...]:
    """The chances the ratings give before the off: the model's chances at the off (the seed
    moves only the noise to come, so it changes nothing here)."""
    return strengths(start_race(runner_ids_and_ratings, 0, length_mm))


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

    What the book reads as something happening: a new favourite (an overtake, as the model
    sees it) and a decided race (the finish: the first car over the line at 10^9, the others
    at 1). Anything else moves prices a bounded step per tick (`in_play`).
    """
    if any(car.finished_at_us is not None for car in state.cars):
        return _decided(state)
    means, spreads = zip(*(_time_to_go_us(state.length_mm, car) for car in state.cars), strict=True)
    win = chances.win_chances(means, spreads)
    return tuple(
        (car.runner_id, max(1, chance * STRENGTH_MAX >> chances.SCALE_BITS))
        for car, chance in zip(state.cars, win, strict=True)
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


def _cruise_mm_per_s(rating: int, mean_rating: int) -> int:
    deviation_bp = _clamp(
        (rating - mean_rating) * BASIS_POINTS // mean_rating,
        -RATING_DEVIATION_MAX_BP,
        RATING_DEVIATION_MAX_BP,
    )
    factor_bp = BASIS_POINTS + deviation_bp * RATING_SPREAD_BP // BASIS_POINTS
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


def _time_to_go_us(length_mm: int, car: CarState) -> tuple[int, int]:
    """Mean and spread, in microseconds, of the time the car still needs to the line.

    Speed is an AR(1) around cruise: x' = phi * x + e per tick, e uniform with variance
    b(b+1)/3. Over the k ticks to go the car covers cruise * k * tick, plus x * tick *
    phi(1 - phi^k)/(1 - phi) from its present excess x, plus noise of variance
    tick^2 var(e)/(1 - phi)^2 * (k - 2 phi(1 - phi^k)/(1 - phi) + phi^2(1 - phi^2k)/(1 - phi^2)).
    Distance is turned into time at cruise speed.
    """
    tick_ms, cruise = MODEL_TICK_MS, car.cruise_mm_per_s
    to_go_mm = length_mm - car.position_mm
    one = 1 << FIXED_BITS
    keep = BASIS_POINTS - REVERSION_PER_S_BP * tick_ms // 1000  # phi in basis points
    shed = BASIS_POINTS - keep  # 1 - phi
    # Ticks to go, in fixed point, and phi to that power (interpolated between whole ticks).
    ticks_fixed = max(1, (to_go_mm * 1000 << FIXED_BITS) // (cruise * tick_ms))
    whole, part = divmod(ticks_fixed, one)
    power = _power_fixed(keep, min(whole, MODEL_TICKS_MAX))
    power_next = power * keep // BASIS_POINTS
    power = power - (power - power_next) * part // one
    excess_mm = (
        (car.speed_mm_per_s - cruise) * tick_ms * keep * (one - power) // (1000 * shed * one)
    )
    mean_us = max(1, (to_go_mm - excess_mm) * 1_000_000 // cruise)
    power_twice = power * power >> FIXED_BITS
    shape_fixed = (
        ticks_fixed
        - 2 * keep * (one - power) // shed
        + keep * keep * (one - power_twice) // (BASIS_POINTS * BASIS_POINTS - keep * keep)
    )
    bound = NOISE_MM_PER_S * math.isqrt(tick_ms * 10**6 // NOISE_REFERENCE_TICK_MS) // 1000
    variance_fixed = (
        tick_ms * tick_ms * bound * (bound + 1) * BASIS_POINTS * BASIS_POINTS * max(0, shape_fixed)
    ) // (3 * 1_000_000 * shed * shed)
    spread_us = math.isqrt(variance_fixed * 10**12 >> FIXED_BITS) // cruise
    return mean_us, max(1, spread_us)


def _power_fixed(keep_bp: int, exponent: int) -> int:
    """(keep_bp / BASIS_POINTS) ** exponent in fixed point, by squaring."""
    result, base = 1 << FIXED_BITS, (keep_bp << FIXED_BITS) // BASIS_POINTS
    while exponent:
        if exponent & 1:
            result = result * base >> FIXED_BITS
        base = base * base >> FIXED_BITS
        exponent >>= 1
    return result


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
