"""Who a client is: the websocket's connection parameters (credentials, clientId, resume and
recover keys, format, version) with hostile values and with another client's connectionKey,
and TokenRequests exchanged twice or signed long ago. A connection is only ever the client its
credentials name, a TokenRequest is good once and only while fresh, and every attempt is
answered (CONNECTED or ERROR), never dropped or logged as an error."""

from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import quote

import orjson

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import JSON, MSGPACK, hostile_text, short
from tests.fuzz.serve_under_test import EDGE_KEY, Serve
from tests.fuzz.wire import (
    CONNECTED,
    ERROR,
    Answer,
    Realtime,
    exchange_token_request,
    signed_token_request,
    try_open,
)

INPUTS = 400
STALE_MS = 2 * 3_600_000  # "one signed two hours ago still works"
EXPIRY_TTL_MS = 1_500
AUTH = 17
CAPABILITY = {"fuzz:*": ["subscribe", "publish"]}


def token(serve: Serve, client_id: str, ttl_ms: int = 600_000) -> str:
    request = signed_token_request(CAPABILITY, client_id, ttl_ms=ttl_ms)
    answer = exchange_token_request(serve.edge_port, request)
    assert answer.status == 200, answer
    value: str = orjson.loads(answer.body)["token"]
    return value


def connected_as(realtime: Realtime) -> tuple[Any, Any]:
    details = realtime.connected.get("connectionDetails") or {}
    return details.get("clientId"), realtime.connected.get("connectionId")


def takeover(campaign: Campaign, serve: Serve, rng: random.Random, number: int) -> None:
    """bob connects with his own token and alice's connectionKey: he must stay bob."""
    alice_id, bob_id = f"alice-{number}", f"bob-{number}"
    alice = Realtime(serve.edge_port, JSON, token=token(serve, alice_id))
    alice.open()
    key = (alice.connected.get("connectionDetails") or {}).get("connectionKey", "")
    if rng.random() < 0.5:
        alice.close()  # a disconnected connection is the one a resume takes over
    mode = rng.choice(["resume", "recover"])
    bob = Realtime(serve.edge_port, JSON, token=token(serve, bob_id))
    bob.url += f"&{mode}={quote(str(key))}"
    reproducer = f"bob's token with {mode}=<alice's connectionKey>"
    frame = try_open(bob)
    campaign.count(frame is None or frame.get("action") == ERROR)
    if frame is None:
        campaign.crash("authority: connect dropped", "no CONNECTED or ERROR", reproducer)
    elif frame.get("action") == CONNECTED:
        client_id, connection_id = connected_as(bob)
        if client_id != bob_id or connection_id == alice.connected.get("connectionId"):
            campaign.crash(
                f"authority: {mode} takes over another client's connection",
                f"connected as {client_id!r} on {connection_id!r}",
                reproducer,
            )
    alice.close()
    bob.close()


def token_expiry(campaign: Campaign, serve: Serve) -> None:
    """A connection on a token that expires in 1.5 s, whose client never renews it: the edge
    must ask for renewal (AUTH) and disconnect it with 40142 at expiry, as Ably does."""
    realtime = Realtime(serve.edge_port, JSON, token=token(serve, "fuzz-expiry", EXPIRY_TTL_MS))
    realtime.open()
    answer = realtime.listen(EXPIRY_TTL_MS / 1000 + 2.5, lambda a: error_code_seen(a, 40142))
    campaign.count(True)
    reproducer = f"a connection on a token with ttl {EXPIRY_TTL_MS} ms, never renewed"
    if not error_code_seen(answer, 40142):
        campaign.crash("authority: an expired token's connection lives on",
                       "no 40142 after expiry", reproducer)  # fmt: skip
    if not answer.of(AUTH):
        campaign.crash("authority: no AUTH asked before a token expires", "", reproducer)
    realtime.close()


def error_code_seen(answer: Answer, code: int) -> bool:
    return any((frame.get("error") or {}).get("code") == code for frame in answer.frames)


def token_request_replay(campaign: Campaign, serve: Serve, stale: bool) -> None:
    now = int(time.time() * 1000)
    request = signed_token_request(CAPABILITY, "fuzz-replay", now - STALE_MS if stale else now)
    first = exchange_token_request(serve.edge_port, request)
    if stale:
        campaign.count(400 <= first.status < 500)
        if first.status == 200:
            campaign.crash("authority: a TokenRequest signed 2 h ago is honoured", "200",
                           "a TokenRequest with timestamp now - 2 h")  # fmt: skip
        return
    again = exchange_token_request(serve.edge_port, request)
    campaign.count(400 <= again.status < 500)
    if first.status != 200:
        campaign.crash("authority: a fresh TokenRequest refused", str(first.status), "fresh")
    if again.status == 200:
        campaign.crash("authority: a TokenRequest is honoured twice", "200 twice",
                       "the same signed TokenRequest exchanged twice")  # fmt: skip
    for answer in (first, again):
        if answer.status == 0 or answer.status >= 500:
            campaign.crash(f"authority: requestToken answered {answer.status}", "", "replay")


def hostile_connect(campaign: Campaign, serve: Serve, rng: random.Random) -> None:
    """Connection parameters an attacker chooses: each gets CONNECTED or ERROR, as itself."""
    wire = rng.choice([JSON, MSGPACK])
    client = rng.choice(["fuzz-c", hostile_text(rng)[:200], "*", ""])
    realtime = Realtime(serve.edge_port, wire, key=EDGE_KEY, client_id="")
    extra = {
        "clientId": client,
        "resume": rng.choice(["", "x", "a!b", hostile_text(rng)[:300], "!" * 5]),
        "recover": rng.choice(["", "x!y:1", hostile_text(rng)[:300]]),
        "v": rng.choice(["5", "1", "99", "²", hostile_text(rng)[:20]]),
        "echo": rng.choice(["true", "false", "x"]),
        "heartbeats": rng.choice(["true", "false", "²"]),
        "accessToken": rng.choice(["", "", hostile_text(rng)[:300], "a.b", "eyJ9.x"]),
    }
    chosen = {k: v for k, v in extra.items() if rng.random() < 0.5}
    realtime.url += "".join(
        f"&{name}={quote(value, safe='', errors='surrogatepass')}" for name, value in chosen.items()
    )
    reproducer = f"{wire} connect with {short(chosen, 300)}"
    frame = try_open(realtime)
    campaign.count(frame is None or frame.get("action") == ERROR)
    if frame is None:
        campaign.crash("authority: connect dropped", "no CONNECTED or ERROR", reproducer)
    elif frame.get("action") == ERROR:
        error = frame.get("error") or {}
        if not isinstance(error.get("code"), int) or error["code"] >= 50000:
            campaign.crash(f"authority: connect ERROR {error.get('code')}", str(error), reproducer)
    elif chosen.get("clientId") and chosen.get("accessToken") is None:
        client_id, _ = connected_as(realtime)
        if client_id not in (chosen["clientId"], None):
            campaign.crash("authority: connected as another clientId", str(client_id), reproducer)
    realtime.close()


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("authority", seed, serve)
    campaign.begin(check_bettor)
    rng = random.Random(seed)
    token_expiry(campaign, serve)
    for number in range(INPUTS - 1):
        kind = number % 8
        if kind == 0:
            takeover(campaign, serve, rng, number)
        elif kind == 1:
            token_request_replay(campaign, serve, stale=False)
        elif kind == 2:
            token_request_replay(campaign, serve, stale=True)
        else:
            hostile_connect(campaign, serve, rng)
        if not campaign.after_input(f"input {number} (kind {kind})"):
            break
    campaign.finish()
    return campaign


def test_authority(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0xA07))
    assert not campaign.crashes, campaign.report()
