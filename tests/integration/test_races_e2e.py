"""Races end to end on the real broker and the local edge: admin API, bettors through the
official SDK, a result, settlement, notices, and the money reconciled to the minor unit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from ably.types.message import Message

from betting.channels import odds_channel
from betting.client import BettorEndpoints, bettor_realtime, sign_in
from betting.domain.money import Odds, payout_minor
from tests.integration.kafka_pipeline import pipeline_env
from tests.integration.races_api import (
    TIMEOUT_S,
    TOKEN,
    Bettor,
    Served,
    acall,
    create_open_race,
    race_state,
    until,
)
from tests.support.serve_process import free_port, start_serve, wait_http

pytestmark = pytest.mark.kafka


@pytest.fixture
async def served(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[Served]:
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {
            **pipeline_env(kafka_bootstrap, unique_name),
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_ADMIN__TOKEN": TOKEN,
            "BETTING_ENGINE__RACE_LENGTH_MM": "60000",
        }
    )
    api = f"http://127.0.0.1:{http_port}"
    try:
        await asyncio.to_thread(wait_http, f"{api}/readyz", 60)
        yield Served(api, BettorEndpoints(api, "127.0.0.1", edge_port, tls=False))
    finally:
        process.terminate()
        process.wait(30)


async def test_a_race_from_creation_to_settlement(served: Served) -> None:
    api = served.api
    view = await create_open_race(api, "gp-1")
    prices = {r["runner_id"]: r["odds"] for r in view["runners"]}
    alice, bob = Bettor(served, "alice"), Bettor(served, "bob")
    for bettor in (alice, bob):
        await bettor.start()
    try:
        a_bet = await alice.bet("gp-1", "car-3", prices["car-3"], view["version"], 2_500)
        a_outcome = await alice.next("outcome")
        assert (a_outcome["bet_id"], a_outcome["status"]) == (a_bet, "accepted")
        b_bet = await bob.bet("gp-1", "car-5", "1.01", view["version"], 4_000)
        b_outcome = await bob.next("outcome")
        assert (b_outcome["bet_id"], b_outcome["status"]) == (b_bet, "accepted")

        assert (await acall(api, "POST", "/admin/races/gp-1/close", {}))[0] == 202
        await until(lambda: race_state(api, "gp-1", "closed"))
        assert (
            await acall(api, "POST", "/admin/races/gp-1/result", {"placings": ["car-3", "car-5"]})
        )[0] == 202

        won, notice = await alice.next("settlement"), await alice.next("notice")
        expected = payout_minor(2_500, Odds.parse(a_outcome["odds"]))
        assert (won["result"], won["payout_minor"]) == ("won", expected)
        assert notice["kind"] == "win" and "won" in notice["text"]
        lost = await bob.next("settlement")
        assert (lost["result"], lost["payout_minor"]) == ("lost", 0)
        assert (await bob.next("notice"))["kind"] == "loss"

        settled = await until(lambda: race_state(api, "gp-1", "settled"))
        assert settled["pool_minor"] == 6_500
        runners = {r["runner_id"]: r for r in settled["runners"]}
        assert runners["car-3"]["liability_minor"] == expected - 6_500  # what the house lost
        alice_api = (await asyncio.to_thread(sign_in, api, "alice")).api_token
        assert (await acall(api, "GET", "/api/users/alice/bets", token=None))[0] == 401
        _, bets = await acall(api, "GET", "/api/users/alice/bets", token=alice_api)
        assert [(b["status"], b["payout_minor"]) for b in bets["bets"]] == [("won", expected)]
        _, bet = await acall(api, "GET", f"/admin/users/bob/bets/{b_bet}")
        assert bet["status"] == "lost"
        metrics = (await asyncio.to_thread(wait_http, f"{api}/metrics")).decode()
        assert 'betting_bets_total{outcome="accepted"} 2' in metrics
        assert "betting_edge_connections 2" in metrics
        assert "betting_bet_decision_seconds_count 2" in metrics
        assert "betting_consumer_lag_records 0" in metrics
    finally:
        for bettor in (alice, bob):
            await bettor.realtime.close()


async def test_a_started_race_runs_in_play_and_finishes_by_itself(served: Served) -> None:
    api = served.api
    await create_open_race(api, "gp-2")
    watcher = bettor_realtime(served.endpoints, "carol")
    odds: asyncio.Queue[Message] = asyncio.Queue()
    try:
        await watcher.channels.get(odds_channel("gp-2")).subscribe(odds.put_nowait)
        assert (await acall(api, "POST", "/admin/races/gp-2/start", {"seed": 42}))[0] == 202
        versions, leaders = [], set()
        while True:
            data = (await asyncio.wait_for(odds.get(), TIMEOUT_S)).data
            versions.append(data["version"])
            priced = [(Odds.parse(p), r) for r, p in data["prices"] if p]
            if priced:
                leaders.add(min(priced)[1])
            if data["state"] in ("closed", "resulted", "settled"):
                break
        assert versions == sorted(set(versions)) and len(versions) > 3  # the odds moved in play
        settled = await until(lambda: race_state(api, "gp-2", "settled"))
        assert len(settled["placings"]) == 7
    finally:
        await watcher.close()


def race_body(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "x",
        "runners": [{"runner_id": "a", "name": "A"}],
        "scheduled_start_ms": 0,
    }
    return {**body, **fields}


async def test_admin_refusals_and_bad_input(served: Served) -> None:
    api = served.api
    await create_open_race(api, "gp-3")
    assert (await acall(api, "GET", "/admin/races", token=None))[0] == 401
    assert (await acall(api, "GET", "/admin/races", token="wrong"))[0] == 403
    cases = [
        ("POST", "/admin/races", b"{not json", 400),
        ("POST", "/admin/races", b"[1, 2]", 400),
        ("POST", "/admin/races", b"x" * 70_000, 413),
        ("POST", "/admin/races", race_body(runners=[]), 422),
        ("POST", "/admin/races", race_body(runners=[{"runner_id": "a"}]), 422),
        ("POST", "/admin/races", race_body(scheduled_start_ms=-1), 422),
        ("POST", "/admin/races", race_body(margin_bp=9_999), 422),
        ("POST", "/admin/races", race_body(race_id="gp-3"), 409),
        ("POST", "/admin/races/gp-3/open", {}, 409),  # already open
        ("POST", "/admin/races/gp-3/result", {"placings": []}, 422),
        ("GET", "/admin/commands/never-sent", None, 404),
        ("POST", "/admin/races/gp-3/explode", {}, 404),
        ("POST", "/admin/races/nope/open", {}, 404),
        ("POST", "/admin/races/gp-3/void", {"reason": 7}, 422),
        # One id rule and printable names, as the engine's codec will check them again.
        ("POST", "/admin/races", race_body(race_id="a:b"), 422),
        ("POST", "/admin/races", race_body(race_id="gp-4\n"), 422),
        ("POST", "/admin/races", race_body(name="Cup\nNight"), 422),
        ("POST", "/admin/races", race_body(runners=[{"runner_id": "a", "name": "A\x00"}]), 422),
        ("POST", "/admin/races/gp-3/void", {"reason": "gone\u202e"}, 422),
        ("POST", "/admin/races/gp-3/suspend", {"request_id": []}, 422),
        ("POST", "/admin/races/gp-3/suspend", {"request_id": ""}, 422),
    ]  # fmt: skip
    for method, path, body, status in cases:
        answer = await acall(api, method, path, body)
        assert answer[0] == status, (path, body, answer)
        assert answer[1]["error"]["message"]
    status, spec = await acall(api, "GET", "/admin/openapi.json", token=None)
    assert status == 200 and "/admin/races" in spec["paths"]
    same = {"request_id": "suspend-once"}
    assert (await acall(api, "POST", "/admin/races/gp-3/suspend", same))[0] == 202
    await until(lambda: race_state(api, "gp-3", "suspended"))

    async def applied() -> bool:  # the engine's answer, through the command-results topic
        status, result = await acall(api, "GET", "/admin/commands/suspend-once")
        return status == 200 and (result["status"], result["command"]) == ("applied", "suspend")

    await until(applied)
    assert (await acall(api, "POST", "/admin/races/gp-3/resume", {}))[0] == 202
    await until(lambda: race_state(api, "gp-3", "open"))


async def test_starting_soon_goes_to_users_who_turned_notices_on(served: Served) -> None:
    api = served.api
    dave_api = (await asyncio.to_thread(sign_in, api, "dave")).api_token
    erin_api = (await asyncio.to_thread(sign_in, api, "erin")).api_token
    to_dave, to_erin = "/api/users/dave/notifications", "/api/users/erin/notifications"
    assert (await acall(api, "POST", to_dave, {"enabled": True}, token=None))[0] == 401
    assert (await acall(api, "POST", to_dave, {"enabled": True}, token=erin_api))[0] == 403
    assert (await acall(api, "POST", to_dave, {"enabled": "yes"}, token=dave_api))[0] == 422
    assert (await acall(api, "POST", to_dave, {"enabled": True}, token=dave_api))[0] == 200
    assert (await acall(api, "POST", to_erin, {"enabled": False}, token=erin_api))[0] == 200
    dave, erin = Bettor(served, "dave"), Bettor(served, "erin")
    for bettor in (dave, erin):
        await bettor.start()
    try:
        soon = int(time.time() * 1000) + 30_000
        body = race_body(race_id="gp-4", name="Sprint", scheduled_start_ms=soon)
        assert (await acall(api, "POST", "/admin/races", body))[0] == 202
        notice = await dave.next("notice")
        assert (notice["kind"], notice["race_id"]) == ("starting_soon", "gp-4")
        assert "Sprint starts in" in notice["text"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(erin.next("notice"), 3)
    finally:
        for bettor in (dave, erin):
            await bettor.realtime.close()
