"""serve keeps a bettor's history in its SQLite file, on the embedded default and on the real
broker (whose bet-results and settlements the engine writes in transactions): a bet placed
through the official ably SDK, retried under its id, then settled, is one row with its
settlement, read back from GET /api/users/{id}/history; and it is still there, once, after a
restart (on the in-memory log, which starts empty again, and on Kafka, read on from the
positions in the database)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from betting.channels import bets_channel, bets_shard
from betting.client import BettorEndpoints, bettor_realtime, sign_in
from tests.integration.kafka_pipeline import pipeline_env
from tests.support.serve_process import free_port, start_serve, wait_http

ADMIN = "history-admin-token"
TIMEOUT_S = 30.0


def call(api: str, method: str, path: str, body: object = None, token: str = ADMIN) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def until(check: Callable[[], Awaitable[Any]]) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while not (result := await check()):
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)
    return result


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def log_environment(request: pytest.FixtureRequest, unique_name: str) -> dict[str, str]:
    if request.param == "memory":
        return {}
    return pipeline_env(request.getfixturevalue("kafka_bootstrap"), unique_name)


def serve(path: Path, environment: dict[str, str]) -> tuple[Any, str, BettorEndpoints]:
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {
            **environment,
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_ADMIN__TOKEN": ADMIN,
            "BETTING_HISTORY__SQLITE_PATH": str(path),
        }
    )
    api = f"http://127.0.0.1:{http_port}"
    return process, api, BettorEndpoints(api, "127.0.0.1", edge_port, tls=False)


async def history(api: str, token: str) -> list[dict[str, Any]]:
    status, body = await asyncio.to_thread(
        call, api, "GET", "/api/users/alice/history", token=token
    )
    return body["bets"] if status == 200 else []


async def race_is(api: str, state: str) -> Any:
    status, view = await asyncio.to_thread(call, api, "GET", "/admin/races/h-1")
    return view if status == 200 and view["state"] == state else None


async def test_a_settled_bet_is_in_the_history_once_and_survives_a_restart(
    tmp_path: Path, log_environment: dict[str, str]
) -> None:
    path = tmp_path / "history.sqlite3"
    process, api, endpoints = serve(path, log_environment)
    try:
        await asyncio.to_thread(wait_http, f"{api}/readyz", 60)
        runners = [{"runner_id": f"car-{n}", "name": f"Car {n}"} for n in range(3)]
        race = {"race_id": "h-1", "name": "History Cup", "runners": runners,
                "scheduled_start_ms": 0}  # fmt: skip
        assert (await asyncio.to_thread(call, api, "POST", "/admin/races", race))[0] == 202
        await until(lambda: race_is(api, "scheduled"))
        assert (await asyncio.to_thread(call, api, "POST", "/admin/races/h-1/open", {}))[0] == 202
        view = await until(lambda: race_is(api, "open"))
        prices = {r["runner_id"]: r["odds"] for r in view["runners"]}
        bet = {"bet_id": uuid.uuid4().hex, "race_id": "h-1", "runner_id": "car-1",
               "stake_minor": 1_000, "odds": prices["car-1"],
               "odds_version": view["version"]}  # fmt: skip
        realtime = bettor_realtime(endpoints, "alice")
        try:
            channel = realtime.channels.get(bets_channel(bets_shard("alice", 4)))
            await channel.publish("bet", bet)
            await channel.publish("bet", bet)  # a retry: answered with the first outcome
        finally:
            await realtime.close()
        token = (await asyncio.to_thread(sign_in, api, "alice")).api_token
        (row,) = await until(lambda: history(api, token))
        assert (row["bet_id"], row["status"], row["settlement"]) == (
            bet["bet_id"],
            "accepted",
            None,
        )

        for action, body in (("close", {}), ("result", {"placings": ["car-1", "car-0"]})):
            assert (await asyncio.to_thread(call, api, "POST", f"/admin/races/h-1/{action}",
                                            body))[0] == 202  # fmt: skip
            if action == "close":
                await until(lambda: race_is(api, "closed"))

        async def settled() -> Any:
            bets = await history(api, token)
            return bets if bets and bets[0]["settlement"] else None

        (row,) = await until(settled)
        assert row["settlement"]["result"] == "won" and row["settlement"]["payout_minor"] > 1_000
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0

    process, api, _ = serve(path, log_environment)
    try:
        await asyncio.to_thread(wait_http, f"{api}/readyz", 60)
        token = (await asyncio.to_thread(sign_in, api, "alice")).api_token
        assert [b["bet_id"] for b in await until(lambda: history(api, token))] == [bet["bet_id"]]
    finally:
        process.terminate()
        process.wait(30)
