"""A stateful model of the wallet: random operations, each replayed, against a reference model.

The reference model is written apart from the ledger: plain balances, a list of dated limit
events summed by scanning, and the first content of every request id. After every step the
ledger must agree with it, conserve money, hold no negative user balance, end every hold at
most once, reconcile with nothing to report, and survive a snapshot unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from betting.domain.ledger import (
    HOUSE_ACCOUNT,
    WORLD_ACCOUNT,
    HoldState,
    Ledger,
    LedgerResult,
    Refusal,
    TransferKind,
)
from betting.domain.ledger_snapshot import restore, snapshot
from betting.domain.limits import DAY_MS

USERS = ("alice", "bob", "carol")
RACES = ("race-1", "race-2")
REQUESTS = tuple(f"req-{n}" for n in range(6))  # few, so ids are reused
BETS = tuple(f"bet-{n}" for n in range(6))
AMOUNTS = st.integers(1, 5_000)
LIMITS = st.one_of(st.none(), st.integers(0, 8_000))


@dataclass
class ModelLimit:
    minor: int | None = None
    raised: int | None = None
    raise_from_ms: int | None = None

    def at(self, now_ms: int) -> int | None:
        if self.raise_from_ms is not None and now_ms >= self.raise_from_ms:
            return self.raised
        return self.minor


@dataclass
class ModelUser:
    posted_minor: int = 0  # balance
    held_minor: int = 0
    deposit_limit: ModelLimit = field(default_factory=ModelLimit)
    loss_limit: ModelLimit = field(default_factory=ModelLimit)
    excluded_until_ms: int = 0
    deposits: list[tuple[int, int]] = field(default_factory=list)  # (at, amount)
    losses: list[tuple[int, int, str]] = field(default_factory=list)  # (at, +stake/-payout, bet)


@dataclass
class ModelHold:
    amount_minor: int
    race_id: str
    state: str = "pending"
    payout_minor: int = 0


def window_sum(events: list[tuple[int, int]], now_ms: int) -> int:
    return sum(amount for at_ms, amount in events if at_ms > now_ms - DAY_MS)


def change(limit: ModelLimit, new: int | None, now_ms: int) -> ModelLimit:
    current = limit.at(now_ms)
    lower = (new is None and current is None) or (
        new is not None and (current is None or new <= current)
    )
    if lower:
        return ModelLimit(new)
    pending = limit.raise_from_ms is not None and now_ms < limit.raise_from_ms
    if pending and limit.raised == new:
        return limit
    return ModelLimit(current, new, now_ms + DAY_MS)


class WalletMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.now_ms = 1_000
        self.users = {user: ModelUser() for user in USERS}
        self.opened: set[str] = set()
        self.house_minor = 0
        self.world_minor = 0
        # (kind, request id) -> (user, amount): deposits and withdrawals each have their own ids
        self.requests: dict[tuple[str, str], tuple[str, int]] = {}
        self.clock_ms = 0  # the time of the latest operation: the ledger's clock
        self.holds: dict[tuple[str, str], ModelHold] = {}

    # -- helpers ----------------------------------------------------------------------------

    def replayed(self, first: LedgerResult, again: LedgerResult) -> None:
        """An operation asked twice answers the same (accepted ones move money only once)."""
        assert again == first

    def check_refusal(self, result: LedgerResult, expected: Refusal | None) -> bool:
        assert result.refusal == expected, (result, expected)
        return expected is None

    def lost(self, user: ModelUser) -> int:
        return window_sum([(at, amount) for at, amount, _ in user.losses], self.clock_ms)

    def tick(self) -> int:
        self.clock_ms = self.now_ms
        return self.now_ms

    # -- rules ------------------------------------------------------------------------------

    @rule(ms=st.sampled_from([0, 1, 1_000, 3_600_000, DAY_MS - 1, DAY_MS, 2 * DAY_MS]))
    def advance(self, ms: int) -> None:
        self.now_ms += ms

    @rule(user=st.sampled_from(USERS), demo=st.sampled_from([0, 0, 2_500]))
    def open_account(self, user: str, demo: int) -> None:
        self.tick()
        result = self.ledger.open_account(user, self.now_ms, demo)
        if user not in self.opened:
            self.users[user].posted_minor += demo
            self.house_minor -= demo
        self.opened.add(user)
        self.replayed(result, self.ledger.open_account(user, self.now_ms, 777))

    @rule(user=st.sampled_from(USERS), request=st.sampled_from(REQUESTS), amount=AMOUNTS)
    def deposit(self, user: str, request: str, amount: int) -> None:
        self.tick()
        result = self.ledger.deposit(user, request, amount, self.now_ms)
        model = self.users[user]
        first = self.requests.get(("deposit", request))
        if first is not None:
            same = first == (user, amount)
            self.check_refusal(result, None if same else Refusal.TRANSFER_ID_REUSED)
        elif self.now_ms < model.excluded_until_ms:
            self.check_refusal(result, Refusal.SELF_EXCLUDED)
        elif (limit := model.deposit_limit.at(self.now_ms)) is not None and window_sum(
            model.deposits, self.now_ms
        ) + amount > limit:
            self.check_refusal(result, Refusal.DEPOSIT_LIMIT)
        else:
            self.check_refusal(result, None)
            self.requests[("deposit", request)] = (user, amount)
            model.posted_minor += amount
            model.deposits.append((self.now_ms, amount))
            self.world_minor -= amount
            self.opened.add(user)
        self.replayed(result, self.ledger.deposit(user, request, amount, self.now_ms))

    @rule(user=st.sampled_from(USERS), request=st.sampled_from(REQUESTS), amount=AMOUNTS)
    def withdraw(self, user: str, request: str, amount: int) -> None:
        self.tick()
        result = self.ledger.withdraw(user, request, amount, self.now_ms)
        model = self.users[user]
        first = self.requests.get(("withdrawal", request))
        if first is not None:
            same = first == (user, amount)
            self.check_refusal(result, None if same else Refusal.TRANSFER_ID_REUSED)
        elif model.posted_minor - model.held_minor < amount:
            self.check_refusal(result, Refusal.INSUFFICIENT_FUNDS)
        else:
            self.check_refusal(result, None)
            self.requests[("withdrawal", request)] = (user, amount)
            model.posted_minor -= amount
            self.world_minor += amount
        self.replayed(result, self.ledger.withdraw(user, request, amount, self.now_ms))

    @rule(
        user=st.sampled_from(USERS),
        bet=st.sampled_from(BETS),
        race=st.sampled_from(RACES),
        amount=AMOUNTS,
    )
    def hold(self, user: str, bet: str, race: str, amount: int) -> None:
        self.tick()
        result = self.ledger.hold(user, bet, race, amount, self.now_ms)
        model = self.users[user]
        first = self.holds.get((user, bet))
        loss_limit = model.loss_limit.at(self.now_ms)
        if first is not None:
            same = (first.amount_minor, first.race_id) == (amount, race)
            self.check_refusal(result, None if same else Refusal.TRANSFER_ID_REUSED)
        elif self.now_ms < model.excluded_until_ms:
            self.check_refusal(result, Refusal.SELF_EXCLUDED)
        elif loss_limit is not None and self.lost(model) + amount > loss_limit:
            self.check_refusal(result, Refusal.LOSS_LIMIT)
        elif model.posted_minor - model.held_minor < amount:
            self.check_refusal(result, Refusal.INSUFFICIENT_FUNDS)
        else:
            self.check_refusal(result, None)
            self.holds[(user, bet)] = ModelHold(amount, race)
            model.held_minor += amount
            model.losses.append((self.now_ms, amount, bet))
        self.replayed(result, self.ledger.hold(user, bet, race, amount, self.now_ms))

    @rule(
        user=st.sampled_from(USERS),
        bet=st.sampled_from(BETS),
        payout=st.one_of(st.just(0), st.integers(0, 20_000)),
    )
    def post(self, user: str, bet: str, payout: int) -> None:
        self.tick()
        hold = self.holds.get((user, bet))
        if hold is not None and payout > hold.amount_minor * 1000:
            payout = hold.amount_minor
        if payout:
            result = self.ledger.post_win(user, bet, payout, self.now_ms)
        else:
            result = self.ledger.post_loss(user, bet, self.now_ms)
        if hold is None:
            self.check_refusal(result, Refusal.NO_SUCH_HOLD)
        elif hold.state == "released":
            self.check_refusal(result, Refusal.HOLD_ALREADY_RELEASED)
        elif hold.state == "posted":
            same = hold.payout_minor == payout
            self.check_refusal(result, None if same else Refusal.HOLD_ALREADY_POSTED)
        else:
            self.check_refusal(result, None)
            model = self.users[user]
            hold.state, hold.payout_minor = "posted", payout
            model.held_minor -= hold.amount_minor
            model.posted_minor += payout - hold.amount_minor
            self.house_minor += hold.amount_minor - payout
            if payout:
                model.losses.append((self.now_ms, -payout, ""))
        again = (
            self.ledger.post_win(user, bet, payout, self.now_ms)
            if payout
            else self.ledger.post_loss(user, bet, self.now_ms)
        )
        self.replayed(result, again)

    @rule(user=st.sampled_from(USERS), bet=st.sampled_from(BETS))
    def release(self, user: str, bet: str) -> None:
        self.tick()
        result = self.ledger.release(user, bet, self.now_ms)
        hold = self.holds.get((user, bet))
        if hold is None:
            self.check_refusal(result, Refusal.NO_SUCH_HOLD)
        elif hold.state == "posted":
            self.check_refusal(result, Refusal.HOLD_ALREADY_POSTED)
        elif hold.state == "released":
            self.check_refusal(result, None)
        else:
            self.check_refusal(result, None)
            hold.state = "released"
            model = self.users[user]
            model.held_minor -= hold.amount_minor
            model.losses = [entry for entry in model.losses if entry[2] != bet]
        self.replayed(result, self.ledger.release(user, bet, self.now_ms))

    @rule(user=st.sampled_from(USERS), limit=LIMITS, which=st.sampled_from(["deposit", "loss"]))
    def set_limit(self, user: str, limit: int | None, which: str) -> None:
        self.tick()
        model = self.users[user]
        if which == "deposit":
            got = self.ledger.set_deposit_limit(user, limit, self.now_ms)
            model.deposit_limit = change(model.deposit_limit, limit, self.now_ms)
            expected = model.deposit_limit
        else:
            got = self.ledger.set_loss_limit(user, limit, self.now_ms)
            model.loss_limit = change(model.loss_limit, limit, self.now_ms)
            expected = model.loss_limit
        assert (got.minor, got.raised_minor, got.raise_from_ms) == (
            expected.minor,
            expected.raised,
            expected.raise_from_ms,
        )

    @rule(user=st.sampled_from(USERS), ms=st.sampled_from([0, 1, 3_600_000, 2 * DAY_MS]))
    def self_exclude(self, user: str, ms: int) -> None:
        self.ledger.self_exclude(user, self.now_ms + ms, self.now_ms)
        self.tick()
        model = self.users[user]
        model.excluded_until_ms = max(model.excluded_until_ms, self.now_ms + ms)

    @rule()
    def restart_from_snapshot(self) -> None:
        restored = restore(snapshot(self.ledger))
        assert restored == self.ledger
        assert snapshot(restored) == snapshot(self.ledger)
        self.ledger = restored

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        for name, model in self.users.items():
            account = self.ledger.account(name)
            assert account.balance_minor == model.posted_minor
            assert account.available_minor == model.posted_minor - model.held_minor
            assert self.ledger.lost_minor(name) == self.lost(model)
            assert self.ledger.deposited_minor(name) == window_sum(model.deposits, self.clock_ms)
        assert self.ledger.balance_minor(HOUSE_ACCOUNT) == self.house_minor
        assert self.ledger.balance_minor(WORLD_ACCOUNT) == self.world_minor

    @invariant()
    def money_is_conserved_and_never_negative(self) -> None:
        names = (*USERS, HOUSE_ACCOUNT, WORLD_ACCOUNT)
        assert sum(self.ledger.balance_minor(name) for name in names) == 0
        assert all(self.ledger.available_minor(user) >= 0 for user in USERS)
        assert self.ledger.reconcile() == ()

    @invariant()
    def every_hold_ends_at_most_once(self) -> None:
        ends: dict[tuple[str, str], list[TransferKind]] = {}
        for transfer in self.ledger.transfers(0, 1_000):
            if transfer.kind in (TransferKind.POST, TransferKind.RELEASE):
                ends.setdefault((transfer.user_id, transfer.reference), []).append(transfer.kind)
        for hold in self.ledger.holds():
            kinds = ends.get((hold.user_id, hold.bet_id), [])
            assert len(kinds) == (hold.state is not HoldState.PENDING)
            model = self.holds[(hold.user_id, hold.bet_id)]
            assert (str(hold.state), hold.payout_minor) == (model.state, model.payout_minor)
        assert len(list(self.ledger.holds())) == len(self.holds)


WalletMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestWallet = WalletMachine.TestCase
