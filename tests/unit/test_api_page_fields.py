"""Read-only fields the pages show: a race's stake limits and the currency, and a bettor's
notification choice as the read model holds it (off until they turn it on); for the console,
the house's figures on a decided race and its list of bets."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from betting import codec
from betting.api.http import build_app
from betting.api.race_reports import house_figures
from betting.api.services import Services
from betting.config import Settings
from betting.domain.events import CreateRace
from betting.domain.model import RaceState, Runner
from betting.domain.risk import RiskParams
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.tasks.views import RaceView, Views

SETTINGS = Settings()


def race_view(race_id: str, risk: RiskParams) -> RaceView:
    race = CreateRace(
        race_id=race_id,
        name="Acceptance Cup",
        runners=(Runner("blue-bolt", "Blue Bolt"), Runner("red-dawn", "Red Dawn")),
        scheduled_start_ms=1_700_000_000_000,
        at_ms=1_699_999_000_000,
        risk=risk,
    )
    header = codec.BookHeader(
        race=race, state=RaceState.OPEN, version=3, in_play=False, placings=(),
        active=(True, True), pending=(),
    )  # fmt: skip
    return RaceView(race_id, header)


@pytest.fixture
async def views_and_api() -> AsyncIterator[tuple[Views, httpx.AsyncClient]]:
    event_log = MemoryLog()
    views = Views(event_log, SETTINGS)
    views.races["race-1"] = race_view(
        "race-1", RiskParams(stake_min_minor=250, stake_max_minor=9_900)
    )
    services = Services(SETTINGS, producer=event_log.producer(), views=views)
    app = build_app(Readiness(), SETTINGS.edge, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield views, client


async def token_of(api: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    answer = await api.post("/auth/token", json={"user_id": user_id})
    return {"Authorization": f"Bearer {answer.json()['api_token']}"}


async def test_a_public_race_names_its_stake_limits(
    views_and_api: tuple[Views, httpx.AsyncClient],
) -> None:
    _, api = views_and_api
    (race,) = (await api.get("/api/races")).json()["races"]
    assert (race["stake_min_minor"], race["stake_max_minor"]) == (250, 9_900)
    assert race["name"] == "Acceptance Cup" and race["runners"][0]["name"] == "Blue Bolt"


async def test_the_config_names_the_currency(
    views_and_api: tuple[Views, httpx.AsyncClient],
) -> None:
    _, api = views_and_api
    assert (await api.get("/api/config")).json()["currency"] == "EUR"


async def test_the_notification_choice_is_off_until_the_log_says_on(
    views_and_api: tuple[Views, httpx.AsyncClient],
) -> None:
    views, api = views_and_api
    path = "/api/users/alice/notifications"
    assert (await api.get(path)).status_code == 401
    assert (await api.get(path, headers=await token_of(api, "mallory"))).status_code == 403
    alice = await token_of(api, "alice")
    answer = await api.get(path, headers=alice)
    assert answer.status_code == 200 and answer.json() == {
        "user_id": "alice",
        "notifications": False,
    }
    assert answer.headers["cache-control"] == "private, no-store"
    views.notifications["alice"] = True
    assert (await api.get(path, headers=alice)).json()["notifications"] is True
    views.notifications["alice"] = False
    assert (await api.get(path, headers=alice)).json()["notifications"] is False
    assert (await api.get("/api/users/alice%0A/notifications", headers=alice)).status_code == 400


ADMIN = {"Authorization": f"Bearer {SETTINGS.admin.token}"}


def test_house_figures_count_accepted_money_only() -> None:
    bets = {
        "b1": {"race_id": "race-1", "status": "won", "stake_minor": 1_000, "payout_minor": 3_500},
        "b2": {"race_id": "race-1", "status": "lost", "stake_minor": 2_000, "payout_minor": 0},
        "b3": {"race_id": "race-1", "status": "rejected", "stake_minor": 9_999},
        "b4": {"race_id": "race-1", "status": "accepted", "stake_minor": 500},
        "b5": {"race_id": "race-2", "status": "won", "stake_minor": 7, "payout_minor": 70},
        "b6": {"race_id": "race-1", "status": "refunded", "stake_minor": 300, "payout_minor": 300},
    }
    assert house_figures(bets, "race-1") == {
        "staked_minor": 3_800,
        "paid_minor": 3_800,
        "house_pnl_minor": 0,
        "settled_bets": 3,
        "unsettled_bets": 1,
    }
    assert house_figures({}, "race-1")["house_pnl_minor"] == 0


async def test_a_decided_race_book_has_the_house_figures(
    views_and_api: tuple[Views, httpx.AsyncClient],
) -> None:
    views, api = views_and_api
    assert "house" not in (await api.get("/admin/races/race-1", headers=ADMIN)).json()
    view = views.races["race-1"]
    view.header = dataclasses.replace(view.header, state=RaceState.SETTLED, placings=("red-dawn",))
    views.bets[("ann", "b1")] = {
        "race_id": "race-1",
        "status": "lost",
        "stake_minor": 1_250,
        "payout_minor": 0,
    }
    book = (await api.get("/admin/races/race-1", headers=ADMIN)).json()
    assert book["placings"] == ["red-dawn"]
    assert book["house"]["house_pnl_minor"] == 1_250 and book["house"]["settled_bets"] == 1


async def test_race_bets_need_the_history_and_a_valid_race_id(
    views_and_api: tuple[Views, httpx.AsyncClient],
) -> None:
    _, api = views_and_api
    assert (await api.get("/admin/races/race-1/bets")).status_code == 401
    assert (await api.get("/admin/races/race-1/bets", headers=ADMIN)).status_code == 503
    assert (await api.get("/admin/races/-x/bets", headers=ADMIN)).status_code == 422
