"""The public API's answers belong to their user: a bettor's bets and notification choice need
the credential `/auth/token` issued for that user. And one id rule: whatever `/auth/token`
accepts as a user id, the public endpoints accept, and whatever it refuses, they refuse."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from betting.api.bearer import CredentialRefused, issue_credential, verify_credential
from betting.api.http import build_app
from betting.api.metrics import MetricSources
from betting.api.services import Services
from betting.config import Settings
from betting.domain.ids import is_valid_id
from betting.edge.port import InboundMessage
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.tasks.bets_in import EnvelopeRefused, envelope
from betting.tasks.views import Views

SETTINGS = Settings()
KEY = SETTINGS.edge.api_key


def services_with_bets() -> tuple[Services, MemoryLog]:
    event_log = MemoryLog()
    views = Views(event_log, SETTINGS)
    views.bets = {("alice", "b-1"): {"bet_id": "b-1", "user_id": "alice"}}
    views.user_bets = {"alice": ["b-1"]}
    return Services(SETTINGS, producer=event_log.producer(), views=views), event_log


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    services, _ = services_with_bets()
    app = build_app(Readiness(), SETTINGS.edge, services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client


async def sign_in(api: httpx.AsyncClient, user_id: object) -> httpx.Response:
    return await api.post("/auth/token", content=orjson.dumps({"user_id": user_id}))


def bearer(token: str) -> dict[bytes, bytes]:
    return {b"Authorization": f"Bearer {token}".encode()}  # bytes: hostile ones need not be ASCII


async def test_sign_in_answers_a_token_request_and_an_api_credential(
    api: httpx.AsyncClient,
) -> None:
    answer = await sign_in(api, "alice")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_request"]["clientId"] == "alice" and body["token_request"]["mac"]
    assert body["api_token_expires_ms"] > time.time() * 1000
    assert KEY.partition(":")[2] not in answer.text


async def test_bets_are_for_their_owner_only(api: httpx.AsyncClient) -> None:
    alice = (await sign_in(api, "alice")).json()["api_token"]
    mallory = (await sign_in(api, "mallory")).json()["api_token"]
    path = "/api/users/alice/bets"
    mine = await api.get(path, headers=bearer(alice))
    assert mine.status_code == 200 and mine.json()["bets"] == [
        {"bet_id": "b-1", "user_id": "alice"}
    ]
    assert mine.headers["cache-control"] == "private, no-store"
    nobody = await api.get(path)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Bearer")
    assert (await api.get(path, headers=bearer(mallory))).status_code == 403
    expired = issue_credential(KEY, "alice", int(time.time() * 1000) - 1).token
    forged_user = alice.replace("alice", "bob", 1)
    other_key = issue_credential("other.key:other-secret", "alice", 2**40).token
    for refused in [expired, forged_user, other_key, "garbage", "a:b:c:d", "alice:²:x", "é" * 9]:
        answer = await api.get(path, headers=bearer(refused))
        assert answer.status_code == 401, refused
        assert answer.json()["error"]["message"]
    assert (await api.get(path, headers={"Authorization": f"Basic {alice}"})).status_code == 401


async def test_notifications_are_switched_by_their_owner_only(api: httpx.AsyncClient) -> None:
    alice = (await sign_in(api, "alice")).json()["api_token"]
    mallory = (await sign_in(api, "mallory")).json()["api_token"]
    path, on = "/api/users/alice/notifications", {"enabled": True}
    assert (await api.post(path, json=on)).status_code == 401
    assert (await api.post(path, json=on, headers=bearer(mallory))).status_code == 403
    answer = await api.post(path, json=on, headers=bearer(alice))
    assert answer.status_code == 200 and answer.json() == {
        "user_id": "alice",
        "notifications": True,
    }
    assert (await api.post(path, json={"enabled": "yes"}, headers=bearer(alice))).status_code == 422


ids = st.one_of(
    st.text(max_size=140),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,130}", fullmatch=True),
    st.sampled_from(["alice\n", "x@example.com", "a:b", "a*", "²", " alice", "A" * 128]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=ids)
async def test_sign_in_and_the_public_endpoints_agree_on_every_id(user_id: str) -> None:
    services, _ = services_with_bets()
    app = build_app(Readiness(), SETTINGS.edge, services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as api:
        signed_in = await sign_in(api, user_id)
        assert signed_in.status_code in (200, 400)
        assert (signed_in.status_code == 200) == is_valid_id(user_id)
        token = (
            signed_in.json()["api_token"]
            if signed_in.status_code == 200
            else (await sign_in(api, "someone")).json()["api_token"]
        )
        path = f"/api/users/{quote(user_id, safe='')}"
        bets = await api.get(f"{path}/bets", headers=bearer(token))
        notify = await api.post(
            f"{path}/notifications", json={"enabled": False}, headers=bearer(token)
        )
        if signed_in.status_code == 200:
            assert (bets.status_code, notify.status_code) == (200, 200)
            assert notify.json()["user_id"] == user_id
        else:
            # Refused for the id itself (a path holding "/" or nothing matches no route).
            assert bets.status_code in (400, 404) and notify.status_code in (400, 404)
            assert bets.status_code == notify.status_code


@given(client_id=ids)
def test_bets_in_takes_bets_only_from_users_the_id_rule_admits(client_id: str) -> None:
    message = InboundMessage(
        id="m-1",
        name="bet",
        data={"bet_id": "b-1", "race_id": "r-1"},
        client_id=client_id,
        connection_id="c-1",
        timestamp_ms=0,
    )
    if is_valid_id(client_id):
        assert envelope(message)["bet_id"] == "b-1"
    else:
        with pytest.raises(EnvelopeRefused):
            envelope(message)


@given(token=st.text(max_size=300))
def test_any_text_as_a_credential_is_refused_or_names_a_valid_user(token: str) -> None:
    try:
        user_id = verify_credential(KEY, token, int(time.time() * 1000))
    except CredentialRefused:
        return
    assert is_valid_id(user_id)  # only what the server issued can get here


@given(user_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}", fullmatch=True))
def test_a_credential_names_the_user_it_was_issued_to(user_id: str) -> None:
    now = int(time.time() * 1000)
    credential = issue_credential(KEY, user_id, now + 60_000)
    assert verify_credential(KEY, credential.token, now) == user_id
    with pytest.raises(CredentialRefused):
        verify_credential(KEY, credential.token, now + 60_000)
    with pytest.raises(CredentialRefused):
        verify_credential("other:secret", credential.token, now)


async def test_refusals_are_counted_in_metrics_by_status() -> None:
    """Client mistakes are counted, not logged: every 4xx the HTTP APIs answer."""
    services, _ = services_with_bets()
    app = build_app(Readiness(), SETTINGS.edge, services, MetricSources())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as api:
        bob = (await sign_in(api, "bob")).json()["api_token"]
        assert (await api.get("/api/users/alice/bets")).status_code == 401
        assert (await api.get("/api/users/alice/bets", headers=bearer(bob))).status_code == 403
        assert (await api.get("/api/users/alice/bets", headers=bearer("x"))).status_code == 401
        assert (await sign_in(api, "alice\n")).status_code == 400
        assert (await api.get("/no/such/page")).status_code == 404
        text = (await api.get("/metrics")).text
    samples = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "betting_http_refusals"
        for sample in family.samples
    }
    assert samples == {"400": 1, "401": 2, "403": 1, "404": 1}
