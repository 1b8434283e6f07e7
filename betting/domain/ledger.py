"""The wallet: a double-entry ledger of accounts in integer minor units, and transfers.

Modelled on TigerBeetle's accounts and two-phase transfers. Every account keeps four running
figures (debits and credits, posted and pending), and every account is credit-normal:
`balance = credits posted - debits posted`, `available = balance - debits pending`.

- A user's account (its id is the user id) is what the operator owes the bettor. Neither its
  balance nor its available balance is ever negative (TigerBeetle's
  `debits_must_not_exceed_credits`, pending debits included).
- `HOUSE_ACCOUNT` holds the house's takings: stakes lost minus payouts, of either sign. It
  gives the demo credit too.
- `WORLD_ACCOUNT` is the outside world: a deposit debits it, a withdrawal credits it.

Each transfer debits one account and credits another by the same amount, so the balances sum
to zero after every operation (checked against a running total, not by adding up accounts).
A transfer's id is derived from what it is (`transfer_id`): the request id of a deposit or a
withdrawal, the user and bet id of a stake. The same operation asked again with the same
content is a no-op answering the first result; with other content it is refused
(TRANSFER_ID_REUSED) and nothing changes.

A stake has two phases. `hold` reserves it (user -> house, pending); the hold then ends exactly
once: `post_loss` (the house keeps it), `post_win` (the house keeps it and pays the bettor's
return, stake included, as the caller computed it), or `release` (a void, a withdrawal, a
refusal: the bettor has it back). Ending an ended hold the same way again answers as the first
time and moves nothing; ending it the other way is refused.

Pure: no clock, no I/O. Times are passed in; the ledger's clock is the latest time it has been
given (it never goes back), and transfers are stamped with it. A refused operation changes no
balance; bad values (a malformed id, an amount out of range) raise `InvalidValue`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from betting.domain.errors import InvalidValue, invariant
from betting.domain.limits import Limit, RollingSum, UserLimits, exceeds
from betting.domain.money import ODDS_MAX_HUNDREDTHS, ODDS_SCALE
from betting.domain.serial import check_id, check_integer, check_time
from betting.domain.transfers import (
    AMOUNT_MINOR_MAX,
    BET_KINDS,
    HOUSE_ACCOUNT,
    STATEMENT_PAGE_MAX,
    WORLD_ACCOUNT,
    AccountBalance,
    Difference,
    Hold,
    HoldState,
    LedgerRecords,
    LedgerResult,
    Refusal,
    StatementEntry,
    StatementPage,
    Transfer,
    TransferKind,
    accounts_of,
    is_user_account,
    transfer_id,
)

__all__ = [
    "AMOUNT_MINOR_MAX",
    "HOUSE_ACCOUNT",
    "STATEMENT_PAGE_MAX",
    "WORLD_ACCOUNT",
    "AccountBalance",
    "Difference",
    "Hold",
    "HoldState",
    "Ledger",
    "LedgerRecords",
    "LedgerResult",
    "Refusal",
    "StatementEntry",
    "StatementPage",
    "Transfer",
    "TransferKind",
    "is_user_account",
    "transfer_id",
]


_NO_LIMITS = UserLimits()


@dataclass(slots=True)
class _Account:
    account_id: str
    debits_posted_minor: int = 0
    credits_posted_minor: int = 0
    debits_pending_minor: int = 0
    credits_pending_minor: int = 0
    # (journal position, balance after, available after): the statement, in journal order.
    entries: list[tuple[int, int, int]] = field(default_factory=list)

    def figures(self) -> AccountBalance:
        return AccountBalance(
            self.account_id,
            self.debits_posted_minor,
            self.credits_posted_minor,
            self.debits_pending_minor,
            self.credits_pending_minor,
        )


class Ledger:
    def __init__(self) -> None:
        self.clock_ms = 0
        self._journal: list[Transfer] = []
        self._positions: dict[str, int] = {}  # transfer id -> position in the journal
        self._accounts = {name: _Account(name) for name in (HOUSE_ACCOUNT, WORLD_ACCOUNT)}
        self._holds: dict[tuple[str, str], Hold] = {}
        self._limits: dict[str, UserLimits] = {}
        self._deposits: dict[str, RollingSum] = {}  # per user, for the deposit limit
        self._losses: dict[str, RollingSum] = {}  # per user, for the loss limit
        self._race_results_minor: dict[str, int] = {}  # the house's P&L on each race
        # Running sums of every account's balance and of its pending credits minus debits.
        self._balance_total_minor = 0
        self._pending_total_minor = 0

    # -- money in and out -----------------------------------------------------------------

    def open_account(self, user_id: str, at_ms: int, demo_credit_minor: int = 0) -> LedgerResult:
        """Open a user's account, with a demo credit from the house if it is new.

        Opening an open account is a no-op answering what the opening gave (whatever demo
        credit is asked for now): the credit is given once, to a new account only.
        """
        user_id = check_id(user_id, "user_id")
        demo_credit_minor = check_integer(
            demo_credit_minor, "demo_credit_minor", 0, AMOUNT_MINOR_MAX
        )
        now_ms = self._tick(at_ms)
        if user_id in self._accounts:
            first = self._find(transfer_id(TransferKind.DEMO_CREDIT, user_id, ""))
            return LedgerResult(() if first is None else (first,))
        self._accounts[user_id] = _Account(user_id)
        if not demo_credit_minor:
            return LedgerResult()
        credit = self._new(TransferKind.DEMO_CREDIT, user_id, demo_credit_minor, now_ms, "")
        self._record(credit)
        return LedgerResult((credit,))

    def deposit(self, user_id: str, request_id: str, amount_minor: int, at_ms: int) -> LedgerResult:
        user_id, request_id, amount_minor = _checked(user_id, request_id, amount_minor)
        now_ms = self._tick(at_ms)
        deposit = self._new(TransferKind.DEPOSIT, user_id, amount_minor, now_ms, request_id)
        first = self._replay(deposit)
        if first is not None:
            return first
        refused = self._refusal(user_id, amount_minor, now_ms, TransferKind.DEPOSIT)
        if refused is not None:
            return refused
        self._record(deposit)
        return LedgerResult((deposit,))

    def withdraw(
        self, user_id: str, request_id: str, amount_minor: int, at_ms: int
    ) -> LedgerResult:
        """Pay out to the outside world; a self-excluded bettor may always withdraw."""
        user_id, request_id, amount_minor = _checked(user_id, request_id, amount_minor)
        now_ms = self._tick(at_ms)
        withdrawal = self._new(TransferKind.WITHDRAWAL, user_id, amount_minor, now_ms, request_id)
        first = self._replay(withdrawal)
        if first is not None:
            return first
        available_minor = self.available_minor(user_id)
        if available_minor < amount_minor:
            return _refused(Refusal.INSUFFICIENT_FUNDS, f"available {available_minor}")
        self._record(withdrawal)
        return LedgerResult((withdrawal,))

    # -- stakes: hold, then post or release -----------------------------------------------

    def hold(
        self, user_id: str, bet_id: str, race_id: str, amount_minor: int, at_ms: int
    ) -> LedgerResult:
        """Reserve a stake. Refused, in this order of reasons, when the bettor is self-excluded
        (SELF_EXCLUDED), when it would take the net loss of the last 24 h past the loss limit
        (LOSS_LIMIT), or when the available balance does not cover it (INSUFFICIENT_FUNDS).

        A replay answers the first result even after the hold ended: `hold_of` tells its state.
        """
        user_id, bet_id, amount_minor = _checked(user_id, bet_id, amount_minor)
        race_id = check_id(race_id, "race_id")
        now_ms = self._tick(at_ms)
        hold = self._new(TransferKind.HOLD, user_id, amount_minor, now_ms, bet_id, race_id)
        first = self._replay(hold)
        if first is not None:
            return first
        refused = self._refusal(user_id, amount_minor, now_ms, TransferKind.HOLD)
        if refused is not None:
            return refused
        self._record(hold)
        return LedgerResult((hold,))

    def post_loss(self, user_id: str, bet_id: str, at_ms: int) -> LedgerResult:
        return self._post(user_id, bet_id, 0, at_ms)

    def post_win(self, user_id: str, bet_id: str, payout_minor: int, at_ms: int) -> LedgerResult:
        """Post the stake to the house and pay `payout_minor` (stake included) from it; a win
        paying nothing is a loss. The payout can be below the stake (a dead heat)."""
        return self._post(user_id, bet_id, payout_minor, at_ms)

    def release(self, user_id: str, bet_id: str, at_ms: int) -> LedgerResult:
        user_id, bet_id = check_id(user_id, "user_id"), check_id(bet_id, "bet_id")
        now_ms = self._tick(at_ms)
        hold = self._holds.get((user_id, bet_id))
        if hold is None:
            return _refused(Refusal.NO_SUCH_HOLD, f"{user_id}/{bet_id}")
        if hold.state is HoldState.POSTED:
            return _refused(Refusal.HOLD_ALREADY_POSTED, f"payout {hold.payout_minor}")
        if hold.state is HoldState.RELEASED:
            return LedgerResult(self._ends(hold))
        release = self._resolution(TransferKind.RELEASE, hold, now_ms)
        self._record(release)
        return LedgerResult((release,))

    def _post(self, user_id: str, bet_id: str, payout_minor: int, at_ms: int) -> LedgerResult:
        user_id, bet_id = check_id(user_id, "user_id"), check_id(bet_id, "bet_id")
        payout_minor = check_integer(payout_minor, "payout_minor", 0, AMOUNT_MINOR_MAX)
        at_ms = check_time(at_ms, "at_ms")
        hold = self._holds.get((user_id, bet_id))
        if (
            hold is not None
            and payout_minor > hold.amount_minor * ODDS_MAX_HUNDREDTHS // ODDS_SCALE
        ):
            raise InvalidValue(f"payout {payout_minor} beyond the longest odds on the stake")
        now_ms = self._tick(at_ms)  # only once every value is known good
        if hold is None:
            return _refused(Refusal.NO_SUCH_HOLD, f"{user_id}/{bet_id}")
        if hold.state is HoldState.RELEASED:
            return _refused(Refusal.HOLD_ALREADY_RELEASED, f"{user_id}/{bet_id}")
        if hold.state is HoldState.POSTED:
            if hold.payout_minor != payout_minor:
                return _refused(Refusal.HOLD_ALREADY_POSTED, f"payout {hold.payout_minor}")
            return LedgerResult(self._ends(hold))
        transfers = [self._resolution(TransferKind.POST, hold, now_ms)]
        if payout_minor:
            transfers.append(
                self._new(TransferKind.PAYOUT, user_id, payout_minor, now_ms, bet_id, hold.race_id)
            )
        for transfer in transfers:
            self._record(transfer)
        return LedgerResult(tuple(transfers))

    # -- limits -----------------------------------------------------------------------------

    def set_deposit_limit(self, user_id: str, limit_minor: int | None, at_ms: int) -> Limit:
        limits = self._limits_for_change(user_id)
        limit = limits.deposit.changed(_limit_value(limit_minor), self._tick(at_ms))
        self._limits[user_id] = replace(limits, deposit=limit)
        return limit

    def set_loss_limit(self, user_id: str, limit_minor: int | None, at_ms: int) -> Limit:
        limits = self._limits_for_change(user_id)
        limit = limits.loss.changed(_limit_value(limit_minor), self._tick(at_ms))
        self._limits[user_id] = replace(limits, loss=limit)
        return limit

    def self_exclude(self, user_id: str, until_ms: int, at_ms: int) -> UserLimits:
        """Exclude the bettor from staking and depositing until `until_ms` (never shortened)."""
        limits = self._limits_for_change(user_id)
        until_ms = check_time(until_ms, "until_ms")
        limits = limits.excluded_until(until_ms)
        self._tick(at_ms)
        self._limits[user_id] = limits
        return limits

    def limits(self, user_id: str) -> UserLimits:
        return self._limits.get(user_id, _NO_LIMITS)

    def _refusal(
        self, user_id: str, amount_minor: int, now_ms: int, kind: TransferKind
    ) -> LedgerResult | None:
        """Why a deposit or a hold of `amount_minor` is refused now, if it is."""
        limits = self._limits.get(user_id, _NO_LIMITS)
        if limits.excluded(now_ms):
            return _refused(Refusal.SELF_EXCLUDED, f"until {limits.excluded_until_ms}")
        if kind is TransferKind.DEPOSIT:
            used_minor, limit_minor = self.deposited_minor(user_id), limits.deposit.at(now_ms)
            if exceeds(limit_minor, used_minor, amount_minor):
                detail = f"deposited {used_minor} of {limit_minor} in 24 h"
                return _refused(Refusal.DEPOSIT_LIMIT, detail)
            return None
        lost_minor, limit_minor = self.lost_minor(user_id), limits.loss.at(now_ms)
        if exceeds(limit_minor, lost_minor, amount_minor):
            return _refused(Refusal.LOSS_LIMIT, f"net loss {lost_minor} of {limit_minor} in 24 h")
        available_minor = self.available_minor(user_id)
        if available_minor < amount_minor:
            return _refused(Refusal.INSUFFICIENT_FUNDS, f"available {available_minor}")
        return None

    def _limits_for_change(self, user_id: str) -> UserLimits:
        return self._limits.get(check_id(user_id, "user_id"), _NO_LIMITS)

    # -- reads ----------------------------------------------------------------------------

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def account(self, account_id: str) -> AccountBalance:
        account = self._accounts.get(account_id)
        return (account or _Account(account_id)).figures()

    def balance_minor(self, account_id: str) -> int:
        account = self._accounts.get(account_id)
        return 0 if account is None else account.credits_posted_minor - account.debits_posted_minor

    def available_minor(self, account_id: str) -> int:
        account = self._accounts.get(account_id)
        if account is None:
            return 0
        posted = account.credits_posted_minor - account.debits_posted_minor
        return posted - account.debits_pending_minor

    def hold_of(self, user_id: str, bet_id: str) -> Hold | None:
        return self._holds.get((user_id, bet_id))

    def holds(self) -> Iterator[Hold]:
        return iter(self._holds.values())

    def race_result_minor(self, race_id: str) -> int:
        """The house's P&L on a race so far: stakes posted minus payouts."""
        return self._race_results_minor.get(race_id, 0)

    def lost_minor(self, user_id: str) -> int:
        """The net loss the loss limit counts, over the last 24 h (see `limits`)."""
        window = self._losses.get(user_id)
        return 0 if window is None else window.total_minor(self.clock_ms)

    def deposited_minor(self, user_id: str) -> int:
        window = self._deposits.get(user_id)
        return 0 if window is None else window.total_minor(self.clock_ms)

    def statement(self, account_id: str, cursor: int = 0, limit: int = 50) -> StatementPage:
        """An account's transfers oldest first, `limit` from `cursor` (0: the first).

        The order is the journal's, which only grows, so a cursor stays valid for ever.
        """
        limit = check_integer(limit, "limit", 1, STATEMENT_PAGE_MAX)
        cursor = check_integer(cursor, "cursor")
        account = self._accounts.get(account_id)
        rows = [] if account is None else account.entries[cursor : cursor + limit]
        page = tuple(StatementEntry(self._journal[at], bal, avail) for at, bal, avail in rows)
        more = account is not None and cursor + limit < len(account.entries)
        return StatementPage(page, cursor + limit if more else None)

    def transfers(self, cursor: int = 0, limit: int = STATEMENT_PAGE_MAX) -> tuple[Transfer, ...]:
        """The journal from `cursor`: what a changelog writes, in order."""
        limit = check_integer(limit, "limit", 1, STATEMENT_PAGE_MAX)
        cursor = check_integer(cursor, "cursor")
        return tuple(self._journal[cursor : cursor + limit])

    @property
    def transfer_count(self) -> int:
        return len(self._journal)

    def reconcile(self) -> tuple[Difference, ...]:
        """Every account's figures recomputed from the transfers, and where they differ."""
        recomputed: dict[str, _Account] = {}
        for transfer in self._journal:
            _apply(recomputed, transfer)
        names = sorted(set(recomputed) | set(self._accounts))
        differences = [
            difference
            for name in names
            for difference in _differences(self.account(name), _figures(recomputed, name))
        ]
        total_minor = sum(account.figures().balance_minor for account in self._accounts.values())
        if total_minor != 0 or self._balance_total_minor != 0:
            differences.append(
                Difference("*", "balance_total_minor", self._balance_total_minor, total_minor)
            )
        return tuple(differences)

    # -- where money moves ----------------------------------------------------------------

    def _tick(self, at_ms: int) -> int:
        self.clock_ms = max(self.clock_ms, check_time(at_ms, "at_ms"))
        return self.clock_ms

    def _new(
        self,
        kind: TransferKind,
        user_id: str,
        amount_minor: int,
        at_ms: int,
        reference: str,
        race_id: str = "",
    ) -> Transfer:
        debit, credit = accounts_of(kind, user_id)
        the_id = transfer_id(kind, user_id, reference)
        return Transfer(the_id, kind, debit, credit, amount_minor, at_ms, reference, race_id)

    def _resolution(self, kind: TransferKind, hold: Hold, at_ms: int) -> Transfer:
        return self._new(kind, hold.user_id, hold.amount_minor, at_ms, hold.bet_id, hold.race_id)

    def _find(self, the_id: str) -> Transfer | None:
        position = self._positions.get(the_id)
        return None if position is None else self._journal[position]

    def _replay(self, transfer: Transfer) -> LedgerResult | None:
        """The first result when this transfer was made before; None when it is new."""
        first = self._find(transfer.transfer_id)
        if first is None:
            return None
        if first.same_content(transfer):
            return LedgerResult((first,))
        return _refused(Refusal.TRANSFER_ID_REUSED, f"{transfer.transfer_id} differs")

    def _ends(self, hold: Hold) -> tuple[Transfer, ...]:
        """The transfers that ended a hold: its release, or its post and any payout."""
        kinds = (
            (TransferKind.RELEASE,)
            if hold.state is HoldState.RELEASED
            else (TransferKind.POST, TransferKind.PAYOUT)
        )
        found = (self._find(transfer_id(kind, hold.user_id, hold.bet_id)) for kind in kinds)
        return tuple(transfer for transfer in found if transfer is not None)

    def _record(self, transfer: Transfer) -> None:
        """The one place money moves; every check of the operation has passed before."""
        position = len(self._journal)
        self._journal.append(transfer)
        self._positions[transfer.transfer_id] = position
        debit = self._opened(transfer.debit_account)
        credit = self._opened(transfer.credit_account)
        self._move(debit, credit, transfer.kind, transfer.amount_minor)
        self._note(transfer)
        for account in (debit, credit):
            balance_minor = account.credits_posted_minor - account.debits_posted_minor
            available_minor = balance_minor - account.debits_pending_minor
            account.entries.append((position, balance_minor, available_minor))
            _check_account(account, available_minor)
        if self._balance_total_minor or self._pending_total_minor:  # the message costs
            invariant(
                False,
                f"after {transfer.transfer_id}: balances sum to {self._balance_total_minor}, "
                f"pending to {self._pending_total_minor}",
            )

    def _opened(self, account_id: str) -> _Account:
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account(account_id)
        return account

    def _move(self, debit: _Account, credit: _Account, kind: TransferKind, amount: int) -> None:
        if kind is TransferKind.HOLD or kind is TransferKind.RELEASE:
            pending = amount if kind is TransferKind.HOLD else -amount
            debit.debits_pending_minor += pending
            self._pending_total_minor -= pending
            credit.credits_pending_minor += pending
            self._pending_total_minor += pending
            return
        if kind is TransferKind.POST:
            debit.debits_pending_minor -= amount
            self._pending_total_minor += amount
            credit.credits_pending_minor -= amount
            self._pending_total_minor -= amount
        debit.debits_posted_minor += amount
        self._balance_total_minor -= amount
        credit.credits_posted_minor += amount
        self._balance_total_minor += amount

    def _note(self, transfer: Transfer) -> None:
        """What a transfer changes besides balances: holds, limit windows, race results."""
        kind, amount, at_ms = transfer.kind, transfer.amount_minor, transfer.at_ms
        user_id, reference, race_id = transfer.user_id, transfer.reference, transfer.race_id
        key = (user_id, reference)
        if kind is TransferKind.DEPOSIT:
            self._deposits.setdefault(user_id, RollingSum()).add(at_ms, amount)
        elif kind is TransferKind.HOLD:
            self._holds[key] = Hold(user_id, reference, race_id, amount)
            self._losses.setdefault(user_id, RollingSum()).add(at_ms, amount, reference)
        elif kind is TransferKind.RELEASE:
            self._holds[key] = self._holds[key]._replace(state=HoldState.RELEASED)
            self._losses[user_id].cancel(reference)
        elif kind is TransferKind.POST:
            self._holds[key] = self._holds[key]._replace(state=HoldState.POSTED)
            self._race_results_minor[race_id] = self.race_result_minor(race_id) + amount
        elif kind is TransferKind.PAYOUT:
            self._holds[key] = self._holds[key]._replace(payout_minor=amount)
            self._losses[user_id].add(at_ms, -amount)
            self._race_results_minor[race_id] -= amount

    # -- records, for snapshots ------------------------------------------------------------

    def records(self) -> LedgerRecords:
        """What the ledger is made of; everything else is derived from these."""
        users = tuple(sorted(name for name in self._accounts if is_user_account(name)))
        return LedgerRecords(self.clock_ms, users, tuple(self._journal), dict(self._limits))

    @classmethod
    def from_records(cls, records: LedgerRecords) -> Ledger:
        """A ledger rebuilt by replaying its journal; a journal that the operations could not
        have written (a post before its hold, an overdraft, a time going back) is
        `InvalidValue`, never a ledger that breaks later."""
        ledger = cls()
        for transfer in records.journal:
            ledger._check_recorded(transfer)
            ledger.clock_ms = transfer.at_ms
            ledger._record(transfer)
        if records.clock_ms < ledger.clock_ms:
            raise InvalidValue("ledger records: the clock is before the last transfer")
        ledger.clock_ms = records.clock_ms
        for user_id in records.user_accounts:
            ledger._accounts.setdefault(user_id, _Account(user_id))
        ledger._limits = dict(records.limits)
        return ledger

    def _check_recorded(self, transfer: Transfer) -> None:
        kind, user_id, reference = transfer.kind, transfer.user_id, transfer.reference
        made = self._new(kind, user_id, transfer.amount_minor, transfer.at_ms, reference)
        if made._replace(race_id=transfer.race_id) != transfer:
            raise InvalidValue(f"ledger records: {transfer.transfer_id!r} is not of its kind")
        if (kind in BET_KINDS) != bool(transfer.race_id):
            raise InvalidValue(f"ledger records: {transfer.transfer_id!r} race")
        if transfer.transfer_id in self._positions or transfer.at_ms < self.clock_ms:
            raise InvalidValue(f"ledger records: {transfer.transfer_id!r} repeated or late")
        overdraws = self.available_minor(user_id) < transfer.amount_minor
        if kind in (TransferKind.HOLD, TransferKind.WITHDRAWAL) and overdraws:
            raise InvalidValue(f"ledger records: {transfer.transfer_id!r} overdraws")
        hold = self._holds.get((user_id, reference))
        wanted = {
            TransferKind.POST: HoldState.PENDING,
            TransferKind.RELEASE: HoldState.PENDING,
            TransferKind.PAYOUT: HoldState.POSTED,
        }.get(kind)
        if wanted is not None and (
            hold is None
            or hold.state is not wanted
            or hold.payout_minor
            or hold.race_id != transfer.race_id
            or (kind is not TransferKind.PAYOUT and hold.amount_minor != transfer.amount_minor)
        ):
            raise InvalidValue(f"ledger records: {transfer.transfer_id!r} ends no open hold")

    # -- equality -------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ledger):
            return NotImplemented
        return self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def _state(self) -> tuple[object, ...]:
        """Everything a reader can see; limit windows compared by their totals now."""
        users = sorted(set(self._deposits) | set(self._losses))
        windows = [(user, self.deposited_minor(user), self.lost_minor(user)) for user in users]
        return (
            self.clock_ms,
            self._journal,
            self._accounts,
            self._holds,
            self._limits,
            self._race_results_minor,
            windows,
        )


def _checked(user_id: str, reference: str, amount_minor: int) -> tuple[str, str, int]:
    return (
        check_id(user_id, "user_id"),
        check_id(reference, "reference"),
        check_integer(amount_minor, "amount_minor", 1, AMOUNT_MINOR_MAX),
    )


def _limit_value(limit_minor: int | None) -> int | None:
    return None if limit_minor is None else check_integer(limit_minor, "limit_minor", 0)


def _refused(refusal: Refusal, detail: str) -> LedgerResult:
    return LedgerResult((), refusal, detail)


def _check_account(account: _Account, available_minor: int) -> None:
    if account.debits_pending_minor < 0 or account.credits_pending_minor < 0:
        invariant(False, f"account {account.account_id}: pending below zero")
    if available_minor < 0 and is_user_account(account.account_id):
        invariant(
            False,
            f"account {account.account_id}: debits exceed credits (available {available_minor})",
        )


def _apply(accounts: dict[str, _Account], transfer: Transfer) -> None:
    """A transfer's effect on bare figures, written apart from `Ledger._move` to check it."""
    debit = accounts.setdefault(transfer.debit_account, _Account(transfer.debit_account))
    credit = accounts.setdefault(transfer.credit_account, _Account(transfer.credit_account))
    amount, kind = transfer.amount_minor, transfer.kind
    posted = kind not in (TransferKind.HOLD, TransferKind.RELEASE)
    pending = {TransferKind.HOLD: amount, TransferKind.RELEASE: -amount}.get(kind, 0)
    if kind is TransferKind.POST:
        pending = -amount
    debit.debits_pending_minor += pending
    credit.credits_pending_minor += pending
    if posted:
        debit.debits_posted_minor += amount
        credit.credits_posted_minor += amount


def _figures(accounts: dict[str, _Account], name: str) -> AccountBalance:
    return accounts.get(name, _Account(name)).figures()


def _differences(recorded: AccountBalance, recomputed: AccountBalance) -> list[Difference]:
    return [
        Difference(recorded.account_id, figure, getattr(recorded, figure), value)
        for figure in (
            "debits_posted_minor",
            "credits_posted_minor",
            "debits_pending_minor",
            "credits_pending_minor",
        )
        if getattr(recorded, figure) != (value := getattr(recomputed, figure))
    ]
