"""Record values on the log: JSON (orjson) with a schema version, validated on the way in.

Decoding trusts nothing from outside: each field is checked for presence and type, and a bad
record raises `CodecError` naming the field. The error keeps whatever identity it could read
(bet id, user, race), so the engine can still tell the bettor their bet was INVALID.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from betting.domain import serial
from betting.domain.errors import DomainError
from betting.domain.events import (
    CloseRace,
    CreateRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import Bet, OddsSnapshot, Outcome, RaceState, RunnerPrice
from betting.domain.money import Odds
from betting.domain.settlement import Settlement

SCHEMA = 1
ID_MAX = 128
NAME_MAX = 200


class CodecError(ValueError):
    def __init__(
        self, message: str, bet_id: str = "", user_id: str = "", race_id: str = ""
    ) -> None:
        super().__init__(message)
        self.bet_id = bet_id
        self.user_id = user_id
        self.race_id = race_id


@dataclass(frozen=True, slots=True)
class Fields:
    """Typed access to a decoded JSON object; each miss names its field."""

    data: dict[str, Any]
    what: str

    def text(self, name: str, limit: int = ID_MAX) -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise CodecError(f"{self.what}.{name}: expected a string of 1 to {limit} characters")
        return value

    def integer(self, name: str, low: int = 0, high: int = 2**63 - 1) -> int:
        value = self.data.get(name)
        if type(value) is not int or not low <= value <= high:
            raise CodecError(f"{self.what}.{name}: expected an integer in [{low}, {high}]")
        return value

    def optional_integer(self, name: str) -> int | None:
        return None if self.data.get(name) is None else self.integer(name)

    def odds(self, name: str) -> Odds:
        try:
            return Odds.parse(self.data.get(name))  # type: ignore[arg-type]
        except DomainError as error:
            raise CodecError(f"{self.what}.{name}: {error}") from None


def load_object(value: bytes, what: str) -> Fields:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise CodecError(f"{what}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise CodecError(f"{what}: expected a JSON object")
    if data.get("v") != SCHEMA:
        raise CodecError(f"{what}.v: schema version {data.get('v')!r} is not {SCHEMA}")
    return Fields(data, what)


# -- bets ----------------------------------------------------------------------------------


def encode_bet(bet: Bet) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA,
            "bet_id": bet.bet_id,
            "user_id": bet.user_id,
            "race_id": bet.race_id,
            "runner_id": bet.runner_id,
            "stake_minor": bet.stake_minor,
            "odds": str(bet.odds_seen),
            "odds_version": bet.odds_version,
            "received_at_ms": bet.received_at_ms,
            "client_sent_at_ms": bet.client_sent_at_ms,
        }
    )


def decode_bet(value: bytes) -> Bet:
    fields = load_object(value, "bet")
    identity = {
        name: fields.data[name] if isinstance(fields.data.get(name), str) else ""
        for name in ("bet_id", "user_id", "race_id")
    }
    try:
        return Bet(
            bet_id=fields.text("bet_id"),
            user_id=fields.text("user_id"),
            race_id=fields.text("race_id"),
            runner_id=fields.text("runner_id"),
            stake_minor=fields.integer("stake_minor"),
            odds_seen=fields.odds("odds"),
            odds_version=fields.integer("odds_version"),
            received_at_ms=fields.integer("received_at_ms"),
            client_sent_at_ms=fields.optional_integer("client_sent_at_ms"),
        )
    except CodecError as error:
        raise CodecError(str(error), **identity) from None


# -- race commands -------------------------------------------------------------------------

_SIMPLE_COMMANDS: dict[str, type[Any]] = {
    "open": OpenRace,
    "suspend": SuspendRace,
    "resume": ResumeRace,
    "close": CloseRace,
    "settle": SettleRace,
}
_COMMAND_NAMES: dict[type[Any], str] = {
    **{kind: name for name, kind in _SIMPLE_COMMANDS.items()},
    CreateRace: "create",
    ResultRace: "result",
    VoidRace: "void",
    WithdrawRunner: "withdraw",
    UpdateStrengths: "strengths",
    StartRace: "start",
}


def encode_command(command: CreateRace | RaceCommand, request_id: str = "") -> bytes:
    body: dict[str, Any] = {
        "v": SCHEMA,
        "type": _COMMAND_NAMES[type(command)],
        "race_id": command.race_id,
        "at_ms": command.at_ms,
        "request_id": request_id,
    }
    if isinstance(command, CreateRace):
        body["race"] = serial.race_to_dict(command)
    elif isinstance(command, ResultRace):
        body["placings"] = list(command.placings)
    elif isinstance(command, VoidRace):
        body["reason"] = command.reason
    elif isinstance(command, WithdrawRunner):
        body["runner_id"] = command.runner_id
    elif isinstance(command, UpdateStrengths):
        body["strengths"] = [list(pair) for pair in command.strengths]
    elif isinstance(command, StartRace):
        body["seed"] = command.seed
        body["length_mm"] = command.length_mm
    return orjson.dumps(body)


def decode_command(value: bytes) -> tuple[CreateRace | RaceCommand, str]:
    """The command and the request id it was issued with (for idempotent admin requests)."""
    fields = load_object(value, "command")
    kind = fields.data.get("type")
    race_id = fields.text("race_id")
    at_ms = fields.integer("at_ms")
    request_id = fields.data.get("request_id") or ""
    if not isinstance(request_id, str):
        raise CodecError("command.request_id: expected a string")
    try:
        return _command(fields, kind, race_id, at_ms), request_id
    except (DomainError, TypeError, ValueError) as error:
        raise CodecError(f"command: {error}", race_id=race_id) from None


def _command(fields: Fields, kind: object, race_id: str, at_ms: int) -> CreateRace | RaceCommand:
    if isinstance(kind, str) and kind in _SIMPLE_COMMANDS:
        command: RaceCommand = _SIMPLE_COMMANDS[kind](race_id, at_ms)
        return command
    if kind == "create":
        race = serial.race_from_dict(fields.data.get("race"))  # type: ignore[arg-type]
        if race.race_id != race_id:
            raise CodecError("command.race.race_id: does not match command.race_id")
        return race
    if kind == "result":
        placings = fields.data.get("placings")
        if not isinstance(placings, list) or not all(isinstance(p, str) for p in placings):
            raise CodecError("command.placings: expected a list of runner ids")
        return ResultRace(race_id, tuple(placings), at_ms)
    if kind == "void":
        return VoidRace(race_id, fields.text("reason", NAME_MAX), at_ms)
    if kind == "start":
        seed = fields.integer("seed", 0, 2**63 - 1)
        return StartRace(race_id, seed, at_ms, fields.integer("length_mm", 1_000, 100_000_000))
    if kind == "withdraw":
        return WithdrawRunner(race_id, fields.text("runner_id"), at_ms)
    if kind == "strengths":
        pairs = fields.data.get("strengths")
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs
        ):
            raise CodecError("command.strengths: expected a list of [runner_id, strength]")
        return UpdateStrengths(race_id, tuple((p[0], p[1]) for p in pairs), at_ms)
    raise CodecError(f"command.type: unknown command {kind!r}")


# -- outcomes and odds ---------------------------------------------------------------------


def encode_outcome(outcome: Outcome) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA,
            "bet_id": outcome.bet_id,
            "user_id": outcome.user_id,
            "race_id": outcome.race_id,
            "runner_id": outcome.runner_id,
            "stake_minor": outcome.stake_minor,
            "status": "accepted" if outcome.accepted else "rejected",
            "odds": str(outcome.odds) if outcome.odds else None,
            "reason": str(outcome.reason) if outcome.reason else None,
            "detail": outcome.detail,
            "odds_version": outcome.odds_version,
            "decided_at_ms": outcome.decided_at_ms,
        }
    )


def decode_outcome(value: bytes) -> Outcome:
    fields = load_object(value, "outcome")
    row = [
        fields.data.get(name)
        for name in ("bet_id", "user_id", "race_id", "runner_id", "stake_minor")
    ]
    odds = fields.data.get("odds")
    try:
        return serial.outcome_from_list(
            [
                *row,
                fields.data.get("status") == "accepted",
                Odds.parse(odds).hundredths if odds is not None else None,
                fields.data.get("reason"),
                fields.data.get("detail", ""),
                fields.data.get("odds_version"),
                fields.data.get("decided_at_ms"),
            ]
        )
    except DomainError as error:
        raise CodecError(f"outcome: {error}") from None


def encode_odds(snapshot: OddsSnapshot) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA,
            "race_id": snapshot.race_id,
            "version": snapshot.version,
            "state": str(snapshot.state),
            "at_ms": snapshot.at_ms,
            "prices": [
                [price.runner_id, str(price.odds) if price.odds else None]
                for price in snapshot.prices
            ],
        }
    )


def decode_odds(value: bytes) -> OddsSnapshot:
    fields = load_object(value, "odds")
    try:
        return OddsSnapshot(
            fields.text("race_id"),
            fields.integer("version"),
            RaceState(fields.text("state")),
            tuple(
                RunnerPrice(runner_id, Odds.parse(odds) if odds is not None else None)
                for runner_id, odds in fields.data.get("prices", [])
            ),
            fields.integer("at_ms"),
        )
    except (DomainError, TypeError, ValueError) as error:
        raise CodecError(f"odds: {error}") from None


def encode_dead_letter(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes, error: str
) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "error": error,
            "key": base64.b64encode(key).decode() if key is not None else None,
            "value": base64.b64encode(value).decode(),
        }
    )


def encode_settlement(settlement: Settlement) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA,
            "bet_id": settlement.bet_id,
            "user_id": settlement.user_id,
            "race_id": settlement.race_id,
            "runner_id": settlement.runner_id,
            "stake_minor": settlement.stake_minor,
            "result": str(settlement.result),
            "payout_minor": settlement.payout_minor,
        }
    )
