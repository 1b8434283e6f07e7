"""`python -m betting sim --seeds N --bets M [--seed S] [--jobs J] [--strict]`.

Runs seeds S, S+1, ..., S+N-1 (M bets each) over the real engine core, on J processes. Each
violation prints the one line that replays it; the last line is the campaign's summary:
`sim: <N> seeds, <B> bets, <F> faults, <V> violations, <s> s`. Known findings (promises the
engine does not keep yet, `model.KNOWN_FINDINGS`) are counted on a line of their own, and
are violations only with `--strict`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from collections import Counter
from collections.abc import Iterable

from betting.sim.model import KNOWN_FINDINGS
from betting.sim.world import SeedReport, run_seed


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m betting sim")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--bets", type=int, default=1_000, help="bets per seed")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--jobs", type=int, default=0, help="processes (default: the cores)")
    parser.add_argument("--strict", action="store_true", help="known findings fail too")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.bets < 1 or args.seed < 0 or args.jobs < 0:
        parser.error("--seeds and --bets must be positive, --seed and --jobs not negative")
    return args


def _one(job: tuple[int, int]) -> SeedReport:
    return run_seed(*job)


def campaign(first: int, seeds: int, bets: int, jobs: int) -> Iterable[SeedReport]:
    work = [(seed, bets) for seed in range(first, first + seeds)]
    if jobs <= 1 or seeds == 1:
        yield from map(_one, work)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_one, work, chunksize=max(1, min(20, seeds // (jobs * 8))))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    args = parse(argv)
    jobs = args.jobs or os.cpu_count() or 1
    started = time.perf_counter()
    bets = faults = violations = 0
    known: Counter[str] = Counter()
    for report in campaign(args.seed, args.seeds, args.bets, jobs):
        bets += report.bets
        faults += report.faults
        failed = [v for v in report.violations if args.strict or v.check not in KNOWN_FINDINGS]
        known.update(v.check for v in report.violations if v.check in KNOWN_FINDINGS)
        for violation in failed[:3]:
            print(f"violation {violation.check} (seed {report.seed}): {violation.detail}")
        if failed:
            strict = " --strict" if args.strict else ""
            print(
                f"  replay: python -m betting sim --seed {report.seed} --bets {args.bets}{strict}"
            )
        violations += len(failed)
    if known and not args.strict:
        shown = ", ".join(f"{name} {count}" for name, count in sorted(known.items()))
        print(f"known findings (not counted): {shown}")
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() + _children_cpu_s()
    print(f"cpu: {cpu_s:.1f} s on {jobs} processes")
    print(
        f"sim: {args.seeds} seeds, {bets} bets, {faults} faults, {violations} violations, "
        f"{elapsed:.1f} s"
    )
    return 1 if violations else 0
