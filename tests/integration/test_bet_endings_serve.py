"""The attacks on bet identity and the ends of a bet, played against `serve` on the embedded
default (in-memory log, local edge) by bettors on the official ably SDK:

- bob reuses alice's bet id on another race, and mallory on alice's own race: each gets
  their own outcome and alice's bet is untouched;
- two users use one bet id on one race: both get an outcome;
- the same bet sent again gets its first outcome; the same id with another stake is refused
  BET_ID_REUSED and the first bet stands;
- a withdrawn runner's bets are refunded at once, with a notice;
- a void race refunds every accepted stake, with a notice to each bettor;
- a result with a dead heat pays the tied winner on half the stake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from betting.client import BettorEndpoints, sign_in
from betting.domain.money import Odds, payout_minor
from tests.integration.races_api import (
    TOKEN,
    Bettor,
    Served,
    acall,
    create_open_race,
    race_state,
    until,
)
from tests.support.serve_process import free_port, serve_log, start_serve, wait_http


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_ADMIN__TOKEN": TOKEN,
            "BETTING_HISTORY__KIND": "none",
            "BETTING_RISK__ODDS_TOLERANCE_TICKS": "100",  # prices move as bets come in
        }
    )
    api = f"http://127.0.0.1:{http_port}"
    try:
        await asyncio.to_thread(wait_http, f"{api}/readyz", 60)
        yield Served(api, BettorEndpoints(api, "127.0.0.1", edge_port, tls=False))
    finally:
        process.terminate()
        process.wait(30)
    log = serve_log(process)
    assert b"Traceback" not in log and b'"level":"error"' not in log, log.decode()[-3000:]


async def bet(
    bettor: Bettor, view: dict[str, Any], runner_id: str, stake: int, bet_id: str
) -> dict[str, Any]:
    """A bet at the price shown (or longer, within the tolerance), and its outcome."""
    await bettor.bet(view["race_id"], runner_id, "1.01", view["version"], stake, bet_id)
    outcome = await bettor.next("outcome")
    assert (outcome["bet_id"], outcome["user_id"], outcome["race_id"]) == (
        bet_id, bettor.user_id, view["race_id"],
    )  # fmt: skip
    return outcome


async def bets_of(served: Served, user_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    token = (await asyncio.to_thread(sign_in, served.api, user_id)).api_token
    status, body = await acall(served.api, "GET", f"/api/users/{user_id}/bets", token=token)
    assert status == 200
    return {(b["race_id"], b["bet_id"]): b for b in body["bets"]}


async def settled(bettor: Bettor) -> tuple[dict[str, Any], dict[str, Any]]:
    return await bettor.next("settlement"), await bettor.next("notice")


async def test_the_attacks_on_bet_identity_and_every_end_of_a_bet(served: Served) -> None:
    api = served.api
    gp_a, gp_b = await create_open_race(api, "gp-a"), await create_open_race(api, "gp-b")
    names = ("alice", "bob", "mallory", "carol", "dave")
    alice, bob, mallory, carol, dave = bettors = [Bettor(served, name) for name in names]
    for bettor in bettors:
        await bettor.start()
    try:
        first = await bet(alice, gp_a, "car-1", 2_000, "shared-1")
        assert first["status"] == "accepted"
        # bob on another race, mallory on alice's race, under alice's bet id: their own bets.
        bob_b = await bet(bob, gp_b, "car-2", 3_000, "shared-1")
        mallory_a = await bet(mallory, gp_a, "car-3", 1_500, "shared-1")
        assert bob_b["status"] == mallory_a["status"] == "accepted"
        # Two users, one id, one race: each gets an outcome.
        carol_a = await bet(carol, gp_a, "car-4", 1_000, "c-1")
        dave_a = await bet(dave, gp_a, "car-4", 1_200, "c-1")
        assert carol_a["status"] == dave_a["status"] == "accepted"
        # alice again: the same bet gets its first outcome; another stake is refused.
        assert await bet(alice, gp_a, "car-1", 2_000, "shared-1") == first
        reused = await bet(alice, gp_a, "car-1", 9_999, "shared-1")
        assert (reused["status"], reused["reason"]) == ("rejected", "BET_ID_REUSED")
        mine = await bets_of(served, "alice")
        assert list(mine) == [("gp-a", "shared-1")]
        kept = mine[("gp-a", "shared-1")]
        assert (kept["stake_minor"], kept["status"]) == (2_000, "accepted")
        status, admin_view = await acall(api, "GET", "/admin/users/bob/bets/shared-1")
        assert status == 200 and (admin_view["race_id"], admin_view["stake_minor"]) == (
            "gp-b",
            3_000,
        )

        # A withdrawal refunds its runner's bets at once (mallory's), with a notice.
        body = {"runner_id": "car-3"}
        assert (await acall(api, "POST", "/admin/races/gp-a/withdraw", body))[0] == 202
        refund, notice = await settled(mallory)
        assert (refund["bet_id"], refund["race_id"], refund["result"]) == (
            "shared-1", "gp-a", "refunded",
        )  # fmt: skip
        assert refund["payout_minor"] == 1_500 and notice["kind"] == "refund"
        assert (await acall(api, "POST", "/admin/races/gp-a/withdraw", body))[0] == 409

        # The void race refunds every accepted stake still standing, each with a notice.
        assert (await acall(api, "POST", "/admin/races/gp-a/void", {"reason": "fog"}))[0] == 202
        for bettor, stake, bet_id in ((alice, 2_000, "shared-1"), (carol, 1_000, "c-1"),
                                      (dave, 1_200, "c-1")):  # fmt: skip
            refund, notice = await settled(bettor)
            assert (refund["bet_id"], refund["race_id"], refund["result"]) == (
                bet_id, "gp-a", "refunded",
            )  # fmt: skip
            assert refund["payout_minor"] == refund["stake_minor"] == stake
            assert notice["kind"] == "refund" and "refunded" in notice["text"]
        await until(lambda: race_state(api, "gp-a", "void"))

        # gp-b: bob's runner dead-heats for first with car-0: half his stake at full odds.
        assert (await acall(api, "POST", "/admin/races/gp-b/close", {}))[0] == 202
        await until(lambda: race_state(api, "gp-b", "closed"))
        bad = {"placings": ["car-2", "car-1", "car-0"], "dead_heats": [["car-2", "car-0"]]}
        assert (await acall(api, "POST", "/admin/races/gp-b/result", bad))[0] == 422
        result = {"placings": ["car-2", "car-0", "car-1"], "dead_heats": [["car-2", "car-0"]]}
        assert (await acall(api, "POST", "/admin/races/gp-b/result", result))[0] == 202
        won, notice = await settled(bob)
        expected = payout_minor(1_500, Odds.parse(bob_b["odds"]))
        assert (won["bet_id"], won["race_id"], won["result"]) == ("shared-1", "gp-b", "won")
        assert (won["payout_minor"], won["dead_heat_ways"]) == (expected, 2)
        assert notice["kind"] == "win"

        # Each bettor's list holds their own bet, as it ended.
        async def ended() -> bool:
            lists = {name: await bets_of(served, name) for name in names}
            return {
                name: [(key, b["status"], b["payout_minor"]) for key, b in bets.items()]
                for name, bets in lists.items()
            } == {
                "alice": [(("gp-a", "shared-1"), "refunded", 2_000)],
                "bob": [(("gp-b", "shared-1"), "won", expected)],
                "mallory": [(("gp-a", "shared-1"), "refunded", 1_500)],
                "carol": [(("gp-a", "c-1"), "refunded", 1_000)],
                "dave": [(("gp-a", "c-1"), "refunded", 1_200)],
            }

        await until(ended)
    finally:
        for bettor in bettors:
            await bettor.realtime.close()
