"""On the embedded default (in-memory log, local edge), as an operator and bettors see it:
every admin command's fate can be looked up by its request id, a result naming runners the
race does not have is refused at once, and /metrics and /admin/stats count every bet sent."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from betting.client import BettorEndpoints
from betting.domain.money import Odds
from tests.integration.races_api import (
    TOKEN,
    Bettor,
    Served,
    acall,
    create_open_race,
    race_state,
    until,
)
from tests.support.exposition import check_exposition
from tests.support.serve_process import free_port, serve_log, start_serve, wait_http

RUNNER_LIABILITY_MAX = 100_000


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_ADMIN__TOKEN": TOKEN,
            "BETTING_RISK__LATE_WINDOW_MS": "0",  # any replaced version is LATE
            "BETTING_RISK__RUNNER_LIABILITY_MAX_MINOR": str(RUNNER_LIABILITY_MAX),
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


async def result_of(api: str, answer: tuple[int, Any]) -> dict[str, Any]:
    """Follow a 202 to the command's result, until the engine has answered it."""
    status, body = answer
    assert status == 202, body
    assert body["status"] == "pending" and body["result"] == f"/admin/commands/{body['request_id']}"

    async def answered() -> dict[str, Any] | None:
        status, result = await acall(api, "GET", body["result"])
        assert status == 200, result
        return result if result["status"] != "pending" else None

    result: dict[str, Any] = await until(answered)
    assert result["request_id"] == body["request_id"]
    return result


async def at_once(api: str, path: str, body: object) -> list[tuple[int, Any]]:
    """The same command twice at once, under two request ids: the second passes the API's
    check against a read model that has not seen the first yet, and meets the engine's."""
    return list(
        await asyncio.gather(acall(api, "POST", path, body), acall(api, "POST", path, body))
    )


def both_accepted(answers: list[tuple[int, Any]]) -> bool:
    """Both passed the API's check; if not, one did (whichever the server took first)."""
    assert sorted(status for status, _ in answers) in ([202, 202], [202, 409]), answers
    return all(status == 202 for status, _ in answers)


async def one_refused(api: str, answers: list[tuple[int, Any]]) -> dict[str, Any]:
    results = [await result_of(api, answer) for answer in answers]
    assert sorted(result["status"] for result in results) == ["applied", "refused"], results
    return next(result for result in results if result["status"] == "refused")


async def closed_race(api: str, race_id: str) -> None:
    runners = [{"runner_id": f"car-{n}", "name": f"Car {n}"} for n in range(3)]
    body = {"race_id": race_id, "name": "Cup", "runners": runners, "scheduled_start_ms": 0}
    await result_of(api, await acall(api, "POST", "/admin/races", body))
    for action in ("open", "close"):
        await result_of(api, await acall(api, "POST", f"/admin/races/{race_id}/{action}", {}))
    await until(lambda: race_state(api, race_id, "closed"))


async def test_every_command_can_be_looked_up_applied_or_refused_with_the_reason(
    served: Served,
) -> None:
    api = served.api
    runners = [{"runner_id": f"car-{n}", "name": f"Car {n}"} for n in range(3)]
    create = {"race_id": "r-1", "name": "Cup", "runners": runners, "scheduled_start_ms": 0}
    created = await acall(api, "POST", "/admin/races", {**create, "request_id": "create-r-1"})
    assert created[1]["request_id"] == "create-r-1"
    assert (await result_of(api, created))["status"] == "applied"
    open_once = {"request_id": "open-r-1"}
    opened = await result_of(api, await acall(api, "POST", "/admin/races/r-1/open", open_once))
    assert (opened["status"], opened["command"], opened["race_id"]) == ("applied", "open", "r-1")
    await until(lambda: race_state(api, "r-1", "open"))
    # A retry is answered as the first was, not refused for the state the first brought about.
    status, again = await acall(api, "POST", "/admin/races/r-1/open", open_once)
    assert (status, again["status"], again["request_id"]) == (202, "applied", "open-r-1")
    status, reused = await acall(api, "POST", "/admin/races/r-1/suspend", open_once)
    assert status == 409 and "open-r-1" in reused["error"]["message"]

    # Suspended twice at once: the engine refuses the second, and says why.
    for _ in range(20):
        answers = await at_once(api, "/admin/races/r-1/suspend", {})
        if both_accepted(answers):
            break
        await result_of(api, next(a for a in answers if a[0] == 202))  # the model was quicker
        await until(lambda: race_state(api, "r-1", "suspended"))
        await result_of(api, await acall(api, "POST", "/admin/races/r-1/resume", {}))
        await until(lambda: race_state(api, "r-1", "open"))
    refused = await one_refused(api, answers)
    assert refused["reason"] == "ILLEGAL_TRANSITION"
    assert refused["detail"] == "race r-1: cannot suspend race when suspended"

    await until(lambda: race_state(api, "r-1", "suspended"))
    await result_of(api, await acall(api, "POST", "/admin/races/r-1/close", {}))
    await until(lambda: race_state(api, "r-1", "closed"))
    for placings, message in [
        (["car-0", "car-9"], "placings[1]: the race has no runner 'car-9'"),
        (["car-1", "car-1"], "placings[1]: runner 'car-1' is placed twice"),
        (["car-1\n"], "placings[]: expected 1 to 128 ASCII"),
        ([], "placings: a list of runner ids"),
        ("car-1", "placings: a list of runner ids"),
    ]:
        status, body = await acall(api, "POST", "/admin/races/r-1/result", {"placings": placings})
        assert (status, body["error"]["message"][: len(message)]) == (422, message), placings

    # Resulted twice at once: the race is settled by the time the second arrives.
    result = {"placings": ["car-2", "car-0"]}
    answers = await at_once(api, "/admin/races/r-1/result", result)
    for attempt in range(20):
        if both_accepted(answers):
            break
        await closed_race(api, f"again-{attempt}")  # the read model was quicker: another race
        answers = await at_once(api, f"/admin/races/again-{attempt}/result", result)
    refused = await one_refused(api, answers)
    assert refused["reason"] == "ILLEGAL_TRANSITION" and refused["command"] == "result"
    assert re.fullmatch(r"race \S+: cannot result race when (resulted|settled)", refused["detail"])
    settled = await until(lambda: race_state(api, "r-1", "settled"))
    assert settled["placings"] == ["car-2", "car-0"]
    status, body = await acall(api, "POST", "/admin/races/r-1/open", {})
    assert status == 409 and "cannot open" in body["error"]["message"]

    # A retry under the same request id: applied once, answered again.
    status, again = await acall(api, "POST", "/admin/races", {**create, "request_id": "create-r-1"})
    assert (status, again["status"]) == (202, "applied")
    assert (await acall(api, "POST", "/admin/races", create))[0] == 409  # a new create: exists
    status, unknown = await acall(api, "GET", "/admin/commands/never-sent")
    assert status == 404 and "never-sent" in unknown["error"]["message"]
    bad = urllib.parse.quote("²")
    assert (await acall(api, "GET", f"/admin/commands/{bad}"))[0] == 422
    assert (await acall(api, "GET", "/admin/commands/create-r-1", token=None))[0] == 401
    status, spec = await acall(api, "GET", "/admin/openapi.json", token=None)
    assert "/admin/commands/{request_id}" in spec["paths"]
    assert "CommandResult" in spec["components"]["schemas"]

    families = await metric_families(api)
    commands = {labels["outcome"]: value for labels, value in families["betting_race_commands"]}
    assert commands["ILLEGAL_TRANSITION"] >= 1 and commands["applied"] >= 5


async def metric_families(api: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = (await asyncio.to_thread(wait_http, f"{api}/metrics")).decode()
    list(text_string_to_metric_families(text))  # the reference parser takes it
    return check_exposition(text)


async def test_metrics_and_stats_count_exactly_the_bets_sent(served: Served) -> None:
    api = served.api
    view = await create_open_race(api, "mix")
    scheduled = {"race_id": "later", "name": "Later", "scheduled_start_ms": 0,
                 "runners": [{"runner_id": "car-0", "name": "Car"}]}  # fmt: skip
    assert (await acall(api, "POST", "/admin/races", scheduled))[0] == 202
    await until(lambda: race_state(api, "later", "scheduled"))
    bettor = Bettor(served, "mixer")
    await bettor.start()
    try:
        sent: Counter[str] = Counter()

        async def expect(reason: str, race: str, runner: str, odds: str, version: int,
                         stake: object) -> None:  # fmt: skip
            bet_id = await bettor.bet(race, runner, odds, version, stake)  # type: ignore[arg-type]
            outcome = await bettor.next("outcome")
            assert outcome["bet_id"] == bet_id
            assert (outcome["reason"] or "accepted") == reason, outcome
            sent[reason] += 1

        # The favourite: a 10.00 stake on the longest price would pass the liability limit.
        fav = min(range(len(view["runners"])), key=lambda n: Odds.parse(view["runners"][n]["odds"]))
        runner = view["runners"][fav]["runner_id"]
        price, first = view["runners"][fav]["odds"], view["version"]
        await expect("accepted", "mix", runner, price, first, 1_000)
        moved = await until(lambda: newer(api, "mix", first))
        await asyncio.sleep(0.05)  # a millisecond or more after the version was replaced
        now, now_price = moved["version"], moved["runners"][fav]["odds"]
        longest = moved["runners"][0]  # car-0, the lowest rating: the longest price
        await expect("LATE", "mix", runner, price, first, 1_000)
        await expect("STAKE_TOO_LOW", "mix", runner, now_price, now, 1)
        await expect("STAKE_TOO_HIGH", "mix", runner, now_price, now, 10**9)
        await expect("UNKNOWN_RUNNER", "mix", "car-99", now_price, now, 1_000)
        await expect("ODDS_CHANGED", "mix", runner, "1000", now, 1_000)
        await expect("LIABILITY_LIMIT", "mix", "car-0", longest["odds"], now, RUNNER_LIABILITY_MAX)
        await expect("INVALID", "mix", runner, now_price, now + 5, 1_000)  # no such version
        await expect("INVALID", "mix", runner, now_price, now, "lots")  # does not decode
        await expect("RACE_NOT_OPEN", "later", "car-0", "2.00", 1, 1_000)
        await expect("RACE_NOT_OPEN", "no-such-race", "car-0", "2.00", 1, 1_000)
        await expect("accepted", "mix", runner, "1.01", now, 1_000)
    finally:
        await bettor.realtime.close()
    assert sum(sent.values()) == 12

    families = await metric_families(api)
    counted = {labels["outcome"]: value for labels, value in families["betting_bets"]}
    assert counted == {reason: float(n) for reason, n in sent.items()}

    async def stats_agree() -> dict[str, Any] | None:
        _, stats = await acall(api, "GET", "/admin/stats")
        total = {"accepted": stats["accepted"], **stats["rejected"]}
        return stats if total == dict(sent) else None

    stats = await until(stats_agree)
    assert stats["decided"] == 12 and stats["acceptance_rate"] == 2 / 12


async def newer(api: str, race_id: str, version: int) -> dict[str, Any] | None:
    status, view = await acall(api, "GET", f"/admin/races/{race_id}")
    return view if status == 200 and view["version"] > version else None
