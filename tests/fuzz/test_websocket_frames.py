"""Websocket frames to the local edge, JSON and msgpack: structure-aware ProtocolMessages of
every action with hostile fields, random values, mutated and random bytes, deep nesting,
oversized frames. Each input must be answered (ERROR, NACK, ACK, ATTACHED...) or end the
connection with an ERROR or a close frame; nothing may reach serve's log as an error."""

from __future__ import annotations

import base64
import random
from typing import Any
from urllib.parse import quote

import pytest

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import JSON, MSGPACK, deep_frame, encode, hostile_value, mutate_bytes, short
from tests.fuzz.protocol_messages import protocol_message
from tests.fuzz.serve_under_test import EDGE_KEY, Serve
from tests.fuzz.wire import (
    ATTACHED,
    MESSAGE,
    Answer,
    Realtime,
    acked,
    http_exchange,
    http_request,
    try_open,
)

INPUTS = {JSON: 2_600, MSGPACK: 2_600}
BYSTANDER_EVERY = 200
BYSTANDER_CHANNEL = "bystander:feed"
FRAME_MAX = 262_144  # the edge's maxFrameSize


def fuzz_frame(
    rng: random.Random, wire: str, serial: int, seen: dict[str, str]
) -> tuple[object, bytes]:
    """One input: the value it was built from (for the report) and the payload to send."""
    roll = rng.random()
    if roll < 0.78:
        message = protocol_message(rng, wire, serial, seen)
        return message, encode(message, wire)
    if roll < 0.86:
        value = hostile_value(rng, wire)
        return value, encode(value, wire)
    if roll < 0.93:
        message = protocol_message(rng, wire, serial, seen)
        payload = mutate_bytes(rng, encode(message, wire))
        return payload, payload
    if roll < 0.96:
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        return payload, payload
    if roll < 0.99:
        payload = deep_frame(rng, wire)
        return payload, payload
    payload = encode({"action": 15, "channel": "fuzz:room", "msgSerial": serial,
                      "messages": [{"data": "x" * FRAME_MAX}]}, wire)  # fmt: skip
    return payload, payload


class Bystander:
    """Another client on its own connection: it must not notice the fuzzing. Every so often
    a message is published to its channel over REST, and it must arrive."""

    def __init__(self, serve: Serve, wire: str) -> None:
        self.serve = serve
        self.realtime = Realtime(serve.edge_port, wire, key=EDGE_KEY, client_id="bystander")
        self.ticks = 0
        self.attach()

    def attach(self) -> None:
        if try_open(self.realtime) is not None:
            attach = encode({"action": 10, "channel": BYSTANDER_CHANNEL}, self.realtime.wire)
            self.realtime.exchange(attach, lambda a: bool(a.of(ATTACHED)))

    def still_served(self) -> str | None:
        self.ticks += 1
        tick = f"tick-{self.ticks}"
        if not self.realtime.is_open:
            self.attach()
            return "its connection was closed"
        headers = [("Authorization", "Basic " + base64.b64encode(EDGE_KEY.encode()).decode()),
                   ("Content-Type", "application/json")]  # fmt: skip
        path = f"/channels/{quote(BYSTANDER_CHANNEL, safe='')}/messages"
        body = encode({"name": "tick", "data": tick}, JSON)
        http_exchange(self.serve.edge_port, http_request("POST", path, headers, body))
        answer = self.realtime.exchange(encode({"action": 0}, self.realtime.wire), heard(tick))
        return None if heard(tick)(answer) else f"{tick} did not arrive"

    def close(self) -> None:
        self.realtime.close()


def heard(tick: str) -> Any:
    def done(answer: Answer) -> bool:
        return any(
            message.get("data") == tick
            for frame in answer.of(MESSAGE)
            for message in frame.get("messages") or []
        )

    return done


def run(serve: Serve, wire: str, seed: int) -> Campaign:
    campaign = Campaign(f"websocket-{wire}", seed, serve)
    campaign.begin(check_bettor)
    bystander = Bystander(serve, wire)
    rng = random.Random(seed)
    realtime: Realtime | None = None
    seen_serials: dict[str, str] = {}
    serial = 0
    for _ in range(INPUTS[wire]):
        if realtime is None or not realtime.is_open:
            realtime = Realtime(serve.edge_port, wire, key=EDGE_KEY, client_id="fuzz-ws")
            if try_open(realtime) is None:
                campaign.crash("websocket: cannot connect", "connect failed", "(connect)")
                if not campaign.after_input("(connect)"):
                    break
                continue
        built, payload = fuzz_frame(rng, wire, serial, seen_serials)
        until = None
        if isinstance(built, dict) and built.get("action") == 15:
            given = built.get("msgSerial")
            if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
                until = acked(given)
            serial += 1
        text = payload.decode() if wire == JSON and _is_text(payload) else payload
        answer = realtime.exchange(text, until)
        for frame in answer.of(ATTACHED):
            name, channel_serial = frame.get("channel"), frame.get("channelSerial")
            if isinstance(name, str) and isinstance(channel_serial, str) and len(name) < 100:
                seen_serials[name] = channel_serial
        campaign.count(answer.refused)
        reproducer = short(built)
        problem = answer.problem()
        if problem is not None:
            campaign.crash(problem[0], problem[1], reproducer, len(payload))
        if not campaign.after_input(reproducer, len(payload)):
            break
        if campaign.inputs % BYSTANDER_EVERY == 0:
            problem_seen = bystander.still_served()
            if problem_seen is not None:
                campaign.crash("websocket: another connection noticed", problem_seen, reproducer)
            if serve.alive() and not bystander.realtime.is_open:
                bystander = Bystander(serve, wire)
    bystander.close()
    if realtime is not None:
        realtime.close()
    campaign.finish()
    return campaign


def _is_text(payload: bytes) -> bool:
    try:
        payload.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("wire", [JSON, MSGPACK])
def test_websocket_frames(serve: Serve, wire: str) -> None:
    campaign = run(serve, wire, campaign_seed(0xA11 if wire == JSON else 0xB22))
    assert not campaign.crashes, campaign.report()
