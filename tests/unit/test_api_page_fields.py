"""Read-only fields the pages show: a race's stake limits and the currency, and a bettor's
notification choice as the read model holds it (off until they turn it on)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from betting import codec
from betting.api.http import build_app
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
