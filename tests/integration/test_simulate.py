"""`python -m betting simulate`: its statistics core, and a run against a real serve on Kafka.

The run: serve on the real broker with its local edge and an open race; three simulated
bettors on the official ably SDK place about 20 bets a second for a few seconds, and every bet
hears its outcome. Odds are published only on change, so while the run watches, the race's
ratings are re-sent every half second: each re-send publishes the same prices under a new
version, and a bettor that connected after the race opened still learns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from betting import codec, simulate
from betting.client import BettorEndpoints
from betting.domain.events import UpdateStrengths
from betting.log.port import Outgoing
from tests.integration.kafka_pipeline import (
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
)
from tests.support.serve_process import free_port, start_serve, wait_http

READY_S = 90.0  # a loaded machine's broker and serve can take a while

SHARDS = 4
SUMMARY = re.compile(
    r"^simulate: (\d+) users, (\d+) bets, ([\d.]+) bets/s, accepted ([\d.]+)%, "
    r"p50 ([\d.]+) ms, p99 ([\d.]+) ms$",
    re.MULTILINE,
)
DETAILS = re.compile(r"^simulate: (\d+) outcomes for (\d+) bets, (\d+) without outcome", re.M)

Served = tuple[BettorEndpoints, Callable[[], Awaitable[None]]]


# -- the pure core ---------------------------------------------------------------------------


def test_percentile_is_the_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert simulate.percentile(samples, 50) == 50
    assert simulate.percentile(samples, 99) == 99
    assert simulate.percentile(samples, 100) == 100
    assert simulate.percentile([7], 1) == 7
    assert simulate.percentile([], 50) is None


def test_stats_window_forgets_old_seconds_and_counts_the_run() -> None:
    second = 1_000_000_000
    stats = simulate.Stats(started_ns=0, window_s=2)
    for n in range(10):  # second 0: ten bets at 100 ms
        stats.record_placed(n)
        stats.record_outcome(n, 100_000, None)
    stats.record_placed(3 * second)  # second 3: one slow rejected bet
    stats.record_outcome(3 * second, 900_000, "ODDS_CHANGED")
    progress = stats.progress(3 * second + second // 2)
    assert progress.latency_us_p50 == 900_000  # second 0 is out of the window
    assert progress.bets_per_s == pytest.approx(1 / 1.5)  # seconds 2 and half of 3
    assert (progress.placed, progress.answered, progress.accepted) == (11, 11, 10)
    assert progress.rejected == {"ODDS_CHANGED": 1}
    summary = stats.summary(users=2, placing_ended_ns=4 * second)
    assert summary == (
        "simulate: 2 users, 11 bets, 2.8 bets/s, accepted 90.9%, p50 100.0 ms, p99 900.0 ms"
    )


def test_flags_win_over_the_server_config_which_wins_over_defaults() -> None:
    options = simulate.parse_options(["--race", "r", "--edge-port", "9000"])
    config = {"edge": {"endpoint": None, "port": None, "tls": True}, "bet_shards": 8}
    endpoints, shards = simulate.endpoints_from(options, config)
    assert (endpoints.edge_host, endpoints.edge_port, endpoints.tls, shards) == (
        "127.0.0.1", 9000, True, 8,
    )  # fmt: skip
    ably = simulate.endpoints_from(simulate.parse_options(["--race", "r"]), config)[0]
    assert (ably.edge_host, ably.edge_port, ably.tls) == (None, None, True)
    local = simulate.endpoints_from(simulate.parse_options(["--race", "r"]), None)
    assert (local[0].edge_host, local[0].edge_port, local[0].tls, local[1]) == (
        "127.0.0.1", 8081, False, 4,
    )  # fmt: skip


def test_odds_messages_and_the_race_listing_become_what_a_bettor_saw() -> None:
    seen = simulate.odds_from(
        {"version": 3, "state": "open", "prices": [["car-1", "2.5"], ["car-2", None]]}
    )
    assert seen == simulate.OddsSeen(3, "open", {"car-1": "2.5"})
    assert simulate.odds_from({"state": "open"}) is None
    listing = {
        "races": [
            {"race_id": "a", "state": "open", "version": 2, "runners": [
                {"runner_id": "x", "name": "X", "odds": "3.1"}]},
            {"race_id": "b", "state": "settled", "version": 9, "runners": []},
        ]
    }  # fmt: skip
    assert simulate.races_from(listing) == {"a": simulate.OddsSeen(2, "open", {"x": "3.1"})}


# -- a run against serve on Kafka ------------------------------------------------------------


@pytest.fixture
async def served(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[Served]:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    http_port, edge_port = free_port(), free_port()
    event_log = await open_log(settings)
    await event_log.producer().send(race_commands(settings, ["race-a"]))

    async def republish_odds() -> None:
        # The ratings race_commands gave: the prices stay, the version moves on.
        strengths = tuple((f"car-{i}", 100 + 10 * i) for i in range(7))
        command = UpdateStrengths("race-a", strengths, int(time.time() * 1000))
        value = codec.encode_command(command)
        await event_log.producer().send([Outgoing(settings.topics.races, b"race-a", value)])

    process = start_serve(
        {
            **env,
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_EDGE__BET_SHARDS": str(SHARDS),
        }
    )
    try:
        # Ready: the edge lets clients in once its forwarders have replayed the log.
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http_port}/readyz", READY_S)
        endpoints = BettorEndpoints(f"http://127.0.0.1:{http_port}", "127.0.0.1", edge_port, False)
        yield endpoints, republish_odds
    finally:
        process.terminate()
        process.wait(30)
        await event_log.stop()


async def keep_republishing(republish_odds: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(0.5)  # pacing: a republish every half second, as a simulator does
        await republish_odds()


@pytest.mark.kafka
async def test_simulated_bettors_hear_an_outcome_for_every_bet(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoints, republish_odds = served
    argv = [
        "--users", "3", "--rate", "20", "--seconds", "5", "--drain-seconds", "5",
        "--race", "race-a", "--api", endpoints.api_url, "--edge-host", "127.0.0.1",
        "--edge-port", str(endpoints.edge_port), "--shards", str(SHARDS), "--no-tls",
        "--seed", "7",
    ]  # fmt: skip
    republishing = asyncio.create_task(keep_republishing(republish_odds))
    try:
        code = await asyncio.wait_for(asyncio.to_thread(simulate.main, argv), 30)
    finally:
        republishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await republishing
    output = capsys.readouterr().out
    summary, details = SUMMARY.search(output), DETAILS.search(output)
    assert summary is not None and details is not None, output
    assert code == 0, output
    users, bets, accepted_percent = int(summary[1]), int(summary[2]), float(summary[4])
    assert users == 3 and bets >= 20, output
    assert (int(details[1]), int(details[2]), int(details[3])) == (bets, bets, 0), output
    assert accepted_percent >= 80, output
    assert re.search(r"^ +[\d.]+ s +[\d.]+ bets/s  placed \d+", output, re.M), output
