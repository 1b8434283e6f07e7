"""`serve` on the real broker: two instances with one killed; the broker stops and returns."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from betting.devtools.kafka_broker import KafkaBroker
from tests.integration.engine_checks import assert_odds_versions_increase, replay_matches
from tests.integration.kafka_pipeline import (
    bets,
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
    read_topic,
    values,
    wait_for,
)
from tests.support.serve_process import (
    free_port,
    owned_partitions,
    start_serve,
    until_ready,
    wait_http,
)

pytestmark = pytest.mark.kafka


async def test_broker_stopped_and_restarted_mid_stream(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    env = pipeline_env(kafka_broker.bootstrap, unique_name)
    settings = pipeline_settings(env)
    port = free_port()
    event_log = await open_log(settings)
    server = start_serve({**env, "BETTING_SERVER__PORT": str(port)})
    races = ["race-x", "race-y"]
    try:
        await until_ready(port, 200)
        await event_log.producer().send(race_commands(settings, races))
        await event_log.producer().send(bets(settings, races, 100, "before"))
        await wait_for(event_log, settings.topics.bet_results, lambda r: len(r) == 100)

        await asyncio.to_thread(kafka_broker.shutdown)
        body = await until_ready(port, 503)
        assert "event log" in body["reasons"]  # type: ignore[operator]
        assert wait_http(f"http://127.0.0.1:{port}/healthz") == b'{"status":"ok"}'

        await asyncio.to_thread(kafka_broker.restart)
        await event_log.producer().send(bets(settings, races, 100, "after"))
        results = await wait_for(
            event_log, settings.topics.bet_results, lambda r: len(r) >= 200, 120
        )
        await until_ready(port, 200)
        counts = Counter(str(v["bet_id"]) for v in values(results))
        assert len(counts) == 200 and set(counts.values()) == {1}
        assert server.poll() is None, "serve died during the outage"
        odds = values(await read_topic(event_log, settings.topics.odds))
        for race_id in races:
            versions = [int(v["version"]) for v in odds if v["race_id"] == race_id]
            assert versions == sorted(set(versions))
    finally:
        server.terminate()
        server.wait(30)
        await event_log.stop()


async def test_two_serves_split_the_races_and_one_is_killed(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    races = ["race-a", "race-b", "race-c", "race-d"]
    ports = [free_port(), free_port()]
    servers = [
        start_serve({**env, "BETTING_SERVER__PORT": str(port), "BETTING_KAFKA__INSTANCE_ID": name})
        for port, name in zip(ports, ("a", "b"), strict=True)
    ]
    try:
        for port in ports:
            await until_ready(port, 200)
        deadline = time.monotonic() + 60
        while not all(0 < len(owned_partitions(s) or []) < 3 for s in servers):
            assert time.monotonic() < deadline, "the two instances did not split the partitions"
            await asyncio.sleep(0.2)
        producer = event_log.producer()
        await producer.send(race_commands(settings, races))
        await producer.send(bets(settings, races, 200, "early"))
        await wait_for(event_log, settings.topics.bet_results, lambda r: len(r) >= 200, 60)

        servers[0].kill()  # kill -9: its partitions go to the other after the session timeout
        await producer.send(bets(settings, races, 200, "late"))
        results = await wait_for(
            event_log, settings.topics.bet_results, lambda r: len(r) >= 400, 120
        )
        counts = Counter(str(v["bet_id"]) for v in values(results))
        assert len(counts) == 400 and set(counts.values()) == {1}
        assert servers[1].poll() is None, "the surviving serve died"
        assert sorted(owned_partitions(servers[1]) or []) == [0, 1, 2]
        assert_odds_versions_increase(await read_topic(event_log, settings.topics.odds))
        await replay_matches(event_log, settings)
    finally:
        for server in servers:
            server.kill()
            server.wait(30)
        await event_log.stop()
