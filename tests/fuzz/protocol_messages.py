"""Structure-aware Ably ProtocolMessages of every action, with hostile field values."""

from __future__ import annotations

import base64
import random
from typing import Any

from tests.fuzz.hostile import DIGIT_LOOKALIKES, MSGPACK, hostile_text, hostile_value, long_digits

ACTIONS = list(range(18))
# ATTACH, MESSAGE and DETACH carry most of the fields, so they get most of the inputs.
WEIGHTS = [3 if action in (10, 15) else 2 if action in (12, 17) else 1 for action in ACTIONS]
ODD_ACTIONS: list[Any] = [-1, 18, 99, 2**40, "15", "attach", 15.0, True, None, [10]]
CHANNELS = [
    "outbound:odds:fuzz-race",
    "outbound:odds:",
    "outbound:user:fuzz-ws",
    "outbound:user:someone-else",
    "inbound:bets:0",
    "inbound:bets:3",
    "inbound:bets:9",
    "inbound:bets:-1",
    "fuzz:room",
    "*",
]
ENCODINGS = [
    "base64", "json", "utf-8", "utf-8/base64", "json/base64", "json/utf-8/base64", "vcdiff",
    "vcdiff/base64", "cipher+aes-128-cbc/base64", "base64/base64", "", "gzip", "json/json",
]  # fmt: skip
PARAM_NAMES = ["rewind", "rewindLimit", "delta", "occupancy", "x"]
REWINDS = ["1", "10", "100", "101", "1s", "10s", "2m", "3m", "0", "1h", "-1", "1.5", "s"]


def channel_name(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(CHANNELS)
    if roll < 0.75:
        prefix = rng.choice(["outbound:odds:", "fuzz:", "inbound:bets:", "outbound:user:"])
        return prefix + rng.choice("abc9²") * rng.choice([1, 100, 1_000, 20_000, 120_000])
    if roll < 0.9:
        return rng.choice(["outbound:odds:", "fuzz:"]) + hostile_text(rng)[:5_000]
    return hostile_value(rng, MSGPACK if rng.random() < 0.5 else "json")


def data_value(rng: random.Random, wire: str) -> tuple[Any, Any]:
    """A message's data and encoding: plausible, or wrong for each other."""
    roll = rng.random()
    if roll < 0.25:
        text = rng.choice(["hello", '{"a":1}', "", "é" * 10])
        return base64.b64encode(text.encode()).decode(), rng.choice(["base64", "json/base64"])
    if roll < 0.45:
        bad = rng.choice(["!!!not base64", "abc", "a", "====", "YQ", "YQ=", "é", "\x00" * 3])
        return bad, rng.choice(["base64", "utf-8/base64", "json/base64", "vcdiff/base64"])
    if roll < 0.55:
        return rng.choice(['{"a":', "[1,2", "{}", "[]", '"x"', "1e999"]), "json"
    if roll < 0.7:
        return hostile_value(rng, wire), rng.choice([*ENCODINGS, None])
    if roll < 0.8 and wire == MSGPACK:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))), None
    return hostile_value(rng, wire), None


def message(rng: random.Random, wire: str) -> dict[str, Any]:
    data, encoding = data_value(rng, wire)
    fields: dict[str, Any] = {"name": rng.choice(["bet", "odds", "x", hostile_text(rng)[:80]])}
    if data is not None:
        fields["data"] = data
    if encoding is not None:
        fields["encoding"] = encoding
    for name in ("id", "clientId", "extras", "timestamp", "connectionId"):
        if rng.random() < 0.3:
            fields[name] = field_value(rng, wire, name)
    return fields


def field_value(rng: random.Random, wire: str, name: str) -> Any:
    if name == "clientId" and rng.random() < 0.5:
        return rng.choice(["fuzz-ws", "someone-else", "*"])
    if name == "extras" and rng.random() < 0.6:
        return rng.choice(
            [
                {"headers": {"a": hostile_value(rng, wire)}},
                {"delta": {"from": hostile_value(rng, wire), "format": "vcdiff"}},
                {1: 2},
                {"push": {"notification": {"title": hostile_value(rng, wire)}}},
                hostile_value(rng, wire),
            ]
        )
    return hostile_value(rng, wire)


def params(rng: random.Random, wire: str) -> Any:
    if rng.random() < 0.1:
        return hostile_value(rng, wire)
    result: dict[Any, Any] = {}
    if rng.random() < 0.3:  # rewindLimit only counts with a rewind by time
        result["rewind"] = rng.choice(["10s", "2m", "1s"])
        limits = [rng.choice(DIGIT_LOOKALIKES), long_digits(rng), hostile_text(rng), "5", "101"]
        result["rewindLimit"] = rng.choice(limits)
    for _ in range(rng.randrange(0, 3)):
        name = rng.choice(PARAM_NAMES)
        roll = rng.random()
        if roll < 0.4:
            result[name] = rng.choice(REWINDS)
        elif roll < 0.8:
            result[name] = hostile_text(rng) + rng.choice(["", "s", "m"])
        else:
            result[name] = hostile_value(rng, wire)
    return result


def channel_serial(rng: random.Random, serial: str) -> Any:
    """A re-attach's channelSerial: the channel's own epoch with a malformed suffix, or junk."""
    if serial and rng.random() < 0.7:
        stem, _, _suffix = serial.rpartition(":")
        suffixes = ["", "-1", "99999999", "1", rng.choice(DIGIT_LOOKALIKES), long_digits(rng)]
        return f"{stem}:{rng.choice([*suffixes, hostile_text(rng)[:5_000]])}"
    return rng.choice([hostile_text(rng)[:6_000], "", 5, None])


def protocol_message(rng: random.Random, wire: str, serial: int, seen: dict[str, str]) -> Any:
    """A ProtocolMessage of a random action, built as the SDKs build it, then mutated.
    `seen`: channelSerials the edge gave, by channel, for re-attaches."""
    if rng.random() < 0.92:
        action: Any = rng.choices(ACTIONS, WEIGHTS)[0]
    else:
        action = rng.choice(ODD_ACTIONS)
    built: dict[str, Any] = {"action": action}
    reattach = action == 10 and bool(seen) and rng.random() < 0.3
    if reattach:
        built["channel"] = rng.choice(sorted(seen))
    elif action in (10, 11, 12, 13, 14, 15, 16) or rng.random() < 0.2:
        built["channel"] = channel_name(rng)
    if action == 10:
        if rng.random() < 0.7:
            built["params"] = params(rng, wire)
        if reattach or rng.random() < 0.2:
            built["channelSerial"] = channel_serial(rng, seen.get(str(built["channel"]), ""))
        if rng.random() < 0.3:
            built["flags"] = rng.choice([32, 1 << 17, -1, 2**63, "32", 1.5])
    elif action == 15:
        built["msgSerial"] = serial if rng.random() < 0.85 else hostile_value(rng, wire)
        count = rng.choice([0, 1, 1, 1, 2, 3, 50])
        built["messages"] = [message(rng, wire) for _ in range(count)]
    elif action == 17:
        built["auth"] = rng.choice(
            [
                {"accessToken": hostile_text(rng)},
                {"accessToken": "eyJ" + hostile_text(rng)[:50] + ".sig"},
                hostile_value(rng, wire),
            ]
        )
    elif action == 0 and rng.random() < 0.5:
        built["id"] = hostile_value(rng, wire)
    for _ in range(rng.choice([0, 0, 1, 2])):  # mutations: drop, replace or add a field
        name = rng.choice([*built, "id", "connectionKey", "error", "flags", "count", "presence"])
        if rng.random() < 0.3 and name in built and name != "action":
            del built[name]
        else:
            built[name] = hostile_value(rng, wire)
    return built
