"""Calibration benchmark: do the model's chances come true as often as they say?

Run as `python -m betting bench calibration [--races N] [--seed S] [--workers W]`. Each race
is seeded: 2 to 8 cars with ratings drawn around 100, run by `race_model` alone (no book, no
log) in ticks of 250 ms. At the off (the ratings-based prior) and when the leader passes 25%,
50% and 75% of the course, every runner's chance is read off the prices the book would publish
from the model's strengths (margin on, rounded onto the ladder) with the margin taken out
again: 1/odds, normalised over the race. Chances are binned into deciles; each bin's mean
chance is compared with how often its runners won. The Brier score is the mean over races of
the sum over runners of (chance - won)^2. Floats are fine here: this is statistics about the
domain, not the domain.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import record
from betting.domain import race_model
from betting.domain.pricing import PricingParams, price

CHECKPOINTS_PCT = (0, 25, 50, 75)
TICK_MS = 250
BINS = 10
SAMPLES_MIN = 500  # bins with fewer samples are shown but not held to the goal
DEVIATION_GOAL_PP = 2.0


@dataclass
class Tally:
    """Per checkpoint and bin: samples, sum of chances, wins; per checkpoint: Brier sums."""

    samples: list[list[int]]
    chance_sums: list[list[float]]
    wins: list[list[int]]
    brier_sums: list[float]
    races: int = 0

    @classmethod
    def empty(cls) -> Tally:
        points = len(CHECKPOINTS_PCT)
        return cls(
            [[0] * BINS for _ in range(points)],
            [[0.0] * BINS for _ in range(points)],
            [[0] * BINS for _ in range(points)],
            [0.0] * points,
        )

    def add(self, other: Tally) -> None:
        for point in range(len(CHECKPOINTS_PCT)):
            for b in range(BINS):
                self.samples[point][b] += other.samples[point][b]
                self.chance_sums[point][b] += other.chance_sums[point][b]
                self.wins[point][b] += other.wins[point][b]
            self.brier_sums[point] += other.brier_sums[point]
        self.races += other.races


def field_for(seed: int) -> list[tuple[str, int | None]]:
    rng = random.Random(seed)
    return [(f"car-{i}", rng.randint(70, 130)) for i in range(rng.randint(2, 8))]


def published_chances(strengths: Sequence[tuple[str, int]], params: PricingParams) -> list[float]:
    """The book's prices for these strengths (no money on the race), de-margined."""
    total = sum(strength for _, strength in strengths)
    implied = [100 / price(params, strength, total).hundredths for _, strength in strengths]
    overround = sum(implied)
    return [chance / overround for chance in implied]


def run_race(seed: int, params: PricingParams) -> tuple[list[list[float]], int]:
    """The de-margined chances at each checkpoint, and the winner's index."""
    runners = field_for(seed)
    state = race_model.start_race(runners, seed)
    seen: list[list[float]] = []
    for pct in CHECKPOINTS_PCT:
        mark_mm = state.length_mm * pct // 100
        while max(car.position_mm for car in state.cars) < mark_mm:
            state = race_model.advance(state, TICK_MS)
        seen.append(published_chances(race_model.strengths(state), params))
    while (placings := race_model.finished(state)) is None:
        state = race_model.advance(state, TICK_MS)
    return seen, [runner_id for runner_id, _ in runners].index(placings[0])


def tally_races(seeds: range) -> Tally:
    params = PricingParams()
    tally = Tally.empty()
    for seed in seeds:
        seen, winner = run_race(seed, params)
        for point, chances in enumerate(seen):
            for index, chance in enumerate(chances):
                won = index == winner
                b = min(BINS - 1, int(chance * BINS))
                tally.samples[point][b] += 1
                tally.chance_sums[point][b] += chance
                tally.wins[point][b] += won
                tally.brier_sums[point] += (chance - won) ** 2
        tally.races += 1
    return tally


def run(races: int, seed: int, workers: int) -> Tally:
    chunk = -(-races // workers)
    ranges = [
        range(seed + start, seed + min(races, start + chunk)) for start in range(0, races, chunk)
    ]
    total = Tally.empty()
    if workers == 1:
        total.add(tally_races(ranges[0]))
        return total
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for part in pool.map(tally_races, ranges):
            total.add(part)
    return total


def table(tally: Tally) -> tuple[list[str], float]:
    """The markdown table and the largest deviation over bins held to the goal."""
    lines = [
        "| point | bin | samples | mean chance % | won % | deviation pp |",
        "|---|---|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for point, pct in enumerate(CHECKPOINTS_PCT):
        for b in range(BINS):
            samples = tally.samples[point][b]
            if not samples:
                continue
            mean = 100 * tally.chance_sums[point][b] / samples
            won = 100 * tally.wins[point][b] / samples
            deviation = won - mean
            held = samples >= SAMPLES_MIN
            if held:
                worst = max(worst, abs(deviation))
            label = "off" if pct == 0 else f"{pct}%"
            mark = "" if held else " (few)"
            lines.append(
                f"| {label} | {b * 10}-{b * 10 + 10}% | {samples:,}{mark} | {mean:.2f} | "
                f"{won:.2f} | {deviation:+.2f} |"
            )
    return lines, worst


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m betting bench calibration")
    parser.add_argument("--races", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=min(2, multiprocessing.cpu_count()))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tally = run(args.races, args.seed, max(1, args.workers))
    seconds = time.perf_counter() - started
    lines, worst = table(tally)
    briers = [brier / tally.races for brier in tally.brier_sums]
    falling = all(later < earlier for earlier, later in itertools.pairwise(briers))
    held = worst <= DEVIATION_GOAL_PP
    summary = (
        f"calibration: {tally.races} races, max deviation {worst:.2f} pp, "
        f"brier {briers[0]:.4f} -> {briers[-1]:.4f}"
    )
    print("\n".join(lines))
    print(f"brier by point: {', '.join(f'{b:.4f}' for b in briers)}; {seconds:.1f} s")
    if not args.no_record:
        record(
            "calibration",
            summary,
            [
                f"{tally.races:,} seeded races (seeds {args.seed} on), 2 to 8 cars rated 70-130, "
                f"ticks of {TICK_MS} ms; {args.workers} worker processes, {seconds:.1f} s.",
                "Chance: the book's published prices for the model's strengths (5% margin, "
                "on the ladder), de-margined; at the off they come from the ratings alone.",
                f"Goal: every bin with at least {SAMPLES_MIN} samples within "
                f"{DEVIATION_GOAL_PP:g} pp, and the Brier score falling at every point: "
                f"{'met' if held and falling else 'NOT met'} (Brier "
                + " -> ".join(f"{b:.4f}" for b in briers)
                + ").",
            ],
            lines,
        )
    print(summary)
    return 0
