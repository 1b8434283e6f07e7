"""Who a connection is, and for how long: resume takeover, replayed and stale token requests,
expiring tokens renewed through the official SDK (authCallback and authUrl), or cut at expiry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets
from ably import AblyException, AblyRealtime, AblyRest
from ably.types.message import Message
from ably.types.tokendetails import TokenDetails
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from betting.api.http import Server, http_server
from betting.edge.local import LocalEdge
from betting.edge.local.testing import BETTOR_KEY, connected, connection_id, running_edge
from betting.edge.port import OutboundMessage
from betting.edge.token_request import signed_token_request

TIMEOUT_S = 10.0
CAPABILITY = {"race:*": ["subscribe"], "bets:*": ["publish"]}
SHORT_TTL_MS = 3_000


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def token_request(client_id: str, ttl_ms: int = 3_600_000, **fields: Any) -> dict[str, Any]:
    """Signed with the key, so only what is checked after the signature can refuse it."""
    signed = signed_token_request(BETTOR_KEY, client_id, CAPABILITY, now_ms(), ttl_ms)
    if fields:
        merged = {**signed, **fields}
        signed = signed_token_request(
            BETTOR_KEY,
            client_id,
            CAPABILITY,
            merged["timestamp"],
            merged["ttl"],
            nonce=merged["nonce"],
        )
    return signed


def rest_for(edge: LocalEdge) -> AblyRest:
    return AblyRest(
        key=BETTOR_KEY, endpoint="127.0.0.1", port=edge.port, tls=False, use_token_auth=True
    )


async def exchange(rest: AblyRest, request: dict[str, Any]) -> TokenDetails:
    """The SDK's own REST exchange of a signed TokenRequest for a token."""

    async def give(_params: dict[str, Any]) -> dict[str, Any]:
        return request

    details: TokenDetails = await rest.auth.request_token(auth_callback=give)
    return details


@contextlib.asynccontextmanager
async def realtime_of(edge: LocalEdge, **options: Any) -> AsyncIterator[AblyRealtime]:
    realtime = AblyRealtime(endpoint=f"127.0.0.1:{edge.port}", tls=False, **options)
    try:
        yield realtime
    finally:
        await realtime.close()


def renewing_callback(
    rest: AblyRest, client_id: str, ttl_ms: int, calls: list[int]
) -> Callable[[dict[str, Any]], Any]:
    async def callback(_params: dict[str, Any]) -> TokenDetails:
        calls.append(now_ms())
        return await exchange(rest, token_request(client_id, ttl_ms))

    return callback


def next_settled(realtime: AblyRealtime) -> asyncio.Future[Any]:
    """The next change to connected or failed (the end of a connection attempt)."""
    changed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_change(change: Any) -> None:
        if change.current.value in ("connected", "failed") and not changed.done():
            changed.set_result(change)

    realtime.connection.on(on_change)
    return changed


def states_of(realtime: AblyRealtime) -> list[str]:
    states: list[str] = []
    realtime.connection.on(lambda change: states.append(change.current.value))
    return states


def connection_key(realtime: AblyRealtime) -> str:
    details = realtime.connection.connection_details
    assert details is not None
    key: str = details.connection_key
    return key


# Connection takeover


async def test_resume_with_another_users_key_gets_a_new_connection(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    bob_calls: list[int] = []
    async with realtime_of(
        edge, auth_callback=renewing_callback(rest, "bob", 3_600_000, bob_calls)
    ) as bob:
        await connected(bob)
        bob_id, bob_key = connection_id(bob), connection_key(bob)
        for forged in (bob_key, f"{bob_id}!forged-secret", bob_id, "no-such!key", "é" * 300):
            alice_calls: list[int] = []
            async with realtime_of(
                edge,
                auth_callback=renewing_callback(rest, "alice", 3_600_000, alice_calls),
                transport_params={"resume": forged},
            ) as alice:
                change = await asyncio.wait_for(next_settled(alice), TIMEOUT_S)
                assert change.current.value == "connected", (forged, change.reason)
                assert change.reason is not None and change.reason.code in (80008, 80018)
                alice_id = connection_id(alice)
                assert alice_id != bob_id
                assert edge.hub.connections[alice_id].client_id == "alice"
                assert alice.auth.client_id == "alice"
            # Bob never noticed: same connection, same socket, still bob's.
            assert bob.connection.state.value == "connected" and connection_id(bob) == bob_id
            assert edge.hub.connections[bob_id].client_id == "bob"
            assert edge.hub.connections[bob_id].sink is not None
        assert len(bob_calls) == 1
    await rest.close()


async def test_resume_with_a_renewed_token_of_the_same_client_keeps_the_connection(
    edge: LocalEdge,
) -> None:
    rest = rest_for(edge)
    calls: list[int] = []
    async with realtime_of(
        edge, auth_callback=renewing_callback(rest, "carol", 3_600_000, calls)
    ) as carol:
        await connected(carol)
        before = connection_id(carol)
        resumed = next_settled(carol)
        assert edge.drop_connection(before) == 1
        change = await asyncio.wait_for(resumed, TIMEOUT_S)
        assert change.current.value == "connected" and change.reason is None
        assert connection_id(carol) == before
    await rest.close()


# Token requests: once only, and only while current


async def test_a_token_request_is_exchanged_once(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    request = token_request("alice")
    assert (await exchange(rest, request)).client_id == "alice"
    with pytest.raises(AblyException) as replayed:
        await exchange(rest, request)
    assert (replayed.value.code, replayed.value.status_code) == (40105, 401)
    assert (await exchange(rest, token_request("alice"))).client_id == "alice"
    await rest.close()


@pytest.mark.parametrize("skew_ms", [-7_200_000, -700_000, 700_000, 7_200_000])
async def test_a_stale_or_future_token_request_is_refused(edge: LocalEdge, skew_ms: int) -> None:
    rest = rest_for(edge)
    with pytest.raises(AblyException) as refused:
        await exchange(rest, token_request("alice", timestamp=now_ms() + skew_ms))
    assert (refused.value.code, refused.value.status_code) == (40104, 401)
    await rest.close()


@pytest.mark.parametrize(
    "fields",
    [{"timestamp": "1²"}, {"timestamp": "9" * 5_000}, {"nonce": "short"}, {"nonce": "x" * 300}],
)
async def test_a_malformed_token_request_is_refused_with_a_reason(
    edge: LocalEdge, fields: dict[str, Any]
) -> None:
    body = token_request("alice", **fields)
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"http://127.0.0.1:{edge.port}/keys/test.bettor/requestToken", json=body
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == 40000


# Tokens that expire on an open connection


async def subscribed(realtime: AblyRealtime, channel: str) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    await realtime.channels.get(channel).subscribe(queue.put_nowait)
    return queue


async def keeps_hearing(edge: LocalEdge, queue: asyncio.Queue[Message], label: str) -> None:
    await edge.publish("race:1", [OutboundMessage(name="odds", data=label)])
    message = await asyncio.wait_for(queue.get(), TIMEOUT_S)
    assert message.data == label


async def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_the_sdk_renews_through_auth_callback_when_asked(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    calls: list[int] = []
    async with realtime_of(
        edge, auth_callback=renewing_callback(rest, "alice", SHORT_TTL_MS, calls)
    ) as alice:
        states = states_of(alice)
        queue = await subscribed(alice, "race:1")
        first = connection_id(alice)
        await keeps_hearing(edge, queue, "before")
        first_expiry = edge.hub.connections[first].credentials.expires_ms
        assert first_expiry is not None
        await until(lambda: len(calls) >= 3)  # two renewals, each asked for by the edge
        await until(lambda: (edge.hub.connections[first].credentials.expires_ms or 0) > now_ms())
        assert now_ms() > first_expiry
        assert connection_id(alice) == first
        assert "disconnected" not in states, "renewed on the open connection, before expiry"
        await keeps_hearing(edge, queue, "after")
    await rest.close()


@contextlib.asynccontextmanager
async def auth_url_server(edge: LocalEdge, client_id: str, calls: list[int]) -> AsyncIterator[str]:
    """An application's authUrl: signs a short-lived TokenRequest and answers the token."""
    rest = rest_for(edge)

    async def token(request: Request) -> JSONResponse:
        calls.append(now_ms())
        details = await exchange(rest, token_request(client_id, SHORT_TTL_MS))
        return JSONResponse(details.to_dict())

    server: Server = http_server(Starlette(routes=[Route("/token", token)]), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/token"
    finally:
        server.should_exit = True
        await task
        await rest.close()


async def test_the_sdk_renews_through_auth_url_when_asked(edge: LocalEdge) -> None:
    calls: list[int] = []
    async with (
        auth_url_server(edge, "alice", calls) as url,
        realtime_of(edge, auth_url=url) as alice,
    ):
        states = states_of(alice)
        queue = await subscribed(alice, "race:1")
        first = connection_id(alice)
        await keeps_hearing(edge, queue, "before")
        await until(lambda: len(calls) >= 3)
        await until(lambda: (edge.hub.connections[first].credentials.expires_ms or 0) > now_ms())
        assert connection_id(alice) == first
        assert "disconnected" not in states
        await keeps_hearing(edge, queue, "after")


async def test_a_token_not_renewed_is_cut_at_expiry_with_40142(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    details = await exchange(rest, token_request("alice", SHORT_TTL_MS))
    url = f"ws://127.0.0.1:{edge.port}/?v=5&format=json&accessToken={details.token}"
    async with websockets.connect(url) as socket:
        frames = []
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(SHORT_TTL_MS / 1000 + TIMEOUT_S):
                async for frame in socket:
                    message = json.loads(frame)
                    if message["action"] == 0:  # heartbeats are noise here
                        continue
                    frames.append(message)
        actions = [message["action"] for message in frames]
        assert actions == [4, 17, 6], frames  # CONNECTED, AUTH (renew, please), DISCONNECTED
        assert frames[-1]["error"]["code"] == 40142
        assert frames[-1]["error"]["statusCode"] == 401
    connection = edge.hub.connections[frames[0]["connectionId"]]
    assert connection.state.value == "disconnected"
    await rest.close()


async def test_an_sdk_that_cannot_renew_stops_hearing_at_expiry(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    details = await exchange(rest, token_request("alice", SHORT_TTL_MS))
    async with realtime_of(edge, token_details=details) as alice:
        queue = await subscribed(alice, "race:1")
        first = connection_id(alice)
        await keeps_hearing(edge, queue, "before")
        await until(lambda: alice.connection.state.value != "connected")
        assert edge.hub.connections[first].sink is None
        async with realtime_of(edge, key=BETTOR_KEY) as witness:
            # A client still connected hears what alice must not, twice: by then a frame
            # written to alice's socket with the first would have been read as well.
            heard = await subscribed(witness, "race:1")
            await keeps_hearing(edge, heard, "after")
            await keeps_hearing(edge, heard, "later")
        assert queue.empty()
    await rest.close()


async def test_auth_with_another_clients_token_fails_the_connection(edge: LocalEdge) -> None:
    rest = rest_for(edge)
    calls: list[int] = []
    async with realtime_of(
        edge, auth_callback=renewing_callback(rest, "alice", 3_600_000, calls)
    ) as alice:
        await connected(alice)
        first = connection_id(alice)
        mallory = await exchange(rest, token_request("mallory"))
        url = (
            f"ws://127.0.0.1:{edge.port}/?v=5&format=json&accessToken="
            + (await exchange(rest, token_request("alice"))).token
        )
        async with websockets.connect(url) as socket:
            assert json.loads(await socket.recv())["action"] == 4
            await socket.send(json.dumps({"action": 17, "auth": {"accessToken": mallory.token}}))
            error = json.loads(await socket.recv())
            assert error["action"] == 9 and error["error"]["code"] == 40102
        assert edge.hub.connections[first].client_id == "alice"
    await rest.close()


async def test_a_renewed_token_with_less_capability_fails_the_channels_it_drops(
    edge: LocalEdge,
) -> None:
    rest = rest_for(edge)
    full = await exchange(rest, token_request("alice"))
    narrower = signed_token_request(BETTOR_KEY, "alice", {"bets:*": ["publish"]}, now_ms())
    publish_only = await exchange(rest, narrower)
    url = f"ws://127.0.0.1:{edge.port}/?v=5&format=json&accessToken={full.token}"
    async with websockets.connect(url) as socket:

        async def next_frame() -> dict[str, Any]:
            while True:
                message: dict[str, Any] = json.loads(
                    await asyncio.wait_for(socket.recv(), TIMEOUT_S)
                )
                if message["action"] != 0:
                    return message

        assert (await next_frame())["action"] == 4
        for channel in ("race:1", "bets:1"):
            await socket.send(json.dumps({"action": 10, "channel": channel}))
            assert (await next_frame())["action"] == 11
        await socket.send(json.dumps({"action": 17, "auth": {"accessToken": publish_only.token}}))
        assert (await next_frame())["action"] == 4
        error = await next_frame()
        assert (error["action"], error["channel"], error["error"]["code"]) == (9, "race:1", 40160)
        await socket.send(json.dumps({"action": 10, "channel": "bets:2"}))
        assert (await next_frame())["action"] == 11, "the connection carries on"
    await rest.close()
