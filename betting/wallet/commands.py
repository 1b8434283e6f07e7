"""What the wallet is asked to do, keyed by user on `wallet-commands`, and its wire format.

The engine asks it to end holds (a post when a race settles, a release when the book refuses
a bet or a race is void); the admin API asks it to move money in or out. Each command is
idempotent by what it names (the bet, or the request id), so a command written twice (a
producer retry, a step replayed after a crash) moves money once.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from betting.codec import SCHEMA, CodecError, load_object
from betting.domain.transfers import AMOUNT_MINOR_MAX


@dataclass(frozen=True, slots=True)
class PostStake:
    """The race settled: the house keeps the stake and pays `payout_minor` (0 for a loss)."""

    user_id: str
    bet_id: str
    payout_minor: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReleaseStake:
    """The stake goes back: the book refused the bet, the race was void, the runner withdrew."""

    user_id: str
    bet_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Deposit:
    user_id: str
    request_id: str
    amount_minor: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class Withdrawal:
    user_id: str
    request_id: str
    amount_minor: int
    at_ms: int


WalletCommand = PostStake | ReleaseStake | Deposit | Withdrawal
_KINDS: dict[type, str] = {
    PostStake: "post",
    ReleaseStake: "release",
    Deposit: "deposit",
    Withdrawal: "withdrawal",
}


def encode_command(command: WalletCommand) -> bytes:
    fields: dict[str, object] = {"v": SCHEMA, "kind": _KINDS[type(command)]}
    fields.update((name, getattr(command, name)) for name in command.__slots__)
    return orjson.dumps(fields)


def command_key(command: WalletCommand) -> bytes:
    return command.user_id.encode()


def decode_command(key: bytes | None, value: bytes) -> WalletCommand:
    """The command, or CodecError naming what is wrong; the key must be its user."""
    fields = load_object(value, "wallet command")  # bounded, an object, our schema version
    user_id, at_ms = fields.id("user_id"), fields.time("at_ms")
    if key != user_id.encode():
        raise CodecError("wallet command: its key is not its user")
    kind = fields.data.get("kind")
    if kind == "post":
        payout = fields.integer("payout_minor", 0, AMOUNT_MINOR_MAX)
        return PostStake(user_id, fields.id("bet_id"), payout, at_ms)
    if kind == "release":
        return ReleaseStake(user_id, fields.id("bet_id"), at_ms)
    if kind in ("deposit", "withdrawal"):
        request_id = fields.id("request_id")
        amount = fields.integer("amount_minor", 1, AMOUNT_MINOR_MAX)
        made = Deposit if kind == "deposit" else Withdrawal
        return made(user_id, request_id, amount, at_ms)
    raise CodecError(f"wallet command: unknown kind {str(kind)[:40]!r}")
