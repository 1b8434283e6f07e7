"""The chaos test's checks must bite: each rule refuses what it exists to refuse; and its
fault plan is what the test claims."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from tests.chaos.cluster import BROKER, fault_plan
from tests.chaos.ledger import (
    AckedBet,
    Heard,
    Ledger,
    OddsWatch,
    accepted_stakes,
    check_heard,
    check_results,
    money_mismatches,
    odds_behind,
)


def outcome(bet_id: str, status: str = "accepted", **fields: Any) -> dict[str, Any]:
    return {"bet_id": bet_id, "user_id": "u", "race_id": "r", "runner_id": "car-1",
            "stake_minor": 100, "status": status, "decided_at_ms": 1, **fields}  # fmt: skip


def ledger_of(*bet_ids: str) -> Ledger:
    ledger = Ledger()
    for bet_id in bet_ids:
        ledger.attempted(bet_id)
        ledger.ack(AckedBet(bet_id, "u", "r", "car-1", 100))
    return ledger


def test_an_acked_bet_without_an_outcome_is_lost() -> None:
    check = check_results(ledger_of("b1", "b2"), [outcome("b1")])
    assert check.lost == ["b2"] and check.duplicated == []


def test_a_repeat_is_allowed_only_as_the_same_first_outcome() -> None:
    same = check_results(ledger_of("b1"), [outcome("b1"), outcome("b1")])
    assert same.duplicated == [] and same.decided == 1 and same.outcomes == 2
    other = check_results(ledger_of("b1"), [outcome("b1"), outcome("b1", decided_at_ms=2)])
    assert other.duplicated == ["b1"]
    flipped = check_results(ledger_of("b1"), [outcome("b1"), outcome("b1", "rejected")])
    assert flipped.duplicated == ["b1"]


def test_an_outcome_not_heard_or_heard_otherwise_is_reported() -> None:
    ledger = ledger_of("b1", "b2", "b3")
    heard = Heard()
    heard.outcome(outcome("b1"))
    heard.outcome(outcome("b3", "rejected"))
    results = check_results(ledger, [outcome("b1"), outcome("b2"), outcome("b3")])
    check = check_heard(ledger, {"u": heard}, results.first)
    assert check.heard == 2 and check.unheard == ["b2"] and check.differing == ["b3"]


def test_money_counts_each_accepted_bet_once() -> None:
    results = check_results(
        ledger_of(), [outcome("b1"), outcome("b1"), outcome("b2", "rejected"), outcome("b3")]
    )
    stakes = accepted_stakes(results.first)
    assert stakes["r"] == Counter({"car-1": 200})
    book = {"runners": [{"runner_id": "car-1", "stake_minor": 200}, {"runner_id": "car-2",
            "stake_minor": 0}]}  # fmt: skip
    assert money_mismatches("a", "r", book, stakes["r"]) == []
    book["runners"][0]["stake_minor"] = 300
    assert money_mismatches("a", "r", book, stakes["r"]) == ["a r car-1: book 300 != accepted 200"]


def odds(version: int, race_id: str = "r") -> dict[str, Any]:
    return {"race_id": race_id, "version": version, "prices": []}


def test_odds_versions_must_strictly_increase_per_race() -> None:
    watch = OddsWatch("w")
    watch.odds("r", "m1", odds(1))
    watch.odds("s", "m2", odds(1, "s"))  # another race counts on its own
    watch.odds("r", "m3", odds(3))
    assert watch.violations == []
    watch.odds("r", "m4", odds(3))  # the same version under a new id
    watch.odds("r", "m5", odds(2))  # going back
    assert len(watch.violations) == 2


def test_a_redelivered_message_is_ignored_only_if_it_is_the_same() -> None:
    watch = OddsWatch("w")
    watch.odds("r", "m1", odds(1))
    watch.odds("r", "m2", odds(2))
    watch.odds("r", "m1", odds(1))  # the same message again after a reconnect: ignored
    assert watch.violations == [] and watch.redelivered == 1
    watch.odds("r", "m2", odds(5))  # an id reused for other data
    watch.odds("r", None, {"version": "7"})  # unreadable
    assert len(watch.violations) == 2


def test_a_watcher_that_missed_the_newest_odds_is_behind() -> None:
    watch = OddsWatch("w")
    watch.odds("r", "m1", odds(1))
    watch.odds("r", "m2", odds(4))
    assert odds_behind([watch], {"r": 4}) == []
    assert odds_behind([watch], {"r": 5, "s": 2}) == [
        "w r: heard 4, log has 5",
        "w s: heard None, log has 2",
    ]


def test_the_fault_plan_is_seeded_and_kills_and_stalls_as_many_times_as_asked() -> None:
    plan = fault_plan(random.Random(7), 75, 5, ["a", "b"], pauses=2)
    assert plan == fault_plan(random.Random(7), 75, 5, ["a", "b"], pauses=2)
    assert [f.target for f in plan].count(BROKER) == 1
    assert sum(f.target in ("a", "b") and not f.pause for f in plan) == 5
    assert sum(f.target in ("a", "b") and f.pause for f in plan) == 2
    assert all(f.down_s > 10 for f in plan if f.pause)  # past the session timeout
    assert [f.at_s for f in plan] == sorted(f.at_s for f in plan)
    assert all(7.5 <= f.at_s <= 63.75 for f in plan)
