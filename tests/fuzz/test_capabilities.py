"""The capability matrix: tokens of many capability shapes x every kind of channel x every
operation (attach over JSON and msgpack, realtime publish over both, REST publish, REST
history). Each must be permitted or refused exactly as the capability says, with Ably's
rules (`*`, exact names, `namespace:*`), and every refusal must carry 40160."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any
from urllib.parse import quote

import orjson

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import JSON, MSGPACK, encode
from tests.fuzz.serve_under_test import Serve
from tests.fuzz.wire import (
    ATTACHED,
    ERROR,
    NACK,
    Answer,
    Realtime,
    acked,
    http_exchange,
    http_request,
    signed_token_request,
)

CLIENT = "cap-user"
# The bettor's capability as /auth/token grants it, written out: the matrix pins the rule.
BETTOR = {
    "outbound:odds:*": ["subscribe", "history"],
    f"outbound:user:{CLIENT}": ["subscribe", "history"],
    "inbound:bets:*": ["publish"],
}
SHAPES: list[dict[str, list[str]]] = [
    {"*": ["*"]},
    {"*": ["subscribe"]},
    {"*": ["publish"]},
    {"*": ["history"]},
    BETTOR,
    {"outbound:odds:*": ["subscribe"]},
    {f"outbound:user:{CLIENT}": ["subscribe", "history"]},
    {"inbound:bets:*": ["publish"]},
    {"inbound:bets:1": ["publish"]},
    {"outbound:*": ["*"]},
    {"fuzz:room": ["publish", "subscribe"]},
    {"outbound:odds:cap-race": ["history"], f"outbound:user:{CLIENT}": ["publish"]},
    {"fuzz:*": ["subscribe", "publish", "history"], "inbound:bets:2": ["*"]},
    {"outbound:odds:*": ["subscribe", "history"], "outbound:user:someone": ["subscribe"]},
]
CHANNELS = [
    "outbound:odds:cap-race",
    f"outbound:user:{CLIENT}",
    "outbound:user:someone",
    "inbound:bets:0",
    "inbound:bets:1",
    "inbound:bets:2",
    "inbound:bets:3",
    "fuzz:room",
    "fuzz:other",
    "outbound:oddsx:1",
    "inbound:betsy",
]
SUBSCRIBE_FLAG, PUBLISH_FLAG = 1 << 18, 1 << 17
REFUSED = 40160


def covers(pattern: str, channel: str) -> bool:
    """Ably's resource rule, written out here rather than borrowed from the edge."""
    if pattern in ("*", channel):
        return True
    return pattern.endswith(":*") and channel.startswith(pattern[:-1])


def allowed(capability: dict[str, list[str]], channel: str, operation: str) -> bool:
    operations = {
        op for pattern, ops in capability.items() if covers(pattern, channel) for op in ops
    }
    return "*" in operations or operation in operations


def token_for(serve: Serve, capability: dict[str, list[str]]) -> str:
    request = signed_token_request(capability, CLIENT)
    url = f"http://127.0.0.1:{serve.edge_port}/keys/local.root/requestToken"
    http = urllib.request.Request(url, orjson.dumps(request), {"Content-Type": "application/json"})
    with urllib.request.urlopen(http, timeout=10) as response:
        token: str = orjson.loads(response.read())["token"]
        return token


def payload_for(channel: str) -> Any:
    if channel.startswith("inbound:bets:"):
        bet_id = uuid.uuid4().hex
        return {"bet_id": bet_id, "race_id": "cap-race", "runner_id": "car-1", "odds": "2.00",
                "stake_minor": 100, "odds_version": 1, "client_sent_at_ms": 1}  # fmt: skip
    return {"probe": channel}


def attach_answered(channel: str) -> Any:
    def done(answer: Answer) -> bool:
        return any(
            frame.get("channel") == channel and frame.get("action") in (ATTACHED, ERROR)
            for frame in answer.frames
        )

    return done


def error_code(frames: list[dict[str, Any]]) -> Any:
    for frame in frames:
        error = frame.get("error")
        if isinstance(error, dict):
            return error.get("code")
    return None


def check_attach(answer: Answer, capability: dict[str, list[str]], channel: str) -> str | None:
    mine = [f for f in answer.frames if f.get("channel") == channel]
    attached = [f for f in mine if f.get("action") == ATTACHED]
    refused = [f for f in mine if f.get("action") == ERROR]
    subscribe = allowed(capability, channel, "subscribe")
    publish = allowed(capability, channel, "publish")
    if subscribe or publish:
        if not attached:
            return f"attach refused though permitted: {error_code(mine)}"
        flags = attached[0].get("flags", 0)
        if bool(flags & SUBSCRIBE_FLAG) != subscribe or bool(flags & PUBLISH_FLAG) != publish:
            return f"attach modes {flags:#x} do not match subscribe={subscribe} publish={publish}"
        return None
    if attached or not refused:
        return "attach permitted though the capability refuses it"
    if error_code(refused) != REFUSED:
        return f"attach refused with {error_code(refused)}, not {REFUSED}"
    return None


def check_publish(answer: Answer, capability: dict[str, list[str]], channel: str,
                  serial: int) -> str | None:  # fmt: skip
    nacks = [f for f in answer.of(NACK) if f.get("msgSerial") == serial]
    if allowed(capability, channel, "publish"):
        return f"publish refused though permitted: {error_code(nacks)}" if nacks else (
            None if acked(serial)(answer) else "publish never answered")  # fmt: skip
    if not nacks:
        return "publish permitted though the capability refuses it"
    if error_code(nacks) != REFUSED:
        return f"publish refused with {error_code(nacks)}, not {REFUSED}"
    return None


def check_rest(status: int, body: bytes, permitted: bool, ok: int) -> str | None:
    try:
        code = orjson.loads(body).get("error", {}).get("code") if body else None
    except (orjson.JSONDecodeError, AttributeError):
        code = None
    if permitted:
        return None if status == ok else f"refused though permitted: {status} {code}"
    if status == ok:
        return "permitted though the capability refuses it"
    if status != 401 or code != REFUSED:
        return f"refused with {status} {code}, not 401 {REFUSED}"
    return None


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("capability-matrix", seed, serve)
    campaign.begin(check_bettor)
    for number, capability in enumerate(SHAPES):
        token = token_for(serve, capability)
        shape = orjson.dumps(capability).decode()
        for wire in (JSON, MSGPACK):
            realtime = Realtime(serve.edge_port, wire, token=token)
            realtime.open()
            for serial, channel in enumerate(CHANNELS):
                attach = {"action": 10, "channel": channel}
                answer = realtime.exchange(encode(attach, wire), attach_answered(channel))
                permitted = allowed(capability, channel, "subscribe") or allowed(
                    capability, channel, "publish"
                )
                record(campaign, f"{wire} attach", shape, channel,
                       check_attach(answer, capability, channel), not permitted)  # fmt: skip
                publish = {"action": 15, "channel": channel, "msgSerial": serial,
                           "messages": [{"name": "x", "data": payload_for(channel)}]}  # fmt: skip
                answer = realtime.exchange(encode(publish, wire), acked(serial))
                record(campaign, f"{wire} publish", shape, channel,
                       check_publish(answer, capability, channel, serial),
                       not allowed(capability, channel, "publish"))  # fmt: skip
                if not realtime.is_open:
                    realtime.open()
            realtime.close()
        for channel in CHANNELS:
            rest_checks(campaign, serve, token, capability, shape, channel)
        if not campaign.after_input(f"shape {number}: {shape}"):
            break
    campaign.finish()
    return campaign


def rest_checks(campaign: Campaign, serve: Serve, token: str, capability: dict[str, list[str]],
                shape: str, channel: str) -> None:  # fmt: skip
    headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
    path = f"/channels/{quote(channel, safe='')}/messages"
    body = orjson.dumps({"name": "x", "data": payload_for(channel)})
    answer = http_exchange(serve.edge_port, http_request("POST", path, headers, body))
    permitted = allowed(capability, channel, "publish")
    problem = check_rest(answer.status, answer.body, permitted, 201)
    record(campaign, "REST publish", shape, channel, problem, not permitted)
    answer = http_exchange(serve.edge_port, http_request("GET", path, headers, b""))
    permitted = allowed(capability, channel, "history")
    problem = check_rest(answer.status, answer.body, permitted, 200)
    record(campaign, "REST history", shape, channel, problem, not permitted)


def record(campaign: Campaign, operation: str, shape: str, channel: str, problem: str | None,
           refusal_expected: bool) -> None:  # fmt: skip
    """One cell of the matrix; `refused` counts the cells the capability refuses."""
    campaign.count(refusal_expected)
    if problem is not None:
        kind = f"capability: {operation}: {problem.split(':')[0]}"
        campaign.crash(kind, problem, f"capability {shape}, {operation} on {channel!r}")


def test_the_oracle_refuses_and_permits_as_ably_does() -> None:
    """The matrix's own rule and checks, so that a matrix that passes means something."""
    bettor = BETTOR
    assert allowed(bettor, "outbound:odds:r1", "subscribe")
    assert not allowed(bettor, "outbound:odds:r1", "publish")
    assert not allowed(bettor, "outbound:user:someone", "subscribe")
    assert not allowed({"outbound:*": ["*"]}, "outboundx", "subscribe")
    assert not allowed({"inbound:bets:1": ["publish"]}, "inbound:bets:10", "publish")
    forged = Answer(frames=[{"action": ATTACHED, "channel": "c", "flags": SUBSCRIBE_FLAG}])
    assert check_attach(forged, {"x": ["subscribe"]}, "c") is not None
    assert check_attach(forged, {"c": ["subscribe"]}, "c") is None
    wrong_code = Answer(frames=[{"action": ERROR, "channel": "c", "error": {"code": 40000}}])
    assert check_attach(wrong_code, {}, "c") is not None
    assert check_publish(Answer(frames=[{"action": 1, "msgSerial": 3}]), {}, "c", 3) is not None
    assert check_rest(201, b"", False, 201) is not None
    assert check_rest(401, b'{"error":{"code":40160}}', False, 201) is None


def test_capability_matrix(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0))
    assert not campaign.crashes, campaign.report()
