"""The wallet by example: the two-phase flow, refusals, limits over time, and corruption found."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.errors import InvalidValue, InvariantViolation
from betting.domain.ledger import (
    HOUSE_ACCOUNT,
    WORLD_ACCOUNT,
    Difference,
    HoldState,
    Ledger,
    LedgerRecords,
    Refusal,
    StatementEntry,
    TransferKind,
)
from betting.domain.ledger_snapshot import (
    limits_from_list,
    limits_to_list,
    restore,
    snapshot,
    transfer_from_list,
    transfer_to_list,
)
from betting.domain.limits import DAY_MS, EXCLUDED_FOREVER_MS, Limit

T0 = 1_700_000_000_000
T1 = T0 + 5  # a later time: a bad call must not move the clock either


def funded(amount_minor: int = 10_000, user: str = "alice") -> Ledger:
    ledger = Ledger()
    assert ledger.deposit(user, f"dep-{user}", amount_minor, T0).accepted
    return ledger


def figures(ledger: Ledger, user: str = "alice") -> tuple[int, int, int, int]:
    return (
        ledger.balance_minor(user),
        ledger.available_minor(user),
        ledger.balance_minor(HOUSE_ACCOUNT),
        ledger.balance_minor(WORLD_ACCOUNT),
    )


# -- the two-phase flow --------------------------------------------------------------------


def test_a_hold_reserves_the_stake_and_a_win_pays_stake_times_odds() -> None:
    ledger = funded()
    held = ledger.hold("alice", "b1", "race-1", 1_000, T0 + 1)
    assert [t.kind for t in held.transfers] == [TransferKind.HOLD]
    assert figures(ledger) == (10_000, 9_000, 0, -10_000)
    won = ledger.post_win("alice", "b1", 2_500, T0 + 2)  # 10.00 at 2.50
    assert [t.kind for t in won.transfers] == [TransferKind.POST, TransferKind.PAYOUT]
    assert figures(ledger) == (11_500, 11_500, -1_500, -10_000)
    assert ledger.race_result_minor("race-1") == -1_500


def test_a_loss_posts_the_stake_to_the_house_and_a_release_returns_it() -> None:
    ledger = funded()
    ledger.hold("alice", "lose", "race-1", 1_000, T0 + 1)
    ledger.hold("alice", "void", "race-1", 700, T0 + 1)
    assert ledger.post_loss("alice", "lose", T0 + 2).accepted
    assert ledger.release("alice", "void", T0 + 2).accepted
    assert figures(ledger) == (9_000, 9_000, 1_000, -10_000)
    assert ledger.race_result_minor("race-1") == 1_000


def test_every_end_of_a_hold_is_idempotent_and_the_other_end_is_refused() -> None:
    ledger = funded()
    ledger.hold("alice", "w", "race-1", 1_000, T0)
    ledger.hold("alice", "r", "race-1", 1_000, T0)
    won = ledger.post_win("alice", "w", 3_000, T0 + 1)
    released = ledger.release("alice", "r", T0 + 1)
    count = ledger.transfer_count
    assert ledger.post_win("alice", "w", 3_000, T0 + 9) == won
    assert ledger.release("alice", "r", T0 + 9) == released
    assert ledger.post_win("alice", "w", 3_001, T0 + 9).refusal is Refusal.HOLD_ALREADY_POSTED
    assert ledger.post_loss("alice", "w", T0 + 9).refusal is Refusal.HOLD_ALREADY_POSTED
    assert ledger.release("alice", "w", T0 + 9).refusal is Refusal.HOLD_ALREADY_POSTED
    assert ledger.post_loss("alice", "r", T0 + 9).refusal is Refusal.HOLD_ALREADY_RELEASED
    assert ledger.post_loss("alice", "nobody", T0 + 9).refusal is Refusal.NO_SUCH_HOLD
    assert ledger.transfer_count == count
    assert ledger.hold_of("alice", "w") is not None
    assert ledger.hold_of("alice", "w").state is HoldState.POSTED  # type: ignore[union-attr]


def test_a_hold_beyond_the_available_balance_is_refused_and_moves_nothing() -> None:
    ledger = funded(1_000)
    ledger.hold("alice", "b1", "race-1", 600, T0)
    refused = ledger.hold("alice", "b2", "race-1", 401, T0)
    assert (refused.refusal, refused.transfers) == (Refusal.INSUFFICIENT_FUNDS, ())
    assert ledger.hold("alice", "b2", "race-1", 400, T0).accepted
    assert ledger.withdraw("alice", "w1", 1, T0).refusal is Refusal.INSUFFICIENT_FUNDS
    assert Ledger().hold("stranger", "b1", "race-1", 1, T0).refusal is Refusal.INSUFFICIENT_FUNDS


def test_a_reused_id_with_other_content_is_refused_and_the_first_is_untouched() -> None:
    ledger = funded()
    first = ledger.hold("alice", "b1", "race-1", 1_000, T0)
    assert ledger.hold("alice", "b1", "race-2", 1_000, T0).refusal is Refusal.TRANSFER_ID_REUSED
    assert ledger.hold("alice", "b1", "race-1", 999, T0).refusal is Refusal.TRANSFER_ID_REUSED
    assert ledger.hold("alice", "b1", "race-1", 1_000, T0 + 5) == first
    assert ledger.deposit("bob", "dep-alice", 10_000, T0).refusal is Refusal.TRANSFER_ID_REUSED
    # The bet id is the user's own: another user's bet of the same id is another hold.
    ledger.deposit("bob", "dep-bob", 500, T0)
    assert ledger.hold("bob", "b1", "race-2", 500, T0).accepted
    assert figures(ledger) == (10_000, 9_000, 0, -10_500)


def test_a_demo_credit_is_given_once_to_a_new_account_only() -> None:
    ledger = Ledger()
    first = ledger.open_account("alice", T0, demo_credit_minor=5_000)
    assert ledger.open_account("alice", T0 + 1, demo_credit_minor=9_999) == first
    assert ledger.balance_minor("alice") == 5_000
    assert ledger.balance_minor(HOUSE_ACCOUNT) == -5_000
    ledger.deposit("bob", "d1", 100, T0)
    assert ledger.open_account("bob", T0, demo_credit_minor=5_000).transfers == ()
    assert ledger.open_account("carol", T0).transfers == ()  # production: no demo credit


@pytest.mark.parametrize(
    "call",
    [
        lambda ledger: ledger.deposit("alice", "d", 0, T1),
        lambda ledger: ledger.deposit("alice", "d", -5, T1),
        lambda ledger: ledger.deposit("alice", "d", True, T1),
        lambda ledger: ledger.deposit("alice", "d", 1.5, T1),
        lambda ledger: ledger.deposit("alice", "d", 10**16, T1),
        lambda ledger: ledger.deposit("al ice", "d", 1, T1),
        lambda ledger: ledger.deposit("#house", "d", 1, T1),
        lambda ledger: ledger.deposit("alice", "d:1", 1, T1),
        lambda ledger: ledger.deposit("alice", "d", 1, -1),
        lambda ledger: ledger.hold("alice", "b", "", 1, T1),
        lambda ledger: ledger.post_win("alice", "b", -1, T1),
        lambda ledger: ledger.post_win("alice", "b", 1_001 * 1_000 + 1, T1),
        lambda ledger: ledger.statement("alice", 0, 0),
        lambda ledger: ledger.statement("alice", -1),
        lambda ledger: ledger.set_loss_limit("alice", -1, T1),
        lambda ledger: ledger.set_deposit_limit("alice", 1.0, T1),
        lambda ledger: ledger.self_exclude("alice", -1, T1),
        lambda ledger: ledger.self_exclude("alice", T1, "soon"),
    ],
)
def test_a_bad_value_is_invalid_and_changes_nothing(call: Any) -> None:
    ledger = funded()
    ledger.hold("alice", "b", "race-1", 1_001, T0)
    before = snapshot(ledger)
    with pytest.raises(InvalidValue):
        call(ledger)
    assert snapshot(ledger) == before


def test_statement_pages_are_stable_and_add_up_to_the_journal() -> None:
    ledger = funded()
    for n in range(7):
        ledger.hold("alice", f"b{n}", "race-1", 100, T0 + n)
    pages: list[StatementEntry] = []
    cursor: int | None = 0
    while cursor is not None:
        page = ledger.statement("alice", cursor, limit=3)
        pages.extend(page.entries)
        cursor = page.next_cursor
    assert [entry.transfer.reference for entry in pages] == ["dep-alice"] + [
        f"b{n}" for n in range(7)
    ]
    assert [entry.available_after_minor for entry in pages][-2:] == [9_400, 9_300]
    assert ledger.statement("alice", 3, 3) == ledger.statement("alice", 3, 3)
    assert ledger.statement("nobody").entries == ()
    assert ledger.statement(HOUSE_ACCOUNT, 0, 1000).next_cursor is None


# -- limits over time ----------------------------------------------------------------------


def test_a_lower_limit_applies_at_once_and_a_raise_only_after_24_hours() -> None:
    ledger = funded(100_000)
    assert ledger.set_loss_limit("alice", 1_000, T0) == Limit(1_000)
    assert ledger.set_loss_limit("alice", 5_000, T0 + 10) == Limit(1_000, 5_000, T0 + 10 + DAY_MS)
    # Asked again, the raise keeps its time; it applies at exactly 24 h, not a millisecond before.
    assert ledger.set_loss_limit("alice", 5_000, T0 + 99).raise_from_ms == T0 + 10 + DAY_MS
    assert ledger.limits("alice").loss.at(T0 + 9 + DAY_MS) == 1_000
    assert ledger.limits("alice").loss.at(T0 + 10 + DAY_MS) == 5_000
    # Lowering while a raise waits drops the raise.
    assert ledger.set_loss_limit("alice", 800, T0 + 100) == Limit(800)
    # Removing a limit is a raise too.
    assert ledger.set_deposit_limit("alice", 2_000, T0 + 200) == Limit(2_000)
    removal = Limit(2_000, None, T0 + 201 + DAY_MS)
    assert ledger.set_deposit_limit("alice", None, T0 + 201) == removal


def test_the_loss_limit_counts_open_holds_and_releases_give_the_room_back() -> None:
    ledger = funded(100_000)
    ledger.set_loss_limit("alice", 1_000, T0)
    assert ledger.hold("alice", "b1", "race-1", 600, T0).accepted
    assert ledger.hold("alice", "b2", "race-1", 400, T0).accepted  # 1,000 open: at the limit
    refused = ledger.hold("alice", "b3", "race-1", 1, T0)
    assert refused.refusal is Refusal.LOSS_LIMIT
    ledger.release("alice", "b2", T0 + 1)
    assert ledger.lost_minor("alice") == 600
    assert ledger.hold("alice", "b3", "race-1", 400, T0 + 1).accepted
    # A win counts against the loss: 600 staked, 1,500 back, so a net win of 900 in the window.
    ledger.post_win("alice", "b1", 1_500, T0 + 2)
    assert ledger.lost_minor("alice") == 400 - 1_500 + 600
    assert ledger.hold("alice", "b4", "race-1", 1_500, T0 + 2).accepted
    assert ledger.hold("alice", "b5", "race-1", 1, T0 + 2).refusal is Refusal.LOSS_LIMIT


def test_the_loss_window_rolls_after_24_hours() -> None:
    ledger = funded(100_000)
    ledger.set_loss_limit("alice", 1_000, T0)
    ledger.hold("alice", "b1", "race-1", 1_000, T0)
    ledger.post_loss("alice", "b1", T0 + 5)
    assert ledger.hold("alice", "b2", "race-1", 1, T0 + DAY_MS - 1).refusal is Refusal.LOSS_LIMIT
    assert ledger.hold("alice", "b2", "race-1", 1_000, T0 + DAY_MS).accepted


def test_the_deposit_limit_counts_deposits_in_the_last_24_hours() -> None:
    ledger = Ledger()
    ledger.set_deposit_limit("alice", 5_000, T0)
    assert ledger.deposit("alice", "d1", 3_000, T0).accepted
    refused = ledger.deposit("alice", "d2", 2_001, T0 + 1)
    assert (refused.refusal, ledger.balance_minor("alice")) == (Refusal.DEPOSIT_LIMIT, 3_000)
    ledger.withdraw("alice", "w1", 3_000, T0 + 2)  # a withdrawal gives no room back
    assert ledger.deposit("alice", "d2", 2_001, T0 + 3).refusal is Refusal.DEPOSIT_LIMIT
    assert ledger.deposit("alice", "d2", 2_000, T0 + 3).accepted
    assert ledger.deposit("alice", "d3", 3_000, T0 + DAY_MS).accepted


def test_a_self_excluded_bettor_cannot_stake_or_deposit_but_may_withdraw_and_settle() -> None:
    ledger = funded()
    ledger.hold("alice", "open", "race-1", 1_000, T0)
    ledger.self_exclude("alice", T0 + 7 * DAY_MS, T0 + 1)
    assert ledger.hold("alice", "b2", "race-1", 10, T0 + 2).refusal is Refusal.SELF_EXCLUDED
    assert ledger.deposit("alice", "d2", 10, T0 + 2).refusal is Refusal.SELF_EXCLUDED
    assert ledger.post_win("alice", "open", 2_000, T0 + 3).accepted
    assert ledger.withdraw("alice", "w1", 11_000, T0 + 4).accepted
    # It cannot be shortened, only extended, and it ends when it says.
    assert ledger.self_exclude("alice", T0, T0 + 5).excluded_until_ms == T0 + 7 * DAY_MS
    assert ledger.deposit("alice", "d3", 10, T0 + 7 * DAY_MS).accepted
    ledger.self_exclude("alice", EXCLUDED_FOREVER_MS, T0 + 7 * DAY_MS)
    assert ledger.deposit("alice", "d4", 10, EXCLUDED_FOREVER_MS - 1).refusal is (
        Refusal.SELF_EXCLUDED
    )


def test_the_ledger_clock_never_goes_back() -> None:
    ledger = funded()
    ledger.hold("alice", "b1", "race-1", 10, T0 + 1_000)
    late = ledger.hold("alice", "b2", "race-1", 10, T0)
    assert late.transfers[0].at_ms == T0 + 1_000
    assert ledger.clock_ms == T0 + 1_000


# -- corruption is found -------------------------------------------------------------------


def test_reconcile_reports_a_corrupted_balance() -> None:
    ledger = funded()
    ledger.hold("alice", "b1", "race-1", 1_000, T0)
    assert ledger.reconcile() == ()
    ledger._accounts["alice"].credits_posted_minor += 7
    assert ledger.reconcile() == (
        Difference("alice", "credits_posted_minor", 10_007, 10_000),
        Difference("*", "balance_total_minor", 0, 7),
    )


def test_reconcile_reports_a_corrupted_hold_figure() -> None:
    ledger = funded()
    ledger.hold("alice", "b1", "race-1", 1_000, T0)
    ledger._accounts[HOUSE_ACCOUNT].credits_pending_minor = 0
    assert ledger.reconcile() == (Difference(HOUSE_ACCOUNT, "credits_pending_minor", 0, 1_000),)


def test_an_overdrawn_account_stops_the_next_transfer_loudly() -> None:
    ledger = funded(1_000)
    ledger._accounts["alice"].debits_posted_minor += 2_000  # a bug elsewhere overdrew it
    with pytest.raises(InvariantViolation, match="debits exceed credits"):
        ledger.deposit("alice", "d2", 1, T0)


def test_a_broken_running_total_stops_the_next_transfer_loudly() -> None:
    ledger = funded()
    ledger._balance_total_minor += 1  # a one-sided movement, as a bug would make
    with pytest.raises(InvariantViolation, match="balances sum to 1"):
        ledger.deposit("bob", "d2", 1, T0)


# -- snapshots -----------------------------------------------------------------------------


def busy_ledger() -> Ledger:
    ledger = funded()
    ledger.open_account("bob", T0, demo_credit_minor=500)
    ledger.open_account("carol", T0)
    ledger.set_loss_limit("alice", 5_000, T0)
    ledger.set_loss_limit("alice", 9_000, T0)
    ledger.self_exclude("bob", T0 + DAY_MS, T0)
    ledger.hold("alice", "w", "race-1", 1_000, T0 + 1)
    ledger.hold("alice", "l", "race-1", 1_000, T0 + 1)
    ledger.hold("alice", "r", "race-2", 1_000, T0 + 1)
    ledger.hold("alice", "open", "race-2", 1_000, T0 + 1)
    ledger.post_win("alice", "w", 3_300, T0 + 2)
    ledger.post_loss("alice", "l", T0 + 2)
    ledger.release("alice", "r", T0 + 3)
    ledger.withdraw("alice", "w1", 500, T0 + 4)
    return ledger


def test_restore_of_a_snapshot_is_the_same_ledger() -> None:
    ledger = busy_ledger()
    restored = restore(snapshot(ledger))
    assert restored == ledger
    assert restored.limits("bob").excluded(T0 + 5)
    assert restored.lost_minor("alice") == ledger.lost_minor("alice")
    # And it goes on the same way: the open hold can end, the ended ones answer as before.
    assert restored.post_loss("alice", "l", T0 + 9) == ledger.post_loss("alice", "l", T0 + 9)
    assert restored.post_loss("alice", "open", T0 + 9) == ledger.post_loss("alice", "open", T0 + 9)
    assert restored == ledger


def journal_of(ledger: Ledger) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(snapshot(ledger))
    return loaded


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: s["journal"].insert(0, s["journal"].pop(5)),  # a post before its hold
        lambda s: s["journal"].append(s["journal"][0]),  # a transfer twice
        lambda s: s["journal"][0].__setitem__(4, 1),  # a deposit made smaller: later overdraws
        lambda s: s["journal"][0].__setitem__(2, "#house"),  # from the wrong account
        lambda s: s["journal"][0].__setitem__(0, "deposit:other"),  # an id not of its content
        lambda s: s["journal"][0].__setitem__(5, T0 + 10**6),  # time going back after it
        lambda s: s["journal"][-1].__setitem__(7, "race-9"),  # a withdrawal with a race
        lambda s: s.__setitem__("clock_ms", 0),
        lambda s: s.__setitem__("schema", 2),
        lambda s: s.__setitem__("extra", 1),
        lambda s: s["limits"][0].__setitem__(2, [1, 2, None]),  # a raise without its time
        lambda s: s["accounts"].append("not an id"),
    ],
)
def test_a_corrupt_snapshot_is_refused(corrupt: Any) -> None:
    data = journal_of(busy_ledger())
    corrupt(data)
    with pytest.raises(InvalidValue):
        restore(orjson.dumps(data))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@given(
    position=st.integers(0, 200), index=st.integers(0, 7), value=JSON, data=st.binary(max_size=40)
)
def test_hostile_snapshots_are_invalid_or_a_consistent_ledger(
    position: int, index: int, value: object, data: bytes
) -> None:
    for candidate in (data, _mutated(position, index, value)):
        try:
            ledger = restore(candidate)
        except InvalidValue:
            continue
        assert ledger.reconcile() == ()
        assert all(ledger.available_minor(user) >= 0 for user in ("alice", "bob", "carol"))


BUSY_SNAPSHOT = snapshot(busy_ledger())


def _mutated(position: int, index: int, value: object) -> bytes:
    loaded = orjson.loads(BUSY_SNAPSHOT)
    journal = loaded["journal"]
    journal[position % len(journal)][index] = value
    return orjson.dumps(loaded)


def test_a_ledger_rebuilt_from_one_record_per_transfer_is_the_same() -> None:
    ledger = busy_ledger()
    records = ledger.records()
    rows = [orjson.dumps(transfer_to_list(t)) for t in ledger.transfers(0, 1_000)]
    limits = [orjson.dumps(limits_to_list(user, kept)) for user, kept in records.limits.items()]
    rebuilt = Ledger.from_records(
        LedgerRecords(
            records.clock_ms,
            records.user_accounts,
            tuple(transfer_from_list(orjson.loads(row)) for row in rows),
            dict(limits_from_list(orjson.loads(row)) for row in limits),
        )
    )
    assert rebuilt == ledger
