"""`python -m betting bench loop` at a tiny scale, so the benchmark cannot rot unnoticed: it
runs to its end on the real broker and prints its figures in the documented shape, each one
measured (no figure is judged by its size: this machine's timings are not the test's)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MS = r"(\d+\.\d) ms"
LAST_LINE = re.compile(
    rf"loop: 100 bets/s, 40 watchers, outcome p50 {MS} p99 {MS}, odds p99 {MS}, "
    rf"ceiling p99 {MS}, ratio (\d+\.\d\d)"
)


@pytest.mark.kafka
@pytest.mark.slow
def test_the_loop_benchmark_measures_and_reports(kafka_bootstrap: str) -> None:
    arguments = "--rate 100 --watchers 40 --bettors 10 --seconds 3 --warm-seconds 1"
    arguments += " --ceiling-seconds 2 --no-record"
    finished = subprocess.run(
        [sys.executable, "-m", "betting", "bench", "loop", *arguments.split()],
        cwd=REPO,
        env={**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = finished.stdout.strip().splitlines()
    match = LAST_LINE.fullmatch(lines[-1])
    assert match is not None, lines[-1]
    outcome_p50, outcome_p99, odds_p99, ceiling_p99 = (float(match[n]) for n in range(1, 5))
    assert 0 < outcome_p50 <= outcome_p99
    assert odds_p99 > 0 and ceiling_p99 > 0
    assert math.isclose(float(match[5]), outcome_p99 / ceiling_p99, rel_tol=0.05, abs_tol=0.01)
    placed = re.search(r"placed (\d+) bets .*?(\d+) accepted", finished.stdout)
    pairs = re.search(r"over (\d+) \(bet, sampled watcher\) pairs", finished.stdout)
    round_trips = re.search(r"transactional Kafka round trip: .*\((\d+) messages", finished.stdout)
    echo = re.search(rf"websocket round trip: p50 {MS}, p99 {MS}", finished.stdout)
    assert placed and int(placed[1]) >= 200 and int(placed[2]) > 0, finished.stdout
    assert pairs and int(pairs[1]) > 0, finished.stdout
    assert round_trips and int(round_trips[1]) >= 150, finished.stdout
    assert echo and float(echo[2]) > 0, finished.stdout
