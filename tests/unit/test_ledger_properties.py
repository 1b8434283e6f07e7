"""Ledger properties over random operation sequences: replays change nothing, money is kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from betting.domain.ledger import HOUSE_ACCOUNT, WORLD_ACCOUNT, Ledger, LedgerResult
from betting.domain.ledger_snapshot import restore, snapshot
from betting.domain.limits import DAY_MS

USERS = st.sampled_from(["alice", "bob"])
BETS = st.sampled_from(["b1", "b2", "b3", "b4"])
AMOUNTS = st.integers(1, 3_000)
Operation = Callable[[Ledger], LedgerResult]


def _op(name: str, *args: Any) -> Operation:
    def apply(ledger: Ledger) -> LedgerResult:
        result: LedgerResult = getattr(ledger, name)(*args)
        return result

    apply.__name__ = f"{name}{args}"
    return apply


@st.composite
def operations(draw: st.DrawFn) -> list[Operation]:
    at_ms, ops = 1_000, []
    for _ in range(draw(st.integers(1, 30))):
        at_ms += draw(st.sampled_from([0, 1, 60_000, DAY_MS]))
        user, bet = draw(USERS), draw(BETS)
        ops.append(
            draw(
                st.sampled_from(
                    [
                        _op("deposit", user, f"d{draw(st.integers(0, 3))}", draw(AMOUNTS), at_ms),
                        _op("withdraw", user, f"w{draw(st.integers(0, 3))}", draw(AMOUNTS), at_ms),
                        _op(
                            "hold",
                            user,
                            bet,
                            draw(st.sampled_from(["r1", "r2"])),
                            draw(AMOUNTS),
                            at_ms,
                        ),
                        _op("post_loss", user, bet, at_ms),
                        _op("post_win", user, bet, draw(st.integers(0, 9_000)), at_ms),
                        _op("release", user, bet, at_ms),
                        _op("open_account", user, at_ms, draw(st.sampled_from([0, 1_000]))),
                    ]
                )
            )
        )
    return ops


@given(operations(), st.data())
def test_replaying_an_accepted_operation_answers_the_same_and_changes_nothing(
    ops: list[Operation], data: st.DataObject
) -> None:
    once, twice = Ledger(), Ledger()
    accepted: list[tuple[Operation, LedgerResult]] = []
    for op in ops:
        result = op(twice)
        assert op(once) == result
        if result.accepted:
            accepted.append((op, result))
        if accepted:
            replayed, first = data.draw(st.sampled_from(accepted))
            before = snapshot(twice)
            assert replayed(twice) == first
            assert snapshot(twice) == before
    assert twice == once
    assert restore(snapshot(twice)) == once


@given(operations())
def test_money_is_conserved_and_reconciles_after_any_sequence(ops: list[Operation]) -> None:
    ledger = Ledger()
    for op in ops:
        op(ledger)
        names = ("alice", "bob", HOUSE_ACCOUNT, WORLD_ACCOUNT)
        assert sum(ledger.balance_minor(name) for name in names) == 0
        assert min(ledger.available_minor(user) for user in ("alice", "bob")) >= 0
    assert ledger.reconcile() == ()
    pages = [ledger.statement(name, 0, 1_000).entries for name in names]
    assert sum(len(page) for page in pages) == 2 * ledger.transfer_count
