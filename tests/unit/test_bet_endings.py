"""How every bet ends, through the real engine core: identity by (user, bet id), refunds on a
void race and a withdrawn runner, Rule 4, dead heats, and the invariants that stop a process
whose settlements do not add up."""

from __future__ import annotations

import dataclasses
from collections import Counter

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from betting import codec
from betting.command_results import RefusalReason
from betting.domain import settlement as settlement_module
from betting.domain.deductions import NO_DEDUCTIONS, combined_deduction_pence
from betting.domain.errors import InvariantViolation
from betting.domain.events import ResultRace, StartRace, VoidRace, WithdrawRunner
from betting.domain.model import Bet, RejectReason
from betting.domain.money import Odds, payout_minor
from betting.domain.settlement import SettlementResult
from betting.engine import core
from betting.engine.core import CoreSettings
from tests.unit.engine_feed import RISK, Feed, T, key, with_payout

REFUNDED, WON, LOST = SettlementResult.REFUNDED, SettlementResult.WON, SettlementResult.LOST


# -- identity ------------------------------------------------------------------------------


def test_two_users_one_bet_id_one_race_each_get_their_own_outcome() -> None:
    feed = Feed()
    feed.open("r1")
    alice = feed.bet("b1", "alice", "r1", runner=0, stake=1_000)
    bob = feed.bet("b1", "bob", "r1", runner=1, stake=3_000)
    assert alice.accepted and bob.accepted
    assert (alice.user_id, alice.runner_id, bob.user_id, bob.runner_id) == (
        "alice", "car-0", "bob", "car-1",
    )  # fmt: skip
    book = feed.engine.books[0]["r1"]
    assert book.outcomes == {("alice", "b1"): alice, ("bob", "b1"): bob}
    assert book.pool_minor == 4_000
    keys = {r.key for r in feed.changelog if r.key and r.key.count(b"/") == 2}
    assert keys == {b"r1/alice/b1", b"r1/bob/b1"}


def test_bob_reusing_alices_bet_id_on_another_race_touches_nothing_of_hers() -> None:
    feed = Feed()
    feed.open("r1")
    feed.open("r2")
    alice = feed.bet("b1", "alice", "r1", runner=0)
    bob = feed.bet("b1", "bob", "r2", runner=2, stake=5_000)
    assert bob.accepted and (bob.user_id, bob.race_id) == ("bob", "r2")
    assert feed.engine.books[0]["r1"].outcomes == {("alice", "b1"): alice}
    feed.close("r2")
    feed.command(ResultRace("r2", ("car-2",), feed.now_ms))
    (paid,) = feed.settlements
    assert (paid.user_id, paid.race_id, paid.result) == ("bob", "r2", WON)
    feed.command(VoidRace("r1", "rain", feed.now_ms))
    assert [(s.user_id, s.race_id, s.result) for s in feed.settlements[1:]] == [
        ("alice", "r1", REFUNDED)
    ]


def test_the_same_bet_again_is_answered_as_first_and_another_under_its_id_is_refused() -> None:
    feed = Feed()
    feed.open("r1")
    first = feed.bet("b1", "alice", "r1", runner=0, stake=1_000)
    logged = len(feed.changelog)
    again = feed.run([feed.send(T.bets, feed.inputs[T.bets][0].value or b"")])
    assert [a.outcome for a in again.answers] == [first] and again.answers[0].repeat
    for runner, stake in ((0, 2_000), (1, 1_000)):
        refused = feed.bet("b1", "alice", "r1", runner=runner, stake=stake)
        assert refused.reason is RejectReason.BET_ID_REUSED
        assert (refused.runner_id, refused.stake_minor) == (f"car-{runner}", stake)
    book = feed.engine.books[0]["r1"]
    assert book.outcomes == {("alice", "b1"): first} and book.pool_minor == 1_000
    outcomes_logged = [r for r in feed.changelog[logged:] if r.key and b"/" in r.key]
    assert outcomes_logged == []  # a refusal of a reused id is answered, never kept
    assert feed.engine.decided[0]["BET_ID_REUSED"] == 2
    feed.restart()
    assert feed.bet("b1", "alice", "r1", runner=0, stake=1_000) == first


def test_an_in_play_bet_held_is_held_once_and_another_under_its_id_is_refused_at_once() -> None:
    feed = Feed()
    feed.open("r1", risk=dataclasses.replace(RISK, in_play_bet_delay_ms=60_000))
    feed.command(StartRace("r1", seed=1, at_ms=feed.now_ms))  # in play: bets wait the delay
    book = feed.engine.books[0]["r1"]
    held = feed.raw_bet(_bet_value("b1", "alice", "r1", 0, 1_000, feed.now_ms))
    assert held.answers == [] and len(book.pending) == 1
    again = feed.raw_bet(_bet_value("b1", "alice", "r1", 0, 1_000, feed.now_ms))
    other = feed.raw_bet(_bet_value("b1", "alice", "r1", 0, 9_000, feed.now_ms))
    assert again.answers == [] and len(book.pending) == 1
    assert [a.outcome.reason for a in other.answers] == [RejectReason.BET_ID_REUSED]


def test_a_broken_copy_of_a_decided_bet_is_not_answered_invalid_under_its_id() -> None:
    """It is another content under a used id: answered BET_ID_REUSED, never logged, so the
    bettor hears an answer for the publish and the first bet stands."""
    feed = Feed()
    feed.open("r1")
    first = feed.bet("b1", "alice", "r1")
    broken = orjson.loads(_bet_value("b1", "alice", "r1", 0, 1_000, feed.now_ms))
    broken["stake_minor"] = -1
    result = feed.raw_bet(orjson.dumps(broken))
    assert [(a.outcome.reason, a.logged) for a in result.answers] == [
        (RejectReason.BET_ID_REUSED, False)
    ]
    assert len(result.dead_letters) == 1
    broken["bet_id"] = "b2"  # a bet nobody decided: its bettor hears INVALID
    result = feed.raw_bet(orjson.dumps(broken))
    assert [a.outcome.reason for a in result.answers] == [RejectReason.INVALID]
    assert feed.engine.books[0]["r1"].outcomes == {("alice", "b1"): first}


# -- every end of a bet --------------------------------------------------------------------


def test_a_void_race_refunds_every_accepted_stake_once() -> None:
    feed = Feed()
    feed.open("r1")
    accepted = [
        feed.bet(f"b{n}", f"u{n % 3}", "r1", runner=n % 4, stake=1_000 + n) for n in range(9)
    ]
    feed.bet("low", "u0", "r1", stake=1)  # refused: no stake to refund
    pool = feed.engine.books[0]["r1"].pool_minor
    result = feed.command(VoidRace("r1", "fog", feed.now_ms), "void-1")
    assert {key(s) for s in feed.settlements} == {key(o) for o in accepted}
    assert all(s.result is REFUNDED and s.payout_minor == s.stake_minor for s in feed.settlements)
    assert (
        sum(s.payout_minor for s in feed.settlements)
        == pool
        == sum(o.stake_minor for o in accepted)
    )
    assert len(result.headers) == 1  # the VOID state is logged with its refunds
    again = feed.command(VoidRace("r1", "fog", feed.now_ms), "void-1")  # the operator's retry
    assert again.settlements == [] and again.command_results[0].result.reason is None
    feed.restart()
    refused = feed.command(VoidRace("r1", "again", feed.now_ms))
    assert refused.settlements == []
    assert refused.command_results[0].result.reason is RefusalReason.ILLEGAL_TRANSITION


def test_a_withdrawn_runner_is_refunded_at_once_and_rule_4_cuts_earlier_winning_bets() -> None:
    feed = Feed()
    feed.open("r1")
    on_favourite = [feed.bet(f"f{n}", f"u{n}", "r1", runner=0, stake=2_000) for n in range(3)]
    before = feed.bet("before", "alice", "r1", runner=1, stake=1_000)
    price = feed.engine.books[0]["r1"].price_of(0)
    result = feed.command(WithdrawRunner("r1", "car-0", feed.now_ms + 1))
    refunds = [s for _, s in result.settlements]
    assert {key(s) for s in refunds} == {key(o) for o in on_favourite}
    assert all(s.result is REFUNDED and s.payout_minor == 2_000 for s in refunds)
    feed.restart()  # the withdrawal's price is in the changelog: Rule 4 survives a restart
    after = feed.bet("after", "bob", "r1", runner=1, stake=1_000)
    assert feed.bet("late", "carol", "r1", runner=0).reason is RejectReason.UNKNOWN_RUNNER
    feed.close("r1")
    feed.command(ResultRace("r1", ("car-1", "car-2"), feed.now_ms))
    final = {s.bet_id: s for s in feed.settlements[len(refunds) :]}
    assert final.keys() == {"before", "after"}  # the refunded bets end once, at the withdrawal
    pence = combined_deduction_pence(feed.engine.books[0]["r1"].withdrawals, before.decided_at_ms)
    assert price.hundredths < 1_500 and pence > 0  # a short favourite: a real deduction
    assert before.odds is not None and after.odds is not None
    assert final["before"].deduction_pence == pence
    assert final["before"].payout_minor < payout_minor(1_000, before.odds)
    assert (final["after"].deduction_pence, final["after"].payout_minor) == (
        0, payout_minor(1_000, after.odds),
    )  # fmt: skip


def test_the_deduction_scale_is_the_engines_setting() -> None:
    feed = Feed(CoreSettings(T.bets, T.races, deduction_scale=NO_DEDUCTIONS))
    feed.open("r1")
    before = feed.bet("before", "alice", "r1", runner=1)
    feed.command(WithdrawRunner("r1", "car-0", feed.now_ms + 1))
    feed.close("r1")
    feed.command(ResultRace("r1", ("car-1",), feed.now_ms))
    (won,) = feed.settlements
    assert before.odds is not None
    assert (won.deduction_pence, won.payout_minor) == (0, payout_minor(1_000, before.odds))


def test_a_dead_heat_from_the_result_command_divides_the_stake() -> None:
    feed = Feed()
    feed.open("r1")
    bets = [feed.bet(f"b{n}", "alice", "r1", runner=n, stake=1_001) for n in range(4)]
    feed.close("r1")
    result = feed.command(
        ResultRace("r1", ("car-2", "car-0", "car-1"), feed.now_ms, (("car-2", "car-0"),))
    )
    assert result.command_results[0].result.reason is None
    paid = {s.runner_id: s for s in feed.settlements}
    for outcome in bets[0], bets[2]:
        assert outcome.odds is not None
        expected = 1_001 * outcome.odds.hundredths // 200  # half the stake at full odds
        assert (paid[outcome.runner_id].result, paid[outcome.runner_id].payout_minor) == (
            WON,
            expected,
        )
        assert paid[outcome.runner_id].dead_heat_ways == 2
    assert [(paid[r].result, paid[r].payout_minor) for r in ("car-1", "car-3")] == [(LOST, 0)] * 2
    header = codec.decode_header(feed.changelog[-2].value or b"")
    assert header.dead_heats == (("car-2", "car-0"),)


@pytest.mark.parametrize(
    "dead_heats",
    [
        (("car-0",),),  # a tie of one
        (("car-0", "car-1"),),  # car-1 is not next to car-0
        (("car-0", "car-3"),),  # car-3 is not placed
        (("car-0", "car-2"), ("car-2", "car-1")),  # car-2 in two ties
    ],
)
def test_a_dead_heat_the_result_cannot_have_is_refused(
    dead_heats: tuple[tuple[str, ...], ...],
) -> None:
    feed = Feed()
    feed.open("r1")
    feed.close("r1")
    result = feed.command(ResultRace("r1", ("car-0", "car-2", "car-1"), feed.now_ms, dead_heats))
    refused = (RefusalReason.INVALID_VALUE, RefusalReason.INVALID)  # by the book, or the codec
    assert result.command_results[0].result.reason in refused
    assert feed.engine.books[0]["r1"].placings == () and result.settlements == []


# -- the invariants stop the process -------------------------------------------------------


def test_a_refund_short_of_its_stake_stops_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    real = settlement_module.withdrawal_refunds
    monkeypatch.setattr(
        core,
        "withdrawal_refunds",
        lambda book, runner_id: [with_payout(s, s.payout_minor - 1) for s in real(book, runner_id)],
    )
    feed = Feed()
    feed.open("r1")
    feed.bet("b1", "alice", "r1", runner=0)
    with pytest.raises(InvariantViolation, match="withdrawn"):
        feed.command(WithdrawRunner("r1", "car-0", feed.now_ms))


def test_a_void_race_missing_a_refund_stops_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    real = settlement_module.final_settlements
    monkeypatch.setattr(core, "final_settlements", lambda book, scale: real(book, scale)[1:])
    feed = Feed()
    feed.open("r1")
    feed.bet("b1", "alice", "r1")
    feed.bet("b2", "bob", "r1")
    with pytest.raises(InvariantViolation, match="do not match"):
        feed.command(VoidRace("r1", "rain", feed.now_ms))


def test_a_refund_of_a_bet_on_a_resulted_race_stops_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = settlement_module.final_settlements

    def refund_all(book: object, scale: object) -> list[settlement_module.Settlement]:
        return [
            settlement_module.Settlement(s.bet_id, s.user_id, s.race_id, s.runner_id,
                                         s.stake_minor, REFUNDED, s.stake_minor)
            for s in real(book, scale)  # type: ignore[arg-type]
        ]  # fmt: skip

    monkeypatch.setattr(core, "final_settlements", refund_all)
    feed = Feed()
    feed.open("r1")
    feed.bet("b1", "alice", "r1", runner=1)
    feed.close("r1")
    with pytest.raises(InvariantViolation, match="refunded"):
        feed.command(ResultRace("r1", ("car-0",), feed.now_ms))


# -- a property: whatever happens, every accepted bet ends exactly once ---------------------

users = st.sampled_from(["alice", "bob", "carol"])
races = st.sampled_from(["r1", "r2"])
actions = st.lists(
    st.one_of(
        st.tuples(st.just("bet"), st.sampled_from(["b1", "b2", "b3"]), users, races,
                  st.integers(0, 3), st.sampled_from([1, 500, 1_000])),
        st.tuples(st.just("withdraw"), races, st.integers(0, 3)),
        st.tuples(st.just("restart"),),
    ),
    max_size=30,
)  # fmt: skip
endings = st.tuples(
    st.sampled_from(["void", "result"]), st.permutations(["car-0", "car-1", "car-2", "car-3"]),
    st.integers(1, 4),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, endings, endings)
def test_every_accepted_bet_ends_exactly_once_in_won_lost_or_refunded(
    steps: list[tuple[object, ...]],
    end_r1: tuple[str, list[str], int],
    end_r2: tuple[str, list[str], int],
) -> None:
    feed = Feed()
    feed.open("r1")
    feed.open("r2")
    first: dict[tuple[str, str, str], tuple[str, int]] = {}
    for step in steps:
        if step[0] == "bet":
            _, bet_id, user, race_id, runner, stake = step
            outcome = feed.bet(str(bet_id), str(user), str(race_id), int(runner), int(stake))  # type: ignore[call-overload]
            sent = first.setdefault(key(outcome), (outcome.runner_id, outcome.stake_minor))
            reused = sent != (outcome.runner_id, outcome.stake_minor)
            assert (outcome.reason is RejectReason.BET_ID_REUSED) == reused
        elif step[0] == "withdraw":
            feed.command(WithdrawRunner(str(step[1]), f"car-{step[2]}", feed.now_ms))
        else:
            feed.restart()
    for race_id, (how, order, ties) in (("r1", end_r1), ("r2", end_r2)):
        if how == "void":
            feed.command(VoidRace(race_id, "rain", feed.now_ms))
            continue
        running = feed.engine.books[0][race_id].active
        placings = tuple(r for r in order if running[int(r[-1])])
        feed.close(race_id)
        tied = placings[: min(ties, len(placings))]
        feed.command(ResultRace(race_id, placings, feed.now_ms, (tied,) if len(tied) > 1 else ()))
    books = feed.engine.books[0]
    accepted = {
        (race_id, *bet): outcome
        for race_id, book in books.items()
        for bet, outcome in book.outcomes.items()
        if outcome.accepted
    }
    ended = Counter(key(s) for s in feed.settlements)
    assert ended == Counter(accepted.keys())  # each exactly once
    for settlement in feed.settlements:
        book = books[settlement.race_id]
        withdrawn = not book.active[book.runner_index[settlement.runner_id]]
        void = str(book.state) == "void"
        assert (settlement.result is REFUNDED) == (withdrawn or void)
        if settlement.result is REFUNDED:
            assert settlement.payout_minor == settlement.stake_minor
        elif settlement.result is LOST:
            assert settlement.payout_minor == 0
        else:
            outcome = accepted[key(settlement)]
            assert outcome.odds is not None
            assert 0 < settlement.payout_minor <= payout_minor(outcome.stake_minor, outcome.odds)


def _bet_value(bet_id: str, user: str, race_id: str, runner: int, stake: int, at_ms: int) -> bytes:
    return codec.encode_bet(Bet(bet_id, user, race_id, f"car-{runner}", stake, Odds(101), 1, at_ms))
