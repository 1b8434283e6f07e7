"""GET /api/users/{user_id}/history: a bettor's bets from the history database, page by page,
with their own credential only; hostile cursors and limits are refused by name."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from betting.api.bearer import issue_credential
from betting.api.http import build_app
from betting.api.services import Services
from betting.config import Settings
from betting.health import Readiness
from betting.history.store import Batch, HistoryStore
from tests.history.support import BET_RESULTS, ON_BOTH, bet_row, outcome

SETTINGS = Settings()


def bearer(user_id: str) -> dict[str, str]:
    now_ms = time.time_ns() // 10**6
    credential = issue_credential(SETTINGS.edge.api_key, user_id, now_ms + 60_000)
    return {"Authorization": f"Bearer {credential.token}"}


@pytest.fixture
async def api(store: HistoryStore) -> AsyncIterator[httpx.AsyncClient]:
    bets = [bet_row(outcome("alice", f"a{n}", decided_at_ms=100 + n), 0, n) for n in range(5)]
    bets.append(bet_row(outcome("bob", "b1"), 0, 5))
    await store.write(Batch({(BET_RESULTS, 0): 6}, bets=bets))
    app = build_app(Readiness(), SETTINGS.edge, Services(SETTINGS, history=store))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@ON_BOTH
async def test_a_bettor_pages_through_their_own_history(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        answer = await api.get("/api/users/alice/history", params=params, headers=bearer("alice"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "private, no-store"
        body = answer.json()
        seen += [bet["bet_id"] for bet in body["bets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["a4", "a3", "a2", "a1", "a0"]


@ON_BOTH
async def test_history_is_the_bettors_own(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/users/alice/history")).status_code == 401
    answer = await api.get("/api/users/alice/history", headers=bearer("bob"))
    assert answer.status_code == 403


@ON_BOTH
@pytest.mark.parametrize(
    ("query", "named"),
    [("cursor=", "cursor"), ("cursor=1.a%20b", "cursor"), ("cursor=%00", "cursor"),
     ("cursor=" + "9" * 5000, "cursor"), ("limit=0", "limit"), ("limit=100000", "limit"),
     ("limit=1e3", "limit"), ("limit=%EF%BC%91", "limit")],
)  # fmt: skip
async def test_a_hostile_cursor_or_limit_is_refused_by_name(
    api: httpx.AsyncClient, query: str, named: str
) -> None:
    answer = await api.get(f"/api/users/alice/history?{query}", headers=bearer("alice"))
    assert answer.status_code == 400
    assert named in answer.json()["error"]["message"]


async def test_without_a_history_database_the_answer_is_503() -> None:
    app = build_app(Readiness(), SETTINGS.edge, Services(SETTINGS))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.get("/api/users/alice/history", headers=bearer("alice"))
    assert answer.status_code == 503
