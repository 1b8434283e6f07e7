"""Malformed records, one of each class, for every topic a task consumes.

Each is `(label, key, value, invalid_for)`: `invalid_for` is the (bet id, user) an INVALID
outcome must name when the record is a bet whose identity can be read, else None. Bet ids are
unique per call (`tag`), so the same catalogue can be sent twice (before and after a restart).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from betting.domain.book import Book
from tests.unit.races import race

RUNNERS = [{"runner_id": f"car-{i}", "name": f"Car {i}", "rating": 100} for i in range(3)]
Poison = tuple[str, bytes, bytes, tuple[str, str] | None]
Fields = dict[str, object]


def raw(value: Any) -> bytes:
    """JSON by the standard library, which writes what orjson refuses (NaN, huge integers)."""
    return json.dumps(value).encode()


def variants(good: Fields, changes: list[tuple[str, Fields]]) -> list[tuple[str, Fields]]:
    """`good` with each labelled change applied to it."""
    return [(label, {**good, **change}) for label, change in changes]


def any_topic(key: bytes) -> list[Poison]:
    """Classes every topic must survive."""
    return [
        ("not JSON", key, b"\xff\xfe not json", None),
        ("empty", key, b"", None),
        ("a list", key, b"[1, 2]", None),
        ("a string", key, b'"text"', None),
        ("no version", key, raw({"race_id": "race-a"}), None),
        ("version 2", key, raw({"v": 2, "race_id": "race-a"}), None),
        ("version true", key, raw({"v": True, "race_id": "race-a"}), None),
        ("version '1'", key, raw({"v": "1", "race_id": "race-a"}), None),
        ("a 5,000-digit integer", key, b'{"v": 1, "n": 1' + b"0" * 5_000 + b"}", None),
        ("deep nesting", key, b"[" * 100_000, None),
        ("bad UTF-8 in a string", key, b'{"v": 1, "race_id": "\xc3\x28"}', None),
        ("NaN", key, raw({"v": 1, "n": float("nan")}), None),
        ("a 600 KB field", key, raw({"v": 1, "race_id": "x" * 600_000}), None),
    ]


def bets(race_id: str, tag: str, user: str = "mallory") -> list[Poison]:
    key = race_id.encode()

    def bet(label: str, readable: bool = True, **fields: Any) -> Poison:
        bet_id = f"{tag}-{len(out)}"
        value = {
            "v": 1, "bet_id": bet_id, "user_id": user, "race_id": race_id,
            "runner_id": "car-0", "stake_minor": 1_000, "odds": "1.01", "odds_version": 1,
            "received_at_ms": 1_700_000_000_000, **fields,
        }  # fmt: skip
        value = {name: item for name, item in value.items() if item is not _MISSING}
        return (f"bet: {label}", key, raw(value), (bet_id, user) if readable else None)

    out: list[Poison] = []
    cases: list[tuple[str, Fields, bool]] = [
        ("odds '²'", {"odds": "²"}, True),
        ("odds '①'", {"odds": "①"}, True),
        ("odds '1²'", {"odds": "1²"}, True),
        ("odds in Arabic-Indic digits", {"odds": "٣.٥"}, True),
        ("odds of 5,000 digits", {"odds": "9" * 5_000}, True),
        ("odds a float", {"odds": 2.5}, True),
        ("odds with a space", {"odds": " 2.5"}, True),
        ("odds off the ladder", {"odds": "2.51"}, True),
        ("stake in words", {"stake_minor": "lots"}, True),
        ("stake in Arabic-Indic digits", {"stake_minor": "١٠٠"}, True),
        ("stake true", {"stake_minor": True}, True),
        ("stake a float", {"stake_minor": 1.5}, True),
        ("stake negative", {"stake_minor": -1}, True),
        ("stake 2^64-1", {"stake_minor": 2**64 - 1}, True),
        ("odds version true", {"odds_version": True}, True),
        ("received in 5000 AD", {"received_at_ms": 10**17}, True),
        ("sent as text", {"client_sent_at_ms": "1"}, True),
        ("runner id with ':'", {"runner_id": "car:0"}, True),
        ("runner id a list", {"runner_id": ["car-0"]}, True),
        ("race id with a newline", {"race_id": "race\n"}, True),
        ("bet id missing", {"bet_id": _MISSING}, False),
        ("bet id with a newline", {"bet_id": "b\n"}, False),
        ("bet id of 200 characters", {"bet_id": "b" * 200}, False),
        ("user missing", {"user_id": _MISSING}, False),
        ("user a number", {"user_id": 5}, False),
        ("user a channel wildcard", {"user_id": "*"}, False),
    ]
    for label, fields, readable in cases:
        out.append(bet(label, readable, **fields))
    return [*out, *any_topic(key)]


class _Missing:
    pass


_MISSING = _Missing()


def commands(race_id: str) -> list[Poison]:
    key = race_id.encode()
    race = {
        "race_id": race_id, "name": "Poison", "runners": RUNNERS, "scheduled_start_ms": 1,
        "at_ms": 1, "pricing": {}, "risk": {},
    }  # fmt: skip

    def command(label: str, kind: str, **fields: Any) -> Poison:
        value = {"v": 1, "type": kind, "race_id": race_id, "at_ms": 1, **fields}
        return (f"command: {label}", key, raw(value), None)

    def create(label: str, **changes: Any) -> Poison:
        return command(label, "create", race={**race, **changes})

    return [
        command("unknown type", "explode"),
        command("type a number", 5),  # type: ignore[arg-type]
        command("race id '#x'", "open", race_id="#x"),
        command("race id with a space", "open", race_id="a b"),
        command("at_ms true", "open", at_ms=True),
        command("at_ms as text", "open", at_ms="1"),
        command("at_ms in 5000 AD", "open", at_ms=10**17),
        command("request id a number", "open", request_id=5),
        command("request id with a newline", "open", request_id="r\n"),
        command("race not an object", "create", race=[1]),
        create("no runners", runners=[]),
        create(
            "1,000 runners", runners=[{"runner_id": f"r{i}", "name": "x"} for i in range(1_000)]
        ),
        create("rating as text", runners=[{"runner_id": "a", "name": "A", "rating": "x"}]),
        create("rating true", runners=[{"runner_id": "a", "name": "A", "rating": True}]),
        create("runner with an extra field", runners=[{"runner_id": "a", "name": "A", "x": 1}]),
        create("name with a NUL", name="a\x00b"),
        create("name of 10,000 characters", name="n" * 10_000),
        create("margin true", pricing={"margin_bp": True}),
        create("late window a float", risk={"late_window_ms": 1.5}),
        create("unknown risk key", risk={"surprise": 1}),
        create("unknown policy", risk={"favourable_policy": "always_win"}),
        create("race id differs", race_id="other-race"),
        command("placings a string", "result", placings="car-0"),
        command("placings numbers", "result", placings=[1, 2]),
        command("placings objects", "result", placings=[{"runner": "car-0"}]),
        command("placings nested", "result", placings=[["car-0", "car-1"]]),
        command("placings empty", "result", placings=[]),
        command("1,000 placings", "result", placings=[f"r{i}" for i in range(1_000)]),
        command("strength true", "strengths", strengths=[["car-0", True]]),
        command("strength missing", "strengths", strengths=[["car-0"]]),
        command("strength huge", "strengths", strengths=[["car-0", 10**12]]),
        command("strengths a string", "strengths", strengths="x"),
        command("seed as text", "start", seed="1", length_mm=1_000_000),
        command("seed negative", "start", seed=-1, length_mm=1_000_000),
        command("course of 10^12 mm", "start", seed=1, length_mm=10**12),
        command("withdraw a number", "withdraw", runner_id=5),
        command("void reason with a bidi override", "void", reason="\u202eevil"),
        command("void reason a number", "void", reason=5),
        *any_topic(key),
    ]


def outcomes(race_id: str) -> list[Poison]:
    key = race_id.encode()
    good: Fields = {
        "v": 1, "bet_id": "p-1", "user_id": "mallory", "race_id": race_id,
        "runner_id": "car-0", "stake_minor": 1_000, "status": "accepted", "odds": "2.00",
        "reason": None, "detail": "", "odds_version": 1, "decided_at_ms": 1,
    }  # fmt: skip
    return [
        *(
            (f"outcome: {label}", key, raw(value), None)
            for label, value in variants(
                good,
                [
                    ("user a channel wildcard", {"user_id": "*"}),
                    ("user with ':'", {"user_id": "mallory:evil"}),
                    ("odds '²'", {"odds": "²"}),
                    ("stake true", {"stake_minor": True}),
                    ("status maybe", {"status": "maybe"}),
                    ("accepted with a reason", {"reason": "LATE"}),
                    ("unknown reason", {"status": "rejected", "odds": None, "reason": "BECAUSE"}),
                    ("detail with a NUL", {"detail": "a\x00"}),
                    ("detail of 100,000 characters", {"detail": "d" * 100_000}),
                ],
            )
        ),
        *any_topic(key),
    ]


def odds(race_id: str) -> list[Poison]:
    key = race_id.encode()
    good: Fields = {
        "v": 1,
        "race_id": race_id,
        "version": 1,
        "state": "open",
        "at_ms": 1,
        "prices": [],
    }
    return [
        *(
            (f"odds: {label}", key, raw(value), None)
            for label, value in variants(
                good,
                [
                    ("race id with ':'", {"race_id": "a:b"}),
                    ("version as text", {"version": "1"}),
                    ("state unknown", {"state": "exploded"}),
                    ("price '²'", {"prices": [["car-0", "²"]]}),
                    ("prices numbers", {"prices": [[1, 2]]}),
                    ("prices flat", {"prices": ["car-0", "2.00"]}),
                    ("1,000 prices", {"prices": [[f"r{i}", "2.00"] for i in range(1_000)]}),
                ],
            )
        ),
        *any_topic(key),
    ]


def settlements(race_id: str) -> list[Poison]:
    key = race_id.encode()
    good: Fields = {
        "v": 1, "bet_id": "p-1", "user_id": "mallory", "race_id": race_id,
        "runner_id": "car-0", "stake_minor": 1_000, "result": "won", "payout_minor": 2_000,
    }  # fmt: skip
    return [
        *(
            (f"settlement: {label}", key, raw(value), None)
            for label, value in variants(
                good,
                [
                    ("result jackpot", {"result": "jackpot"}),
                    ("payout as text", {"payout_minor": "2000"}),
                    ("payout true", {"payout_minor": True}),
                    ("user a channel wildcard", {"user_id": "*"}),
                ],
            )
        ),
        *any_topic(key),
    ]


def command_results(race_id: str) -> list[Poison]:
    key = race_id.encode()
    good: Fields = {
        "v": 1, "request_id": "req-1", "race_id": race_id, "command": "open",
        "status": "applied", "reason": None, "detail": "", "at_ms": 1,
    }  # fmt: skip
    return [
        *(
            (f"command result: {label}", key, raw(value), None)
            for label, value in variants(
                good,
                [
                    ("status done", {"status": "done"}),
                    ("reason made up", {"status": "refused", "reason": "BECAUSE"}),
                    ("request id a list", {"request_id": ["req-1"]}),
                    ("request id with ':'", {"request_id": "a:b"}),
                    ("command unknown", {"command": "explode"}),
                    ("at_ms as text", {"at_ms": "1"}),
                ],
            )
        ),
        *any_topic(key),
    ]


def users() -> list[Poison]:
    return [
        ("user: key not UTF-8", b"\xff", raw({"v": 1, "notifications": True}), None),
        ("user: key with ':'", b"a:b", raw({"v": 1, "notifications": True}), None),
        ("user: no key", b"", raw({"v": 1, "notifications": True}), None),
        ("user: notifications 'yes'", b"mallory", raw({"v": 1, "notifications": "yes"}), None),
        ("user: notifications 1", b"mallory", raw({"v": 1, "notifications": 1}), None),
        *any_topic(b"mallory"),
    ]


def _other_race_header() -> bytes:
    other = replace(race(), race_id="other-race")
    return Book(other).snapshot(with_outcomes=False)


def changelog(race_id: str) -> list[Poison]:
    """For the book-changelog: headers and outcomes under a real race's key, positions."""
    header_key, outcome_key = race_id.encode(), f"{race_id}/u-1/p-1".encode()
    return [
        ("changelog: key not UTF-8", b"\xff\xfe", raw({"schema": 1}), None),
        ("changelog: key with ':'", b"a:b", raw({"schema": 1}), None),
        ("changelog: header of another schema", header_key, raw({"schema": 9}), None),
        ("changelog: header with no race", header_key, raw({"schema": 1, "state": "open"}), None),
        ("changelog: header not JSON", header_key, b"\xff garbage", None),
        ("changelog: a good header of another race", header_key, _other_race_header(), None),
        ("changelog: outcome not JSON", outcome_key, b"\xff garbage", None),
        ("changelog: outcome of another bet", outcome_key, raw({"v": 1, "bet_id": "p-2"}), None),
        ("changelog: positions as text", b"#positions", raw({"v": 1, "positions": "x"}), None),
        (
            "changelog: a position true",
            b"#positions",
            raw({"v": 1, "positions": {"bets": True}}),
            None,
        ),
        (
            "changelog: a position of another topic",
            b"#positions",
            raw({"v": 1, "positions": {"not-an-input": 0}}),
            None,
        ),
        *[(label, b"poison", value, None) for label, _, value, _ in any_topic(b"") if value],
    ]
