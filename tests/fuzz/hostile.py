"""Seeded generators of hostile values: what an attacker puts where a number, an id, a channel
name or a payload is expected. Deterministic for a given `random.Random`."""

from __future__ import annotations

import json
import random
from typing import Any

import msgpack

JSON, MSGPACK = "json", "msgpack"

DIGIT_LOOKALIKES = ["²", "①", "١٢٣", "1²", "１２", "٣", "߀", "𝟗", "Ⅻ", "¹⁰"]
NUMERIC_TEXT = [
    "0", "1", "-1", "+1", "007", "1.5", "1e3", "0x10", "NaN", "Infinity", " 1", "1 ", "1_000",
    "18446744073709551616", "-9223372036854775809",
]  # fmt: skip
TEXT = [
    "", " ", "\x00", "a\n", "alice\n", "\r\n", "😀" * 8, "%C2%B2", "../../etc", "*", ":",
    "a:b", "inbound:bets:*", "outbound:user:*", "\ud800", "\u202e", "é", "null", "true",
    "x@example.com", "<script>", "'; drop", "\\", '"',
]  # fmt: skip
INTEGERS = [
    0, 1, -1, 2**31, 2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 10**6, 100,
]  # fmt: skip
# Spliced into a msgpack payload as a Timestamp extension of an impossible length (3 bytes).
BAD_TIMESTAMP = "\x00bad-timestamp\x00"
BAD_TIMESTAMP_PACKED = msgpack.packb(BAD_TIMESTAMP)
BAD_TIMESTAMP_RAW = b"\xc7\x03\xff\x00\x00\x00"
BIG_INTEGERS = [2**64, -(2**63) - 1, 10**30, 10**400]  # JSON only: msgpack cannot carry them


def long_digits(rng: random.Random) -> str:
    return "9" * rng.choice([20, 400, 4_301, 5_000])


def hostile_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(DIGIT_LOOKALIKES)
    if roll < 0.45:
        return rng.choice(NUMERIC_TEXT)
    if roll < 0.55:
        return long_digits(rng)
    if roll < 0.62:
        return rng.choice("ax9:*") * rng.choice([65, 129, 257, 4_097, 70_000])
    if roll < 0.75:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 12)))
    return rng.choice(TEXT)


def hostile_scalar(rng: random.Random, wire: str) -> Any:
    roll = rng.random()
    if roll < 0.4:
        return hostile_text(rng)
    if roll < 0.6:
        return rng.choice(INTEGERS)
    if roll < 0.65 and wire == JSON:
        return rng.choice(BIG_INTEGERS)
    if roll < 0.72:
        return rng.choice([None, True, False, 1.5, -0.0, 1e308])
    if roll < 0.75 and wire == JSON:
        return float(rng.choice(["nan", "inf"]))
    if wire == MSGPACK and roll < 0.9:
        return rng.choice(
            [
                b"\xff\xfe",
                b"",
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
                msgpack.ExtType(rng.randrange(0, 128), b"\x01\x02"),
                msgpack.Timestamp(rng.randrange(0, 2**33), rng.randrange(0, 10**9)),
                msgpack.Timestamp(-1, 0),
                BAD_TIMESTAMP,
            ]
        )
    return rng.choice([[], {}, ""])


def hostile_value(rng: random.Random, wire: str, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return hostile_scalar(rng, wire)
    if roll < 0.7:
        return [hostile_value(rng, wire, depth + 1) for _ in range(rng.randrange(0, 4))]
    if roll < 0.78:
        return nested(rng.choice([50, 200, 900]))
    mapping: dict[Any, Any] = {}
    for _ in range(rng.randrange(0, 4)):
        mapping[hostile_key(rng, wire)] = hostile_value(rng, wire, depth + 1)
    return mapping


def hostile_key(rng: random.Random, wire: str) -> Any:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(["data", "id", "from", "format", "headers", "ref", "x"])
    if roll < 0.7 or wire == JSON:
        return rng.choice([0, 1, -1, 2**40]) if roll < 0.7 else hostile_text(rng)[:40]
    return rng.choice([(1, 2), b"raw", True, None, 1.5, msgpack.Timestamp(1, 0)])


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def deep_frame(rng: random.Random, wire: str) -> bytes:
    depth = rng.choice([1_000, 5_000, 50_000])
    if wire == MSGPACK:
        return b"\x91" * depth + b"\x90"
    opener = rng.choice(["[", '{"a":'])
    closer = "]" if opener == "[" else "}"
    return (opener * depth + "1" + closer * depth).encode()


def encode(value: Any, wire: str) -> bytes:
    """The value on the wire; what a format cannot carry is replaced, never a test error."""
    if wire == MSGPACK:
        try:
            packed: bytes = msgpack.packb(value, use_bin_type=True)
        except (OverflowError, TypeError, ValueError):  # UnicodeEncodeError too
            packed = msgpack.packb(_msgpack_safe(value), use_bin_type=True)
        return packed.replace(BAD_TIMESTAMP_PACKED, BAD_TIMESTAMP_RAW)
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value)).encode()


def _msgpack_safe(value: Any, depth: int = 0) -> Any:
    if depth > 400:  # msgpack packs at most 512 levels
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, list):
        return [_msgpack_safe(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_msgpack_safe(k, depth + 1): _msgpack_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()  # a lone surrogate cannot be packed
    return value if isinstance(value, bytes | float | bool | type(None)) else repr(value)


def mutate_bytes(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randrange(1, 4)):
        if not data:
            break
        where = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.5:
            data[where] = rng.randrange(256)
        elif choice < 0.75:
            del data[where : where + rng.randrange(1, 8)]
        else:
            data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return bytes(data)


def short(value: Any, limit: int = 300) -> str:
    """A reproducer's printable form: long runs shortened so the report stays readable."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...<{len(text)} chars>...{text[-limit // 4 :]}"
