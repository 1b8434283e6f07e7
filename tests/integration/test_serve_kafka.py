"""`serve` on the real broker: the broker stops mid-stream and comes back."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from betting.devtools.kafka_broker import KafkaBroker
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
from tests.integration.test_serve import free_port, start_serve, wait_http

pytestmark = pytest.mark.kafka


def readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError as error:  # not listening yet
        return 0, {"error": str(error)}


async def until_ready(port: int, status: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        code, body = await asyncio.to_thread(readyz, port)
        if code == status:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"/readyz stayed {code}: {body}")
        await asyncio.sleep(0.2)


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
            versions = [int(v["version"]) for v in odds if v["race_id"] == race_id]  # type: ignore[call-overload]
            assert versions == sorted(set(versions))
    finally:
        server.terminate()
        server.wait(30)
        await event_log.stop()
