"""Record values on the log: JSON (orjson) with a schema version, validated on the way in.

This is the boundary for every topic a task consumes. Decoding trusts nothing from outside:
each field is checked for presence, type (`type(x) is int`, so a bool is not a number), range
and length; ids follow the one id rule (`betting.domain.ids`), names are bounded printable
text, odds are short ASCII decimals. Any input at all either decodes to the documented value
or raises `CodecError` naming the field, never another exception (property-tested). The error
keeps whatever identity it could read (bet id, user, race), each a valid id, so the engine can
still tell the bettor their bet was INVALID. Unknown top-level fields are ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from betting.domain import serial
from betting.domain.deductions import Withdrawal
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
from betting.domain.ids import ID_MAX, is_valid_id
from betting.domain.model import Bet, OddsSnapshot, Outcome, RaceState, RejectReason, RunnerPrice
from betting.domain.money import Odds
from betting.domain.settlement import Settlement, SettlementResult

__all__ = ["ID_MAX", "SCHEMA", "CodecError"]

T = TypeVar("T")
SCHEMA = 1
NAME_MAX = serial.NAME_MAX
RECORD_BYTES_MAX = 1_048_576  # Kafka's default largest message
DEAD_LETTER_VALUE_MAX = 65_536  # of a dead record kept in its letter (it stays in its topic)
DEAD_LETTER_KEY_MAX = 1_024
ERROR_MAX = 500  # characters of an error written into a dead letter or an outcome
TOPIC_NAME_MAX = 249  # Kafka's limit
POSITIONS_MAX = 16  # input topics in one positions record
OFFSET_MAX = 2**63 - 1
PAYOUT_MINOR_MAX = serial.STAKE_MINOR_MAX * 1_000  # the longest price is 1000


class CodecError(ValueError):
    def __init__(
        self, message: str, bet_id: str = "", user_id: str = "", race_id: str = ""
    ) -> None:
        # Its text may become an outcome's detail, which must decode again: bounded, printable.
        super().__init__("".join(c if c.isprintable() else "?" for c in message[:ERROR_MAX]))
        self.bet_id = bet_id
        self.user_id = user_id
        self.race_id = race_id


@dataclass(frozen=True, slots=True)
class Fields:
    """Typed access to a decoded JSON object; each miss names its field."""

    data: dict[str, Any]
    what: str

    def _name(self, name: str) -> str:
        return f"{self.what}.{name}"

    # The fast path of each check is inline: a field that passes costs a lookup and a test
    # (bets are decoded one by one on the hot path); the message is made only on a miss.

    def id(self, name: str) -> str:
        value = self.data.get(name)
        if isinstance(value, str) and is_valid_id(value):
            return value
        return _checked(serial.check_id, value, self._name(name))

    def optional_id(self, name: str) -> str:
        """An id, or "" when the field is absent, null or empty."""
        value = self.data.get(name)
        return "" if value in (None, "") else self.id(name)

    def text(self, name: str, limit: int = NAME_MAX, empty: bool = False) -> str:
        value = self.data.get(name, "" if empty else None)
        return _checked(serial.check_text, value, self._name(name), limit, empty)

    def integer(self, name: str, low: int = 0, high: int = serial.COUNT_MAX) -> int:
        value = self.data.get(name)
        if type(value) is int and low <= value <= high:
            return value
        return _checked(serial.check_integer, value, self._name(name), low, high)

    def time(self, name: str) -> int:
        return self.integer(name, 0, serial.TIME_MS_MAX)

    def optional_time(self, name: str) -> int | None:
        return None if self.data.get(name) is None else self.time(name)

    def flag(self, name: str) -> bool:
        return _checked(serial.check_flag, self.data.get(name), self._name(name))

    def items(self, name: str, limit: int, low: int = 0) -> list[Any]:
        return _checked(serial.check_list, self.data.get(name), self._name(name), limit, low)

    def choice(self, name: str, kind: type[Any]) -> Any:
        return _checked(serial.check_choice, self.data.get(name), self._name(name), kind)

    def odds(self, name: str) -> Odds:
        value = self.data.get(name)
        try:
            return Odds.parse(value)  # type: ignore[arg-type]
        except DomainError:
            return parse_odds(value, self._name(name))

    def optional_odds(self, name: str) -> Odds | None:
        value = self.data.get(name)
        return None if value is None else parse_odds(value, self._name(name))


def _checked(check: Callable[..., T], value: object, name: str, *args: Any) -> T:
    try:
        return check(value, name, *args)
    except DomainError as error:
        raise CodecError(str(error)) from None


def parse_odds(value: object, name: str = "odds") -> Odds:
    """Odds on the wire: a short ASCII decimal string on the price ladder."""
    try:
        return Odds.parse(value)  # type: ignore[arg-type]
    except DomainError as error:
        raise CodecError(f"{name}: {error}") from None


def load_object(value: object, what: str, version_key: str = "v") -> Fields:
    if not isinstance(value, bytes):
        raise CodecError(f"{what}: expected a value, got {type(value).__name__}")
    if len(value) > RECORD_BYTES_MAX:
        raise CodecError(f"{what}: {len(value)} bytes is more than {RECORD_BYTES_MAX}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise CodecError(f"{what}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise CodecError(f"{what}: expected a JSON object")
    version = data.get(version_key)
    if type(version) is not int or version != SCHEMA:
        raise CodecError(
            f"{what}.{version_key}: schema version {serial.shown(version)} is not {SCHEMA}"
        )
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
    try:
        return Bet(
            bet_id=fields.id("bet_id"),
            user_id=fields.id("user_id"),
            race_id=fields.id("race_id"),
            runner_id=fields.id("runner_id"),
            stake_minor=fields.integer("stake_minor", 0, serial.STAKE_MINOR_MAX),
            odds_seen=fields.odds("odds"),
            odds_version=fields.integer("odds_version"),
            received_at_ms=fields.time("received_at_ms"),
            client_sent_at_ms=fields.optional_time("client_sent_at_ms"),
        )
    except CodecError as error:
        identity = {
            name: fields.data[name] if is_valid_id(fields.data.get(name)) else ""
            for name in ("bet_id", "user_id", "race_id")
        }
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
LENGTH_MM_MIN = serial.LENGTH_MM_MIN


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
        if command.dead_heats:
            body["dead_heats"] = [list(group) for group in command.dead_heats]
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
    race_id = fields.id("race_id")
    try:
        at_ms = fields.time("at_ms")
        request_id = fields.optional_id("request_id")
        return _command(fields, fields.data.get("type"), race_id, at_ms), request_id
    except CodecError as error:
        raise CodecError(str(error), race_id=race_id) from None
    except DomainError as error:
        raise CodecError(f"command: {error}", race_id=race_id) from None


def _command(fields: Fields, kind: object, race_id: str, at_ms: int) -> CreateRace | RaceCommand:
    if isinstance(kind, str) and kind in _SIMPLE_COMMANDS:
        command: RaceCommand = _SIMPLE_COMMANDS[kind](race_id, at_ms)
        return command
    if kind == "create":
        race = serial.race_from_dict(fields.data.get("race"))
        if race.race_id != race_id:
            raise CodecError("command.race.race_id: does not match command.race_id")
        return race
    if kind == "result":
        placings = fields.items("placings", serial.RUNNERS_MAX, low=1)
        return ResultRace(
            race_id,
            tuple(serial.check_id(p, "command.placings[]") for p in placings),
            at_ms,
            _dead_heats(fields.data.get("dead_heats")),
        )
    if kind == "void":
        return VoidRace(race_id, fields.text("reason"), at_ms)
    if kind == "start":
        seed = fields.integer("seed")
        length_mm = fields.integer("length_mm", LENGTH_MM_MIN, serial.LENGTH_MM_MAX)
        return StartRace(race_id, seed, at_ms, length_mm)
    if kind == "withdraw":
        return WithdrawRunner(race_id, fields.id("runner_id"), at_ms)
    if kind == "strengths":
        pairs = fields.items("strengths", serial.RUNNERS_MAX)
        return UpdateStrengths(race_id, tuple(_strength(pair) for pair in pairs), at_ms)
    raise CodecError(f"command.type: unknown command {serial.shown(kind)}")


def _dead_heats(value: object) -> tuple[tuple[str, ...], ...]:
    """A result's dead heats: absent, or a list of groups of two or more runner ids."""
    groups = serial.check_list(
        [] if value is None else value, "command.dead_heats", serial.RUNNERS_MAX
    )
    return tuple(
        tuple(
            serial.check_id(runner_id, "command.dead_heats[][]")
            for runner_id in serial.check_list(group, "command.dead_heats[]", serial.RUNNERS_MAX, 2)
        )
        for group in groups
    )


def _strength(pair: object) -> tuple[str, int]:
    runner_id, strength = serial.check_list(pair, "command.strengths[]", 2, 2)
    return (
        serial.check_id(runner_id, "command.strengths[].runner_id"),
        serial.check_integer(strength, "command.strengths[].strength", 1, serial.STRENGTH_MAX),
    )


# -- outcomes, odds, settlements -----------------------------------------------------------


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    return {
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


def encode_outcome(outcome: Outcome) -> bytes:
    return orjson.dumps(outcome_to_dict(outcome))


_STATUSES = {"accepted": True, "rejected": False}


def decode_outcome(value: bytes) -> Outcome:
    fields = load_object(value, "outcome")
    status = fields.data.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise CodecError("outcome.status: expected accepted or rejected")
    odds = fields.optional_odds("odds")
    row = [
        *(fields.data.get(name) for name in ("bet_id", "user_id", "race_id", "runner_id")),
        fields.data.get("stake_minor"),
        _STATUSES[status],
        odds.hundredths if odds is not None else None,
        fields.data.get("reason"),
        fields.data.get("detail", ""),
        fields.data.get("odds_version"),
        fields.data.get("decided_at_ms"),
    ]
    try:
        return serial.outcome_from_list(row)
    except DomainError as error:
        raise CodecError(str(error)) from None


def odds_to_dict(snapshot: OddsSnapshot) -> dict[str, Any]:
    return {
        "v": SCHEMA,
        "race_id": snapshot.race_id,
        "version": snapshot.version,
        "state": str(snapshot.state),
        "at_ms": snapshot.at_ms,
        "prices": [
            [price.runner_id, str(price.odds) if price.odds else None] for price in snapshot.prices
        ],
    }


def encode_odds(snapshot: OddsSnapshot) -> bytes:
    return orjson.dumps(odds_to_dict(snapshot))


def decode_odds(value: bytes) -> OddsSnapshot:
    fields = load_object(value, "odds")
    return OddsSnapshot(
        fields.id("race_id"),
        fields.integer("version"),
        fields.choice("state", RaceState),
        tuple(_price(item) for item in fields.items("prices", serial.RUNNERS_MAX)),
        fields.time("at_ms"),
    )


def _price(item: object) -> RunnerPrice:
    if type(item) is list and len(item) == 2 and isinstance(item[0], str) and is_valid_id(item[0]):
        odds = item[1]
        return RunnerPrice(item[0], None if odds is None else parse_odds(odds, "odds.prices[]"))
    try:
        runner_id, odds = serial.check_list(item, "odds.prices[]", 2, 2)
        runner_id = serial.check_id(runner_id, "odds.prices[].runner_id")
    except DomainError as error:
        raise CodecError(str(error)) from None
    return RunnerPrice(runner_id, None if odds is None else parse_odds(odds, "odds.prices[]"))


def settlement_to_dict(settlement: Settlement) -> dict[str, Any]:
    return {
        "v": SCHEMA,
        "bet_id": settlement.bet_id,
        "user_id": settlement.user_id,
        "race_id": settlement.race_id,
        "runner_id": settlement.runner_id,
        "stake_minor": settlement.stake_minor,
        "result": str(settlement.result),
        "payout_minor": settlement.payout_minor,
        "dead_heat_ways": settlement.dead_heat_ways,
        "deduction_pence": settlement.deduction_pence,
    }


def encode_settlement(settlement: Settlement) -> bytes:
    return orjson.dumps(settlement_to_dict(settlement))


def decode_settlement(value: bytes) -> Settlement:
    fields = load_object(value, "settlement")
    return Settlement(
        bet_id=fields.id("bet_id"),
        user_id=fields.id("user_id"),
        race_id=fields.id("race_id"),
        runner_id=fields.id("runner_id"),
        stake_minor=fields.integer("stake_minor", 0, serial.STAKE_MINOR_MAX),
        result=fields.choice("result", SettlementResult),
        payout_minor=fields.integer("payout_minor", 0, PAYOUT_MINOR_MAX),
        dead_heat_ways=_optional_integer(fields, "dead_heat_ways", 1, 1, serial.RUNNERS_MAX),
        deduction_pence=_optional_integer(fields, "deduction_pence", 0, 0, 100),
    )


def _optional_integer(fields: Fields, name: str, default: int, low: int, high: int) -> int:
    """A field added since the first records: absent is its default."""
    return default if fields.data.get(name) is None else fields.integer(name, low, high)


# -- the changelog's own records, users, dead letters --------------------------------------


OUTCOME_NAMES = frozenset({"accepted", *(str(reason) for reason in RejectReason)})


@dataclass(frozen=True, slots=True)
class Positions:
    """The changelog's `#positions` record: where a partition's state was written, as the
    next offset per input topic, and the bets decided there since the log began, by outcome
    ("accepted" or a rejection reason), counted exactly once with the state."""

    offsets: dict[str, int]
    decided: dict[str, int]


def encode_positions(offsets: dict[str, int], decided: dict[str, int] | None = None) -> bytes:
    return orjson.dumps({"v": SCHEMA, "positions": offsets, "decided": dict(decided or {})})


def decode_positions(value: bytes) -> Positions:
    fields = load_object(value, "positions")
    offsets = fields.data.get("positions")
    if not isinstance(offsets, dict) or len(offsets) > POSITIONS_MAX:
        raise CodecError(f"positions.positions: expected an object of at most {POSITIONS_MAX}")
    for topic, offset in offsets.items():
        if not is_topic_name(topic):
            raise CodecError(f"positions: {serial.shown(topic)} is not a topic name")
        _checked(serial.check_integer, offset, "positions[]", 0, OFFSET_MAX)
    decided = fields.data.get("decided", {})  # records written before counts were kept
    if not isinstance(decided, dict) or not decided.keys() <= OUTCOME_NAMES:
        raise CodecError("positions.decided: expected counts by outcome name")
    for count in decided.values():
        _checked(serial.check_integer, count, "positions.decided[]", 0, OFFSET_MAX)
    return Positions(dict(offsets), dict(decided))


def is_topic_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= TOPIC_NAME_MAX
        and value.isascii()
        and all(c.isalnum() or c in "._-" for c in value)
    )


@dataclass(frozen=True, slots=True)
class BookHeader:
    """A book's changelog header (`Book.snapshot` without outcomes), every field checked:
    what the read model, the notices and the APIs know of a race."""

    race: CreateRace
    state: RaceState
    version: int
    in_play: bool
    placings: tuple[str, ...]
    active: tuple[bool, ...]  # per runner of `race.runners`, in order
    pending: tuple[tuple[int, Bet], ...]  # in-play bets held for the delay: (due, bet)
    dead_heats: tuple[tuple[str, ...], ...] = ()  # groups of placings sharing a place
    withdrawals: tuple[Withdrawal, ...] = ()  # each withdrawn runner, its price and when

    def running(self) -> list[str]:
        """The runner ids still running, in the race's order."""
        return [
            r.runner_id for r, active in zip(self.race.runners, self.active, strict=True) if active
        ]


def _book_header(checked: dict[str, Any]) -> BookHeader:
    return BookHeader(
        race=checked["race"],
        state=checked["state"],
        version=checked["version"],
        in_play=checked["in_play"],
        placings=tuple(checked["placings"]),
        active=tuple(checked["active"]),
        pending=tuple(checked["pending"]),
        dead_heats=tuple(tuple(group) for group in checked["dead_heats"]),
        withdrawals=tuple(checked["withdrawals"]),
    )


def decode_header(value: bytes) -> BookHeader:
    """A book's changelog header (`Book.snapshot`), every field checked."""
    fields = load_object(value, "header", version_key="schema")
    try:
        return _book_header(serial.check_header(fields.data))
    except DomainError as error:
        raise CodecError(str(error)) from None


class HeaderDecoder:
    """`decode_header` for a reader that sees each race's header again and again (one per
    odds publication). A race's definition never changes, so one already checked is
    compared with, not checked again: the most of a header's cost."""

    def __init__(self, remembered_max: int = 1_024) -> None:
        self._remembered_max = remembered_max
        self._races: dict[str, tuple[bytes, CreateRace]] = {}  # race id -> (JSON, checked)

    def decode(self, value: bytes) -> BookHeader:
        fields = load_object(value, "header", version_key="schema")
        race = fields.data.get("race")
        race_id = race.get("race_id") if isinstance(race, dict) else None
        known = self._races.get(race_id) if isinstance(race_id, str) else None
        # Compared as JSON text, where true is not 1 and 1.0 is not 1 (as they are in Python).
        text = orjson.dumps(race) if known is not None else b""
        checked = known[1] if known is not None and known[0] == text else None
        try:
            header = serial.check_header(fields.data, checked)
        except DomainError as error:
            raise CodecError(str(error)) from None
        if checked is None:
            if len(self._races) >= self._remembered_max:
                self._races.clear()
            self._races[header["race"].race_id] = (orjson.dumps(race), header["race"])
        return _book_header(header)


# -- the changelog: one typed entry per record ----------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderEntry:
    """A race's header under key `race`; its value is decoded on demand (`decode_header`):
    a restore needs only each race's newest, a reader each one."""

    race_id: str
    value: bytes


@dataclass(frozen=True, slots=True)
class OutcomeEntry:
    """A bet's decision under key `race/user/bet`, written once: a bet is its bettor's
    (user, bet id), so two users' bets under one id are two records."""

    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Tombstone:
    """An empty value: the race (or, with `bet`, the outcome of (user, bet id)) is gone."""

    race_id: str
    bet: tuple[str, str] | None = None


ChangelogEntry = Positions | HeaderEntry | OutcomeEntry | Tombstone


def decode_changelog(key: bytes | None, value: bytes | None) -> ChangelogEntry:
    """A `book-changelog` record, typed; its key and value checked against each other."""
    if key == POSITIONS_KEY:
        return decode_positions(value or b"")
    race_id, bet = decode_changelog_key(key)
    if not value:
        return Tombstone(race_id, bet)
    if bet is None:
        return HeaderEntry(race_id, value)
    outcome = decode_outcome(value)
    if (outcome.race_id, outcome.user_id, outcome.bet_id) != (race_id, *bet):
        raise CodecError("outcome: its key names another bet")
    return OutcomeEntry(outcome)


def outcome_key(outcome: Outcome) -> bytes:
    return f"{outcome.race_id}/{outcome.user_id}/{outcome.bet_id}".encode()


def encode_changelog(entry: ChangelogEntry) -> tuple[bytes, bytes]:
    """The key and value a changelog entry is written as (a tombstone's value is empty)."""
    if isinstance(entry, Positions):
        return POSITIONS_KEY, encode_positions(entry.offsets, entry.decided)
    if isinstance(entry, HeaderEntry):
        return entry.race_id.encode(), entry.value
    if isinstance(entry, OutcomeEntry):
        return outcome_key(entry.outcome), encode_outcome(entry.outcome)
    key = entry.race_id if entry.bet is None else "/".join((entry.race_id, *entry.bet))
    return key.encode(), b""


def encode_preference(notifications: bool) -> bytes:
    return orjson.dumps({"v": SCHEMA, "notifications": notifications})


def decode_preference(value: bytes) -> bool:
    """A user's notification choice (the `users` topic, keyed by user id)."""
    return load_object(value, "preference").flag("notifications")


def _key_bytes(key: object) -> bytes:
    if key is None:
        return b""
    if not isinstance(key, bytes) or len(key) > DEAD_LETTER_KEY_MAX:
        raise CodecError(f"key: expected at most {DEAD_LETTER_KEY_MAX} bytes")
    return key


POSITIONS_KEY = b"#positions"  # in the changelog; race ids cannot start with '#'


def decode_changelog_key(key: bytes | None) -> tuple[str, tuple[str, str] | None]:
    """A changelog key: `race` for a header, `race/user/bet` for an outcome, all ids; the
    bet as (user id, bet id)."""
    try:
        text = _key_bytes(key).decode("ascii")
    except UnicodeDecodeError:
        raise CodecError("changelog key: not ASCII") from None
    parts = text.split("/")
    if len(parts) not in (1, 3) or not all(is_valid_id(part) for part in parts):
        raise CodecError(f"changelog key {serial.shown(text)}: expected race or race/user/bet ids")
    return parts[0], (parts[1], parts[2]) if len(parts) == 3 else None


def decode_key_id(key: bytes | None, what: str) -> str:
    """A record key that must be an id (a user on `users`)."""
    try:
        text = _key_bytes(key).decode("ascii")
    except UnicodeDecodeError:
        raise CodecError(f"{what}: the key is not ASCII") from None
    return _checked(serial.check_id, text, what)


def encode_dead_letter(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, error: str
) -> bytes:
    """A record that could not be taken, with why. The record stays in its own topic, so a
    huge one is cut short here: the letter must fit where the record did."""
    value = value or b""
    return orjson.dumps(
        {
            "v": SCHEMA,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "error": error[:ERROR_MAX],
            "key": base64.b64encode(key[:DEAD_LETTER_KEY_MAX]).decode()
            if key is not None
            else None,
            "value": base64.b64encode(value[:DEAD_LETTER_VALUE_MAX]).decode(),
            "value_bytes": len(value),
        }
    )
