"""The wallet step over random histories: bet requests, the engine's decisions and
settlements, deposits and withdrawals, records delivered twice, and crashes that throw a
batch away after it was processed (its transaction aborted) so it is processed again.

At every step: the balances sum to zero, no user's balance or available balance is negative,
reconciliation finds nothing, a bet the engine accepts had its stake held, and a batch
processed again after a crash gives what it gave the first time. At the end, once every
accepted bet is settled, no hold is pending: no stake is stuck."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from betting import codec
from betting.domain.ledger import HOUSE_ACCOUNT, WORLD_ACCOUNT, HoldState, Ledger
from betting.domain.model import Bet
from betting.domain.money import Odds
from betting.log.port import Record
from betting.wallet.commands import (
    Deposit,
    PostStake,
    ReleaseStake,
    WalletCommand,
    Withdrawal,
    command_key,
    decode_command,
    encode_command,
)
from betting.wallet.core import Forward, WalletBatch, WalletCore, WalletSettings

SETTINGS = WalletSettings(demo_credit_minor=0)
USERS = ("ann", "bob", "cat")
BETS = ("b1", "b2", "b3", "b4")
RACES = ("r1", "r2")
PARTITION = 0


def bet_record(bet: Bet, offset: int) -> Record:
    value = codec.encode_bet(bet)
    return Record(SETTINGS.bet_requests, PARTITION, offset, bet.user_id.encode(), value, 0)


def command_record(command: WalletCommand, offset: int) -> Record:
    value = encode_command(command)
    return Record(SETTINGS.wallet_commands, PARTITION, offset, command_key(command), value, 0)


@dataclass
class EngineModel:
    """What the engine does with what the wallet forwards: the first decision per (user,
    bet id) is the only one, and every rejection asks for a release."""

    decided: dict[tuple[str, str], bool] = field(default_factory=dict)
    unsettled: dict[tuple[str, str], Bet] = field(default_factory=dict)


class WalletStep(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.core = WalletCore(SETTINGS)
        self.core.restore(PARTITION, Ledger().records())
        self.engine = EngineModel()
        self.delivered: list[Record] = []
        self.refused_requests: list[Record] = []
        self.offset = 0
        self.clock_ms = 1_000

    # -- driving ------------------------------------------------------------------------

    def deliver(self, record: Record, crash: bool = False) -> WalletBatch:
        if crash:  # the batch is processed, its transaction aborts, and it is read again
            before = self.core.ledger(PARTITION).records()
            first = self.core.process([record])
            self.core.forget(PARTITION)
            self.core.restore(PARTITION, before)
            again = self.core.process([record])
            assert again == first
            batch = again
        else:
            batch = self.core.process([record])
        self.delivered.append(record)
        self.decide(batch.forwards)
        return batch

    def decide(self, forwards: list[Forward]) -> None:
        for forward in forwards:
            bet = forward.bet
            key = (bet.user_id, bet.bet_id)
            if key not in self.engine.decided:
                accepted = forward.refusal is None and bet.stake_minor % 3 != 0
                self.engine.decided[key] = accepted
                if accepted:
                    hold = self.core.ledger(PARTITION).hold_of(*key)
                    assert hold is not None and hold.state is HoldState.PENDING
                    self.engine.unsettled[key] = bet
            if not self.engine.decided[key]:
                self.send(ReleaseStake(bet.user_id, bet.bet_id, self.tick()))

    def send(self, command: WalletCommand, crash: bool = False) -> WalletBatch:
        self.offset += 1
        record = command_record(command, self.offset)
        batch = self.deliver(record, crash)
        if any(answer.refusal is not None for answer in batch.answers):
            self.refused_requests.append(record)
        return batch

    def tick(self) -> int:
        self.clock_ms += 1_000
        return self.clock_ms

    # -- rules ----------------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        request=st.sampled_from(("d1", "d2", "d3")),
        amount=st.integers(1, 5_000),
        crash=st.booleans(),
    )
    def deposit(self, user: str, request: str, amount: int, crash: bool) -> None:
        batch = self.send(Deposit(user, f"{user}-{request}", amount, self.tick()), crash)
        assert len(batch.answers) == 1

    @rule(
        user=st.sampled_from(USERS),
        request=st.sampled_from(("w1", "w2")),
        amount=st.integers(1, 5_000),
        crash=st.booleans(),
    )
    def withdraw(self, user: str, request: str, amount: int, crash: bool) -> None:
        available = self.core.ledger(PARTITION).available_minor(user)
        batch = self.send(Withdrawal(user, f"{user}-{request}", amount, self.tick()), crash)
        answer = batch.answers[0]
        if answer.refusal is None:
            assert answer.balance_minor >= 0 and amount <= max(available, amount)

    @rule(
        user=st.sampled_from(USERS),
        bet_id=st.sampled_from(BETS),
        race=st.sampled_from(RACES),
        stake=st.integers(0, 3_000),
        crash=st.booleans(),
    )
    def request_bet(self, user: str, bet_id: str, race: str, stake: int, crash: bool) -> None:
        bet = Bet(bet_id, user, race, "car-1", stake, Odds.parse("3.00"), 1, self.tick())
        self.offset += 1
        batch = self.deliver(bet_record(bet, self.offset), crash)
        assert [forward.bet for forward in batch.forwards] == [bet]  # always passed on

    @precondition(lambda self: bool(self.engine.unsettled))
    @rule(data=st.data(), crash=st.booleans())
    def settle(self, data: st.DataObject, crash: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.engine.unsettled)))
        bet = self.engine.unsettled.pop(key)
        end = data.draw(st.sampled_from(("won", "lost", "refunded", "dead-heat")))
        at_ms = self.tick()
        if end == "refunded":
            command: WalletCommand = ReleaseStake(*key, at_ms)
        else:
            payout = {"won": bet.stake_minor * 3, "lost": 0, "dead-heat": bet.stake_minor * 3 // 2}
            command = PostStake(*key, payout[end], at_ms)
        self.send(command, crash)
        hold = self.core.ledger(PARTITION).hold_of(*key)
        assert hold is not None and hold.state is not HoldState.PENDING

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def deliver_again(self, data: st.DataObject) -> None:
        """A producer retry or a replayed step: the same record once more changes no balance.
        (A repeat of a bet the wallet refused may be held now, but the engine answers its
        first outcome, a rejection, again, and the hold is released at once.)"""
        record = data.draw(st.sampled_from(self.delivered))
        if record in self.refused_requests:
            return  # a refused deposit or withdrawal is not kept: its retry is a new attempt
        ledger = self.core.ledger(PARTITION)
        accounts = (*ledger.records().user_accounts, HOUSE_ACCOUNT, WORLD_ACCOUNT)
        before = {name: ledger.account(name) for name in accounts}
        self.deliver(record)
        assert {name: ledger.account(name) for name in accounts} == before

    @rule(crash=st.booleans())
    def garbage(self, crash: bool) -> None:
        self.offset += 1
        record = Record(SETTINGS.wallet_commands, PARTITION, self.offset, b"ann", b"{]", 0)
        batch = self.deliver(record, crash)
        assert len(batch.dead_letters) == 1 and batch.transfers == []

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        ledger = self.core.ledger(PARTITION)
        users = ledger.records().user_accounts
        total = sum(ledger.balance_minor(name) for name in (*users, HOUSE_ACCOUNT, WORLD_ACCOUNT))
        assert total == 0
        for user in users:
            assert ledger.balance_minor(user) >= 0 and ledger.available_minor(user) >= 0
        assert ledger.reconcile() == ()

    def teardown(self) -> None:
        for key in sorted(self.engine.unsettled):
            self.send(PostStake(*key, 0, self.tick()))
        pending = [h for h in self.core.ledger(PARTITION).holds() if h.state is HoldState.PENDING]
        assert pending == []


WalletStep.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestWalletStep = WalletStep.TestCase


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"[]",
        b'{"v": 1, "kind": "post", "user_id": "ann", "bet_id": "b1", "at_ms": 1}',
        b'{"v": 1, "kind": "deposit", "user_id": "ann", "request_id": "r", "amount_minor": 0,'
        b' "at_ms": 1}',
        b'{"v": 1, "kind": "release", "user_id": "bob", "bet_id": "b1", "at_ms": 1}',
        b'{"v": 1, "kind": "burn", "user_id": "ann", "at_ms": 1}',
        b'{"v": 2, "kind": "release", "user_id": "ann", "bet_id": "b1", "at_ms": 1}',
        b'{"v": 1, "kind": "release", "user_id": "ann", "bet_id": "b 1", "at_ms": 1}',
    ],
)
def test_a_malformed_command_is_refused_by_name(value: bytes) -> None:
    with pytest.raises(codec.CodecError):
        decode_command(b"ann", value)


def test_a_payout_past_the_longest_odds_is_a_dead_letter_not_a_crash() -> None:
    core = WalletCore(SETTINGS)
    core.restore(PARTITION, Ledger().records())
    core.process([command_record(Deposit("ann", "d1", 100, 1), 1)])
    bet = Bet("b1", "ann", "r1", "car-1", 100, Odds.parse("2.00"), 1, 2)
    batch = core.process([bet_record(bet, 2)])
    assert batch.forwards == [Forward(bet, None)]
    batch = core.process([command_record(PostStake("ann", "b1", 10**14, 3), 3)])
    assert len(batch.dead_letters) == 1 and batch.transfers == []
    assert core.ledger(PARTITION).available_minor("ann") == 0  # still held


@pytest.mark.parametrize("kind", [Deposit, Withdrawal])
def test_commands_round_trip(kind: type[Deposit] | type[Withdrawal]) -> None:
    command = kind("ann", "req-1", 250, 7)
    assert decode_command(b"ann", encode_command(command)) == command
