"""How `bench loop` pairs a bet with the odds that reflect it: the first version above the
one its outcome names, per sampled watcher of its race; what never came counts as never."""

from __future__ import annotations

from bench.loop import NEVER_US, Timings, ms, odds_latencies, outcome_latencies

MS_NS = 1_000_000


def timings_for(bets: dict[str, tuple[str, int, int]]) -> Timings:
    """bet id -> (race, odds_version decided at, sent at in ms)."""
    timings = Timings()
    for bet_id, (race_id, version, sent_ms) in bets.items():
        timings.sent_ns[bet_id] = sent_ms * MS_NS
        timings.accepted[bet_id] = (race_id, version)
    return timings


def test_the_first_version_above_the_decided_one_counts_at_each_watcher() -> None:
    timings = timings_for({"b1": ("r1", 3, 100)})
    arrivals = [
        ("r1", {3: 90 * MS_NS, 4: 130 * MS_NS, 5: 150 * MS_NS}),
        ("r1", {5: 170 * MS_NS, 3: 95 * MS_NS}),  # 4 conflated away here: 5 is the first
        ("r2", {4: 101 * MS_NS}),  # another race's version 4 says nothing of this bet
    ]
    latencies, missing = odds_latencies(timings, ["b1"], arrivals)
    assert latencies == [30_000, 70_000]
    assert missing == 0


def test_a_version_that_never_came_is_slower_than_any_that_did() -> None:
    timings = timings_for({"b1": ("r1", 7, 100), "b2": ("r1", 6, 100)})
    arrivals = [("r1", {7: 150 * MS_NS})]
    latencies, missing = odds_latencies(timings, ["b1", "b2", "unknown"], arrivals)
    assert (latencies, missing) == ([50_000, NEVER_US], 1)
    assert ms(latencies, 50) == 50.0
    assert ms(latencies, 99) == float("inf")


def test_rejected_bets_change_no_odds_and_unanswered_bets_count_as_never() -> None:
    timings = timings_for({"b1": ("r1", 1, 100)})
    timings.sent_ns["b2"] = 100 * MS_NS  # rejected: sent, heard, not accepted
    timings.heard_ns.update({"b1": 120 * MS_NS, "b2": 110 * MS_NS})
    timings.sent_ns["b3"] = 100 * MS_NS  # never answered
    latencies, _ = odds_latencies(timings, ["b2"], [("r1", {2: 130 * MS_NS})])
    assert latencies == []
    assert outcome_latencies(timings, ["b1", "b2", "b3"]) == [10_000, 20_000, NEVER_US]
    assert ms([], 99) != ms([], 99)  # nan: no samples, no figure
