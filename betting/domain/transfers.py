"""The wallet's values: account names, transfers, holds, and what the ledger answers.

Immutable records, shared by the ledger (`ledger`), its snapshots (`ledger_snapshot`) and,
later, the engine and the API that read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from betting.domain.limits import UserLimits

HOUSE_ACCOUNT = "#house"  # "#" is never in a user id, so no user can own these names
WORLD_ACCOUNT = "#world"
AMOUNT_MINOR_MAX = 10**15  # one transfer; as serial.STAKE_MINOR_MAX
STATEMENT_PAGE_MAX = 1_000


class TransferKind(enum.StrEnum):
    DEPOSIT = "deposit"  # world -> user
    WITHDRAWAL = "withdrawal"  # user -> world
    DEMO_CREDIT = "demo_credit"  # house -> user, once, when the account opens
    HOLD = "hold"  # user -> house, pending: a stake reserved at acceptance
    POST = "post"  # the hold posted: the stake is the house's
    RELEASE = "release"  # the hold voided: the stake is the bettor's again
    PAYOUT = "payout"  # house -> user: a winning bet's return, stake included


BET_KINDS = frozenset(
    {TransferKind.HOLD, TransferKind.POST, TransferKind.RELEASE, TransferKind.PAYOUT}
)


class Refusal(enum.StrEnum):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    TRANSFER_ID_REUSED = "TRANSFER_ID_REUSED"
    SELF_EXCLUDED = "SELF_EXCLUDED"
    LOSS_LIMIT = "LOSS_LIMIT"
    DEPOSIT_LIMIT = "DEPOSIT_LIMIT"
    NO_SUCH_HOLD = "NO_SUCH_HOLD"
    HOLD_ALREADY_POSTED = "HOLD_ALREADY_POSTED"
    HOLD_ALREADY_RELEASED = "HOLD_ALREADY_RELEASED"


class Transfer(NamedTuple):
    """One movement between two accounts. A named tuple, as `model.Outcome` is: one or two
    are built per bet on the hot path, and a tuple is several times cheaper to build."""

    transfer_id: str
    kind: TransferKind
    debit_account: str
    credit_account: str
    amount_minor: int
    at_ms: int
    reference: str  # a deposit's or withdrawal's request id; a stake's bet id; "" for demo
    race_id: str = ""  # a stake's race, on its hold and each of its ends

    def same_content(self, other: Transfer) -> bool:
        """Equal but for the time: a retry comes later."""
        return self._replace(at_ms=other.at_ms) == other

    @property
    def user_id(self) -> str:
        return self.credit_account if self.debit_account.startswith("#") else self.debit_account


class LedgerResult(NamedTuple):
    """The transfers an operation made (or made the first time), or why it was refused."""

    transfers: tuple[Transfer, ...] = ()
    refusal: Refusal | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None


class HoldState(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    RELEASED = "released"


class Hold(NamedTuple):
    user_id: str
    bet_id: str
    race_id: str
    amount_minor: int
    state: HoldState = HoldState.PENDING
    payout_minor: int = 0  # once posted: what the bettor was paid (0 on a loss)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account_id: str
    debits_posted_minor: int
    credits_posted_minor: int
    debits_pending_minor: int
    credits_pending_minor: int

    @property
    def balance_minor(self) -> int:
        return self.credits_posted_minor - self.debits_posted_minor

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.debits_pending_minor


@dataclass(frozen=True, slots=True)
class StatementEntry:
    transfer: Transfer
    balance_after_minor: int
    available_after_minor: int


@dataclass(frozen=True, slots=True)
class StatementPage:
    entries: tuple[StatementEntry, ...]
    next_cursor: int | None  # pass it back for the next page; None: this was the last


@dataclass(frozen=True, slots=True)
class Difference:
    """A figure the ledger holds that its transfers do not give."""

    account_id: str
    figure: str
    recorded_minor: int
    recomputed_minor: int


@dataclass(frozen=True, slots=True)
class LedgerRecords:
    clock_ms: int
    user_accounts: tuple[str, ...]  # every user account, with transfers or not
    journal: tuple[Transfer, ...]
    limits: dict[str, UserLimits]


def transfer_id(kind: TransferKind, user_id: str, reference: str) -> str:
    """The id a transfer must have: ":" is never in an id, so no two kinds can collide."""
    name = kind.value  # formatting the enum itself costs several times more
    if kind is TransferKind.DEPOSIT or kind is TransferKind.WITHDRAWAL:
        return f"{name}:{reference}"
    if kind is TransferKind.DEMO_CREDIT:
        return f"{name}:{user_id}"
    return f"{name}:{user_id}:{reference}"


def is_user_account(account_id: str) -> bool:
    return not account_id.startswith("#")


def accounts_of(kind: TransferKind, user_id: str) -> tuple[str, str]:
    """(debit, credit) of each kind; a post and a release move what their hold reserved."""
    if kind is TransferKind.DEPOSIT:
        return WORLD_ACCOUNT, user_id
    if kind is TransferKind.WITHDRAWAL:
        return user_id, WORLD_ACCOUNT
    if kind is TransferKind.DEMO_CREDIT or kind is TransferKind.PAYOUT:
        return HOUSE_ACCOUNT, user_id
    return user_id, HOUSE_ACCOUNT
