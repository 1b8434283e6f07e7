"""Websocket frames to the local edge, JSON and msgpack: structure-aware ProtocolMessages of
every action with hostile fields, random values, mutated and random bytes, deep nesting,
oversized frames. Each input must be answered (ERROR, NACK, ACK, ATTACHED...) or end the
connection with an ERROR or a close frame; nothing may reach serve's log as an error."""

from __future__ import annotations

import random

import pytest

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import JSON, MSGPACK, deep_frame, encode, hostile_value, mutate_bytes, short
from tests.fuzz.protocol_messages import protocol_message
from tests.fuzz.serve_under_test import EDGE_KEY, Serve
from tests.fuzz.wire import ATTACHED, Realtime, acked, try_open

INPUTS = {JSON: 2_600, MSGPACK: 2_600}
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


def run(serve: Serve, wire: str, seed: int) -> Campaign:
    campaign = Campaign(f"websocket-{wire}", seed, serve)
    campaign.begin(check_bettor)
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
