"""The reference model: what the engine promises, checked after every committed batch.

Written apart from the engine: it keeps its own sums of the money, its own liability
arithmetic and its own settlement rules, and reads only what the engine committed (answers,
odds, command results, settlements, headers) and the books' public counters. It never calls
the book's, pricing's, risk's or settlement's logic.

What it checks (each check has a name; a violation names it):

- `outcome-changed`: a bet (race id, user, bet id) gets one decision; every later answer for
  the same bet, on any instance, after any crash, is identical; another bet under its key
  (another runner or stake) is refused BET_ID_REUSED and changes nothing. `decided-twice`:
  it is logged once.
- `money`: each runner's stake in the book is the sum of its accepted bets, and the pool the
  stakes on runners still running; `active`: the runners running are the ones not withdrawn.
- `liability-cap`: no accepted bet takes a runner or the race past its cap (checked at the
  moment of acceptance, in decision order).
- `ladder`: every price published or granted is on the price ladder.
- `odds-version`: odds versions strictly increase per race.
- `settlement`: every accepted bet is settled once: refunded (the stake back) when its
  runner is withdrawn, at once, or when its race is void; else, when the race is resulted,
  won (the payout at the granted odds, on the stake divided among a dead heat for first,
  less Rule 4 for withdrawals after the bet) or lost (nothing).
- `restore`: a partition restored from its committed changelog equals the state the
  uninterrupted run had at the same input position.
- `unanswered`: every bet that decodes gets an answer by the end.
- `exactly-once`: each race command record gets one result, and the decisions counted in the
  positions records are the decisions committed, across crashes and moves.
- `read-model`: the read model fed the committed log (compacted or not) holds the same money
  and payouts.
- `invariant`: the core raised `InvariantViolation` (it stops a real process).

- `void-refund`: a void race refunds every accepted bet.
- `user-bet-identity`: each bettor's bet gets its own answer, whoever else used its bet id.
- `invalid-after-decision`: a record that does not decode but names a decided bet's ids is
  never answered INVALID under them (its bettor would hear a second answer).

Known findings (`KNOWN_FINDINGS`): promises the engine does not keep yet, checked and
counted but violations only with `--strict`. None at present.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from betting import codec
from betting.domain.deductions import TATTERSALLS_RULE_4
from betting.domain.events import CreateRace
from betting.domain.model import Bet, Outcome, RaceState, RejectReason
from betting.domain.money import LADDER
from betting.domain.settlement import SettlementResult
from betting.engine.core import BatchResult

KNOWN_FINDINGS: frozenset[str] = frozenset()
# Rule 4 as data (the scale the simulated engine runs with); the arithmetic is the model's.
_RULE_4 = [(b.longest_numerator, b.longest_denominator, b.pence) for b in TATTERSALLS_RULE_4.bands]
_RULE_4_CAP = TATTERSALLS_RULE_4.combined_cap_pence
_LADDER = frozenset(LADDER)
_ODDS_SCALE = 100  # odds are hundredths: 2.50 is 250


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    detail: str


@dataclass
class _Race:
    create: CreateRace
    runners: list[str]
    active: set[str]
    stakes: Counter[str] = field(default_factory=Counter)
    payouts: Counter[str] = field(default_factory=Counter)
    pool: int = 0  # stakes on runners running
    accepted: dict[tuple[str, str], Outcome] = field(default_factory=dict)  # (user, bet id)
    settled: set[tuple[str, str]] = field(default_factory=set)
    voided: bool = False
    last_version: int = 0


class Model:
    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._races: dict[str, _Race] = {}
        # Bets are keyed (race, user, bet id).
        self._final: dict[tuple[str, str, str], Outcome] = {}
        self._answered: set[tuple[str, str, str]] = set()  # keys with any answer
        self._invalid: set[tuple[str, str, str]] = set()  # keys answered INVALID
        # Decodable bets sent: key -> the first bet's (runner, stake).
        self._sent: dict[tuple[str, str, str], tuple[str, int]] = {}
        self._withdraws: dict[str, tuple[str, str]] = {}  # request id -> (race, runner)
        self.command_results = 0  # committed, over the whole run
        self.decisions = 0  # committed answers that are not repeats

    def fail(self, check: str, detail: str) -> None:
        self.violations.append(Violation(check, detail))

    # -- what the world sent --------------------------------------------------------------

    def sent_create(self, create: CreateRace) -> None:
        if create.race_id not in self._races:
            runners = [runner.runner_id for runner in create.runners]
            self._races[create.race_id] = _Race(create, runners, set(runners))

    def sent_withdraw(self, request_id: str, race_id: str, runner_id: str) -> None:
        self._withdraws[request_id] = (race_id, runner_id)

    def sent_bet(self, bet: Bet) -> None:
        self._sent.setdefault(
            (bet.race_id, bet.user_id, bet.bet_id), (bet.runner_id, bet.stake_minor)
        )

    # -- what the engine committed --------------------------------------------------------

    def committed(self, result: BatchResult) -> None:
        """One committed batch, in decision order."""
        withdrawn = self._withdrawn_in(result)
        self.command_results += len(result.command_results)
        self.decisions += sum(not answer.repeat for answer in result.answers)
        for answer in result.answers:
            self._answer(answer.outcome, answer.logged, answer.repeat, withdrawn)
        for race_id, runner_id in withdrawn:
            self._withdraw(race_id, runner_id)
        for command in result.command_results:
            outcome = command.result
            if (
                outcome.command == "void"
                and outcome.reason is None
                and outcome.race_id in self._races
            ):
                self._races[outcome.race_id].voided = True
        for _, snapshot in result.odds:
            self._odds(snapshot.race_id, snapshot.version, [p.odds for p in snapshot.prices])
        if result.settlements:
            self._settlements(result)

    def _withdrawn_in(self, result: BatchResult) -> list[tuple[str, str]]:
        withdrawn = []
        for command in result.command_results:
            outcome = command.result
            fresh = outcome.reason is None and not outcome.detail  # not a retry's answer
            if outcome.command == "withdraw" and fresh and outcome.request_id in self._withdraws:
                withdrawn.append(self._withdraws[outcome.request_id])
        return withdrawn

    def _answer(
        self, outcome: Outcome, logged: bool, repeat: bool, withdrawn: list[tuple[str, str]]
    ) -> None:
        key = (outcome.race_id, outcome.user_id, outcome.bet_id)
        self._answered.add(key)
        if outcome.reason is RejectReason.INVALID and not outcome.runner_id:
            # A record that did not decode: an answer about a record, not a decision; but
            # under a bet id decided before, its bettor hears a second answer.
            if key in self._final:
                self.fail(
                    "invalid-after-decision", f"{key}: INVALID after {_shown(self._final[key])}"
                )
            self._invalid.add(key)
            return
        if outcome.reason is RejectReason.BET_ID_REUSED:
            sent = self._sent.get(key)
            if logged or repeat or sent is None or sent == (outcome.runner_id, outcome.stake_minor):
                self.fail("outcome-changed", f"{key}: BET_ID_REUSED for the bet sent first")
            return
        if outcome.reason is RejectReason.RACE_NOT_OPEN and outcome.detail.startswith("no race "):
            return  # no such race (yet): the engine keeps no book to remember the answer in
        first = self._final.get(key)
        if first is not None:
            if outcome != first:
                self.fail("outcome-changed", f"{key}: {_shown(first)} then {_shown(outcome)}")
            if logged:
                self.fail("decided-twice", f"{key}: logged again")
            return
        if repeat:
            self.fail("outcome-changed", f"{key}: answered as a repeat, never decided")
        if key in self._invalid:
            self.fail("invalid-after-decision", f"{key}: decided after an INVALID answer")
        if self._sent.get(key) not in (None, (outcome.runner_id, outcome.stake_minor)):
            self.fail("outcome-changed", f"{key}: decided as another bet than the one sent first")
        self._final[key] = outcome
        if outcome.accepted:
            self._accepted(outcome, checked=not any(r == outcome.race_id for r, _ in withdrawn))

    def _accepted(self, outcome: Outcome, checked: bool) -> None:
        race = self._races.get(outcome.race_id)
        if race is None or outcome.odds is None:
            self.fail("money", f"accepted bet {outcome.bet_id} on no race the world created")
            return
        if outcome.odds.hundredths not in _LADDER:
            self.fail("ladder", f"bet {outcome.bet_id} granted {outcome.odds}")
        runner = outcome.runner_id
        if runner not in race.active:
            self.fail("active", f"bet {outcome.bet_id} accepted on runner {runner}, withdrawn")
        race.accepted[(outcome.user_id, outcome.bet_id)] = outcome
        race.stakes[runner] += outcome.stake_minor
        race.payouts[runner] += outcome.stake_minor * outcome.odds.hundredths // _ODDS_SCALE
        race.pool += outcome.stake_minor
        if not checked:
            return  # a withdrawal in the same batch moved the pool at a moment not known here
        risk = race.create.risk
        if race.payouts[runner] - race.pool > risk.runner_liability_max_minor:
            self.fail("liability-cap", f"bet {outcome.bet_id}: runner {runner} past its cap")
        worst = max(race.payouts[r] - race.pool for r in race.active)
        if worst > risk.race_liability_max_minor:
            self.fail("liability-cap", f"bet {outcome.bet_id}: race {race.create.race_id}")

    def _withdraw(self, race_id: str, runner_id: str) -> None:
        race = self._races[race_id]
        if runner_id in race.active:
            race.active.discard(runner_id)
            race.pool -= race.stakes[runner_id]

    def _odds(self, race_id: str, version: int, prices: list[Any]) -> None:
        race = self._races.get(race_id)
        if race is None:
            self.fail("odds-version", f"odds for race {race_id} the world never created")
            return
        if version <= race.last_version:
            self.fail(
                "odds-version", f"race {race_id}: version {version} after {race.last_version}"
            )
        race.last_version = version
        for odds in prices:
            if odds is not None and odds.hundredths not in _LADDER:
                self.fail("ladder", f"race {race_id} published {odds}")

    def _settlements(self, result: BatchResult) -> None:
        headers = {
            header.race_id: codec.decode_header(header.value) for _, header in result.headers
        }
        by_race: dict[str, list[Any]] = {}
        for _, settlement in result.settlements:
            by_race.setdefault(settlement.race_id, []).append(settlement)
        for race_id, settlements in by_race.items():
            race = self._races[race_id]
            header = headers.get(race_id)
            if header is None:
                self.fail("settlement", f"race {race_id}: settled with no header in the batch")
                continue
            for settlement in settlements:
                self._settle(race, settlement, header)
            if header.state in (RaceState.SETTLED, RaceState.VOID):
                due = set(race.accepted)
            else:  # a withdrawal: its runner's bets
                due = {k for k, o in race.accepted.items() if o.runner_id not in race.active}
            missing = due - race.settled
            if missing:
                self.fail("settlement", f"race {race_id}: {len(missing)} accepted bets unpaid")

    def _settle(self, race: _Race, settlement: Any, header: codec.BookHeader) -> None:
        key = (settlement.user_id, settlement.bet_id)
        outcome = race.accepted.get(key)
        if outcome is None or outcome.odds is None or key in race.settled:
            self.fail("settlement", f"bet {key}: settled unaccepted or twice")
            return
        race.settled.add(key)
        result, expected = self._expected(race, outcome, header)
        if (
            settlement.result is not result
            or settlement.payout_minor != expected
            or settlement.stake_minor != outcome.stake_minor
        ):
            self.fail(
                "settlement",
                f"bet {key}: {settlement.result} {settlement.payout_minor}, "
                f"expected {result} {expected}",
            )

    def _expected(
        self, race: _Race, outcome: Outcome, header: codec.BookHeader
    ) -> tuple[SettlementResult, int]:
        """What a bet returns, by the model's own arithmetic."""
        if outcome.runner_id not in race.active or header.state is RaceState.VOID:
            return SettlementResult.REFUNDED, outcome.stake_minor
        first = _first_place(header)
        if outcome.runner_id not in first:
            return SettlementResult.LOST, 0
        assert outcome.odds is not None
        pence = [
            _rule_4_pence(w.odds.hundredths)
            for w in header.withdrawals
            if w.odds is not None and outcome.decided_at_ms < w.at_ms
        ]
        deduction = min(sum(pence), _RULE_4_CAP) if len(pence) > 1 else sum(pence)
        per_pound = 10_000 + (outcome.odds.hundredths - _ODDS_SCALE) * (100 - deduction)
        return SettlementResult.WON, outcome.stake_minor * per_pound // (10_000 * len(first))

    # -- the books' own counters ----------------------------------------------------------

    def check_money(self, race_id: str, stakes: list[int], pool: int, active: list[bool]) -> None:
        race = self._races.get(race_id)
        if race is None:
            self.fail("money", f"a book for race {race_id} the world never created")
            return
        expected = [race.stakes[runner] for runner in race.runners]
        if stakes != expected or pool != race.pool:
            self.fail("money", f"race {race_id}: book {stakes}/{pool}, bets {expected}/{race.pool}")
        if [runner in race.active for runner in race.runners] != active:
            self.fail("active", f"race {race_id}: book runs {active}")

    def check_restore(self, where: str, before: object, after: object) -> None:
        if before != after:
            self.fail("restore", f"{where}: restored state differs ({_difference(before, after)})")

    # -- at the end -----------------------------------------------------------------------

    def check_outcomes(self, race_id: str, outcomes: dict[tuple[str, str], Outcome]) -> None:
        """A book's outcomes are exactly the decisions committed for its race."""
        decided = {
            (user, bet): o for (race, user, bet), o in self._final.items() if race == race_id
        }
        if outcomes != decided:
            missing = len(decided.keys() - outcomes.keys())
            extra = len(outcomes.keys() - decided.keys())
            self.fail(
                "outcome-changed",
                f"race {race_id}: book differs ({missing} missing, {extra} extra)",
            )

    def check_exactly_once(self, commands_sent: int, decided: int) -> None:
        """One result per race command record, and the decisions counted as committed."""
        if self.command_results != commands_sent:
            self.fail(
                "exactly-once", f"{self.command_results} results for {commands_sent} commands"
            )
        if decided != self.decisions:
            self.fail(
                "exactly-once", f"positions count {decided} decisions, {self.decisions} committed"
            )

    def check_read_model(self, views: Any) -> None:
        """The read model (`betting.tasks.views`), fed the committed log, holds the same
        money and bets as the model."""
        if views.skipped.counts:
            self.fail("read-model", f"records skipped: {dict(views.skipped.counts)}")
        for race_id, race in self._races.items():
            view = views.races.get(race_id)
            if view is None:
                continue  # never created: refused, or its create is not yet committed
            stakes = [view.stakes_minor[runner] for runner in race.runners]
            expected = [race.stakes[runner] for runner in race.runners]
            if stakes != expected or view.accepted != len(race.accepted):
                self.fail("read-model", f"race {race_id}: stakes {stakes}, bets say {expected}")
            kept = [views.bet(user, bet) for user, bet in race.settled]
            settled = sum(bet is not None and bet["payout_minor"] is not None for bet in kept)
            if settled != len(race.settled):
                self.fail("read-model", f"race {race_id}: {settled} of {len(race.settled)} paid")

    def finish(self) -> None:
        answered_ids = {(race, bet) for race, _, bet in self._answered}
        for key in self._sent:
            if key in self._answered:
                continue
            race_id, user, bet = key
            if (race_id, bet) in answered_ids:  # answered, but under another user's name
                self.fail(
                    "user-bet-identity", f"bet {bet} of {user} on {race_id}: answered to another"
                )
            else:
                self.fail("unanswered", f"bet {key} never answered")
        for race_id, race in self._races.items():
            if race.voided and set(race.accepted) - race.settled:
                self.fail("void-refund", f"race {race_id}: void, {len(race.accepted)} unrefunded")


def _first_place(header: codec.BookHeader) -> set[str]:
    if not header.placings:
        return set()
    winner = header.placings[0]
    for group in header.dead_heats:
        if winner in group:
            return set(group)
    return {winner}


def _rule_4_pence(hundredths: int) -> int:
    """Rule 4 for a runner withdrawn at this price: the pence of the first band it fits."""
    winnings = hundredths - _ODDS_SCALE
    for numerator, denominator, pence in _RULE_4:
        if winnings * denominator <= _ODDS_SCALE * numerator:
            return pence
    return 0


def state_of(books: dict[str, Any], positions: dict[str, int], decided: Counter[str]) -> object:
    """A partition's state to compare: every fact of each book (its full snapshot but the
    `dirty` hint, which a restore sets to publish once more), its money counters, the input
    positions and the counts of bets decided."""
    races = {}
    for race_id, book in books.items():
        snapshot = orjson.loads(book.snapshot())
        del snapshot["dirty"]
        snapshot["money"] = [list(book.stakes_minor), list(book.payouts_minor), book.pool_minor]
        races[race_id] = snapshot
    return {"races": races, "positions": dict(positions), "decided": dict(+decided)}


def _shown(outcome: Outcome) -> str:
    status = "accepted" if outcome.accepted else str(outcome.reason)
    return f"{status}@{outcome.odds} by {outcome.user_id}"


def _difference(before: object, after: object, path: str = "") -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            if before.get(key) != after.get(key):
                return _difference(before.get(key), after.get(key), f"{path}.{key}")
    text = f"{path}: {before!r} != {after!r}"
    return text if len(text) < 300 else text[:297] + "..."
