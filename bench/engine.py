"""`python -m betting bench engine`: price random bets through one 20-runner book.

Single-threaded on purpose: the engine's core is one synchronous loop per partition, so this is
its ceiling on one core. Bets are built before the clock starts; only `Book.place` is timed.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from bench.report import record
from betting.domain.book import Book
from betting.domain.events import CreateRace, OpenRace
from betting.domain.model import Bet, Runner
from betting.domain.money import LADDER, Odds
from betting.domain.risk import RiskParams

RUNNERS = 20


def build_book() -> Book:
    race = CreateRace(
        race_id="bench",
        name="Benchmark race",
        runners=tuple(Runner(f"r{i}", f"Runner {i}", 50 + 10 * i) for i in range(RUNNERS)),
        scheduled_start_ms=0,
        at_ms=0,
        risk=RiskParams(
            odds_tolerance_ticks=2,
            late_window_ms=3_600_000,
            version_history_max=10_000_000,
            runner_liability_max_minor=10**15,
            race_liability_max_minor=10**15,
        ),
    )
    book = Book(race)
    book.apply(OpenRace("bench", 1))
    book.publish_odds(1)
    return book


def random_bets(book: Book, count: int, seed: int) -> list[Bet]:
    """Bets whose seen prices wander around the opening prices, as live bettors' would."""
    rng = random.Random(seed)
    opening = [book.price_of(i).tick for i in range(RUNNERS)]
    bets = []
    for n in range(count):
        runner = rng.randrange(RUNNERS)
        tick = min(max(opening[runner] + rng.randint(-8, 2), 0), len(LADDER) - 1)
        bets.append(
            Bet(
                f"bet-{n}",
                f"user-{rng.randrange(10_000)}",
                "bench",
                f"r{runner}",
                rng.choice((100, 500, 1_000, 2_000, 5_000, 20_000)),
                Odds(LADDER[tick]),
                1,
                10 + n // 100,
            )
        )
    return bets


def run(count: int, seed: int) -> tuple[float, float, int]:
    book = build_book()
    bets = random_bets(book, count, seed)
    # Bets name the opening version and the risk settings keep it bettable for the whole run,
    # as live bets would name a recent one.
    place = book.place
    started = time.perf_counter()
    accepted = 0
    for n, bet in enumerate(bets):
        accepted += place(bet).accepted
        if n % 500 == 0:  # an odds snapshot every 500 bets, as the engine's conflation would
            book.publish_odds(bet.received_at_ms)
    elapsed = time.perf_counter() - started
    return count / elapsed, elapsed / count * 1e6, accepted


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m betting bench engine")
    parser.add_argument("--bets", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    rate, micros, accepted = run(args.bets, args.seed)
    cores = os.cpu_count() or 1
    line = f"engine: {rate:,.0f} bets/s, {micros:.2f} us/bet, {cores} cores"
    print(f"{accepted:,} of {args.bets:,} bets accepted")
    print(line)
    if not args.no_record:
        record(
            "engine",
            line,
            [
                f"{args.bets:,} random bets on a 20-runner race, one core, seed {args.seed}.",
                f"{accepted:,} accepted; the rest rejected (mostly ODDS_CHANGED as prices move).",
                "Target: at least 100,000 bets/s on one core.",
            ],
        )
    return 0
