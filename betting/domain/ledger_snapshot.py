"""The ledger as bytes, for a changelog: `restore(snapshot(ledger)) == ledger`.

A snapshot holds only what the ledger is made of (`LedgerRecords`): its clock, its user
accounts, its journal of transfers and each user's limits. Balances, holds, limit windows and
race results are derived by replaying the journal, which re-runs every check a transfer passed
when it was made. Every field is checked on the way in, so a corrupt snapshot is
`InvalidValue`, never a ledger that fails later.

`transfer_to_list`/`transfer_from_list` and `limits_to_list`/`limits_from_list` are the same
encodings one record at a time, for a changelog that writes each transfer as its own record.
"""

from __future__ import annotations

from typing import Any

import orjson

from betting.domain.errors import InvalidValue
from betting.domain.ids import ID_MAX
from betting.domain.ledger import (
    AMOUNT_MINOR_MAX,
    HOUSE_ACCOUNT,
    WORLD_ACCOUNT,
    Ledger,
    LedgerRecords,
    Transfer,
    TransferKind,
)
from betting.domain.limits import Limit, UserLimits
from betting.domain.serial import (
    HEADER_LIST_MAX,
    check_choice,
    check_id,
    check_integer,
    check_list,
    check_object,
    check_optional_id,
    check_text,
    check_time,
)

SNAPSHOT_SCHEMA = 1
TRANSFER_ID_MAX = 2 * ID_MAX + 20  # "release:<user>:<bet>"
_KEYS = frozenset({"schema", "clock_ms", "accounts", "journal", "limits"})


def snapshot(ledger: Ledger) -> bytes:
    records = ledger.records()
    return orjson.dumps(
        {
            "schema": SNAPSHOT_SCHEMA,
            "clock_ms": records.clock_ms,
            "accounts": list(records.user_accounts),
            "journal": [transfer_to_list(transfer) for transfer in records.journal],
            "limits": [limits_to_list(user, limits) for user, limits in records.limits.items()],
        }
    )


def restore(data: bytes) -> Ledger:
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidValue(f"ledger snapshot does not decode: {error}") from None
    fields = check_object(loaded, "ledger", _KEYS)
    if fields.get("schema") != SNAPSHOT_SCHEMA or set(fields) != _KEYS:
        raise InvalidValue("ledger snapshot: not an object of the supported schema")
    accounts = check_list(fields["accounts"], "ledger.accounts", HEADER_LIST_MAX)
    journal = check_list(fields["journal"], "ledger.journal", HEADER_LIST_MAX)
    limits = check_list(fields["limits"], "ledger.limits", HEADER_LIST_MAX)
    records = LedgerRecords(
        clock_ms=check_time(fields["clock_ms"], "ledger.clock_ms"),
        user_accounts=tuple(check_id(user, "ledger.accounts[]") for user in accounts),
        journal=tuple(transfer_from_list(row) for row in journal),
        limits=dict(limits_from_list(row) for row in limits),
    )
    return Ledger.from_records(records)


def transfer_to_list(transfer: Transfer) -> list[Any]:
    return [
        transfer.transfer_id,
        str(transfer.kind),
        transfer.debit_account,
        transfer.credit_account,
        transfer.amount_minor,
        transfer.at_ms,
        transfer.reference,
        transfer.race_id,
    ]


def transfer_from_list(row: object) -> Transfer:
    items = check_list(row, "ledger.journal[]", 8, 8)
    the_id, kind, debit, credit, amount, at_ms, reference, race_id = items
    return Transfer(
        check_text(the_id, "transfer.transfer_id", TRANSFER_ID_MAX),
        check_choice(kind, "transfer.kind", TransferKind),
        _account_id(debit, "transfer.debit_account"),
        _account_id(credit, "transfer.credit_account"),
        check_integer(amount, "transfer.amount_minor", 1, AMOUNT_MINOR_MAX),
        check_time(at_ms, "transfer.at_ms"),
        check_optional_id(reference, "transfer.reference"),
        check_optional_id(race_id, "transfer.race_id"),
    )


def _account_id(value: object, name: str) -> str:
    if value in (HOUSE_ACCOUNT, WORLD_ACCOUNT):
        return str(value)
    return check_id(value, name)


def limits_to_list(user_id: str, limits: UserLimits) -> list[Any]:
    deposit, loss = limits.deposit, limits.loss
    return [
        user_id,
        [deposit.minor, deposit.raised_minor, deposit.raise_from_ms],
        [loss.minor, loss.raised_minor, loss.raise_from_ms],
        limits.excluded_until_ms,
    ]


def limits_from_list(row: object) -> tuple[str, UserLimits]:
    user_id, deposit, loss, excluded_until_ms = check_list(row, "ledger.limits[]", 4, 4)
    return check_id(user_id, "limits.user_id"), UserLimits(
        _limit(deposit, "limits.deposit"),
        _limit(loss, "limits.loss"),
        check_time(excluded_until_ms, "limits.excluded_until_ms"),
    )


def _limit(value: object, name: str) -> Limit:
    minor, raised, raise_from_ms = check_list(value, name, 3, 3)
    limit = Limit(_optional_minor(minor, name), _optional_minor(raised, name), None)
    if raise_from_ms is None:
        if raised is not None:
            raise InvalidValue(f"{name}: a raise without its time")
        return limit
    return Limit(limit.minor, limit.raised_minor, check_time(raise_from_ms, name))


def _optional_minor(value: object, name: str) -> int | None:
    return None if value is None else check_integer(value, name)
