"""The wallet step: one ledger per user partition, fed by bet requests and wallet commands.

Synchronous and deterministic, as the engine core is: an async shell polls `bet-requests`
and `wallet-commands` (both keyed by user), hands each batch to `process`, and commits what
comes back in one Kafka transaction with the positions read, so a kill -9 leaves a batch
either undone (read again, and the ledger's idempotency makes the replay harmless) or done
once.

The engine stays the one authority on a bet's outcome. Every bet request goes on to `bets`:
- with its stake held, or
- refused by the wallet, carrying the reason (INSUFFICIENT_FUNDS, LOSS_LIMIT, SELF_EXCLUDED),
  which the engine records as the bet's first and only outcome.

The engine then asks for the hold's end on `wallet-commands`: a release for every bet it
rejects (a release with no hold, after a wallet refusal, is a no-op) or that a void race or a
withdrawn runner refunds, a post for every settled one. A repeat of a bet id the wallet
refused, sent after a deposit, may be held this time; the engine answers its first outcome
(rejected) again and releases the hold, so no money is stuck.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from betting import codec
from betting.domain.errors import DomainError
from betting.domain.ledger import Ledger, LedgerRecords, LedgerResult, Refusal, Transfer
from betting.domain.model import Bet
from betting.log.port import Record
from betting.wallet.commands import (
    Deposit,
    PostStake,
    ReleaseStake,
    WalletCommand,
    decode_command,
)

INVALID_STAKE = "INVALID_STAKE"


@dataclass(frozen=True, slots=True)
class WalletSettings:
    bet_requests: str = "bet-requests"
    wallet_commands: str = "wallet-commands"
    demo_credit_minor: int = 0  # given once to each new account; 0 in production


@dataclass(frozen=True, slots=True)
class Forward:
    """A bet for `bets`: held when `refusal` is None, else not held, and why.

    A refusal is the ledger's (INSUFFICIENT_FUNDS, LOSS_LIMIT, SELF_EXCLUDED, or
    TRANSFER_ID_REUSED for the same (user, bet id) held with other content: the engine
    refuses that copy and keeps the first bet, whose hold it must not end), or INVALID_STAKE.
    """

    bet: Bet
    refusal: Refusal | str | None


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    partition: int
    command: WalletCommand
    refusal: Refusal | None
    balance_minor: int  # the user's, after the command
    available_minor: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    error: str


@dataclass(slots=True)
class WalletBatch:
    forwards: list[Forward] = field(default_factory=list)
    answers: list[CommandAnswer] = field(default_factory=list)
    transfers: list[tuple[int, Transfer]] = field(default_factory=list)  # for the changelog
    opened: list[tuple[int, str]] = field(default_factory=list)  # accounts with no transfer
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[int, dict[str, int]] = field(default_factory=dict)  # next offsets


class WalletCore:
    def __init__(self, settings: WalletSettings) -> None:
        self.settings = settings
        self._ledgers: dict[int, Ledger] = {}
        self._written: dict[int, int] = {}  # per partition: transfers already in a batch
        self.ignored: Counter[str] = Counter()  # ends that found nothing to end, by refusal

    def restore(self, partition: int, records: LedgerRecords) -> None:
        ledger = Ledger.from_records(records)
        self._ledgers[partition] = ledger
        self._written[partition] = ledger.transfer_count

    def forget(self, partition: int) -> None:
        self._ledgers.pop(partition, None)
        self._written.pop(partition, None)

    def ledger(self, partition: int) -> Ledger:
        return self._ledgers[partition]

    def process(self, records: Sequence[Record]) -> WalletBatch:
        """Apply one batch; a record of a partition this core does not hold is skipped."""
        batch = WalletBatch()
        for record in records:
            ledger = self._ledgers.get(record.partition)
            if ledger is None:
                continue
            if record.topic == self.settings.bet_requests:
                self._bet_request(record, ledger, batch)
            elif record.topic == self.settings.wallet_commands:
                self._command(record, ledger, batch)
            else:
                batch.dead_letters.append(DeadLetter(record, f"not a wallet topic: {record.topic}"))
            positions = batch.positions.setdefault(record.partition, {})
            positions[record.topic] = record.offset + 1
        for partition in batch.positions:
            self._collect_transfers(partition, batch)
        return batch

    def _bet_request(self, record: Record, ledger: Ledger, batch: WalletBatch) -> None:
        try:
            bet = codec.decode_bet(record.value)
        except codec.CodecError as error:
            # The engine rejects what does not decode, by the ids it can read: pass it on.
            batch.dead_letters.append(DeadLetter(record, str(error)))
            return
        if record.key != bet.user_id.encode():
            batch.dead_letters.append(DeadLetter(record, "bet request: its key is not its user"))
            return
        self._open(record.partition, ledger, bet.user_id, bet.received_at_ms, batch)
        try:
            result = ledger.hold(
                bet.user_id, bet.bet_id, bet.race_id, bet.stake_minor, bet.received_at_ms
            )
        except DomainError:  # a stake no hold can take (0): the engine's stake limits refuse it
            batch.forwards.append(Forward(bet, INVALID_STAKE))
            return
        batch.forwards.append(Forward(bet, result.refusal))

    def _command(self, record: Record, ledger: Ledger, batch: WalletBatch) -> None:
        try:
            command = decode_command(record.key, record.value)
        except codec.CodecError as error:
            batch.dead_letters.append(DeadLetter(record, str(error)))
            return
        try:
            result = self._apply(record.partition, ledger, command, batch)
        except DomainError as error:  # a value no operation could take, such as a vast payout
            batch.dead_letters.append(DeadLetter(record, str(error)))
            return
        if isinstance(command, PostStake | ReleaseStake):
            if result.refusal is not None:
                self.ignored[result.refusal] += 1
            return
        user = command.user_id
        answer = CommandAnswer(
            record.partition,
            command,
            result.refusal,
            ledger.balance_minor(user),
            ledger.available_minor(user),
        )
        batch.answers.append(answer)

    def _apply(
        self, partition: int, ledger: Ledger, command: WalletCommand, batch: WalletBatch
    ) -> LedgerResult:
        self._open(partition, ledger, command.user_id, command.at_ms, batch)
        if isinstance(command, PostStake):
            result = ledger.post_win(
                command.user_id, command.bet_id, command.payout_minor, command.at_ms
            )
        elif isinstance(command, ReleaseStake):
            result = ledger.release(command.user_id, command.bet_id, command.at_ms)
        elif isinstance(command, Deposit):
            result = ledger.deposit(
                command.user_id, command.request_id, command.amount_minor, command.at_ms
            )
        else:
            result = ledger.withdraw(
                command.user_id, command.request_id, command.amount_minor, command.at_ms
            )
        return result

    def _open(
        self, partition: int, ledger: Ledger, user_id: str, at_ms: int, batch: WalletBatch
    ) -> None:
        if ledger.has_account(user_id):
            return
        ledger.open_account(user_id, at_ms, self.settings.demo_credit_minor)
        if not self.settings.demo_credit_minor:
            batch.opened.append((partition, user_id))

    def _collect_transfers(self, partition: int, batch: WalletBatch) -> None:
        ledger = self._ledgers[partition]
        cursor = self._written[partition]
        while cursor < ledger.transfer_count:
            page = ledger.transfers(cursor)
            batch.transfers.extend((partition, transfer) for transfer in page)
            cursor += len(page)
        self._written[partition] = cursor
