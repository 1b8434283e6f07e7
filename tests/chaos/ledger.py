"""What the chaos test's clients saw, and the checks over it: plain data, no I/O.

- The ACK ledger: every bet the SDK reported ACKed (`channel.publish` returned), with its
  user, race, runner and stake. A NACKed or failed publish is retried with the same bet id.
- What each bettor heard on `outbound:user:<user>`, by bet id.
- What each watcher heard on `outbound:odds:<race>`: (message id, version) in arrival order.

The odds rule, precisely: a message is identified by its Ably message id (the forwarder
derives it from the odds record's topic, partition and offset, the same on every instance).
A message whose id the watcher already holds is a redelivery: allowed after a reconnect only
if its data equals the first delivery's, and then ignored, as a client de-duplicating by id
does. Every other message's version must be strictly greater than the last version the
watcher holds for that race: a repeated version under a new id, or a smaller one, breaks it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AckedBet:
    bet_id: str
    user_id: str
    race_id: str
    runner_id: str
    stake_minor: int
    acked_at: float = 0.0  # monotonic time of the ACK


@dataclass
class Ledger:
    sent: set[str] = field(default_factory=set)  # bet ids published at least once
    acked: dict[str, AckedBet] = field(default_factory=dict)
    attempts: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # failed attempts by error kind

    def attempted(self, bet_id: str) -> None:
        self.sent.add(bet_id)
        self.attempts += 1

    def ack(self, bet: AckedBet) -> None:
        self.acked[bet.bet_id] = bet

    def failed(self, kind: str) -> None:
        self.failures[kind] += 1


@dataclass
class Heard:
    """Outcomes one bettor heard on their own channel: bet id -> the data of each delivery."""

    outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def outcome(self, data: dict[str, Any]) -> None:
        self.outcomes.setdefault(str(data.get("bet_id")), []).append(data)


@dataclass
class OddsWatch:
    """One client's odds deliveries, per race, in arrival order."""

    watcher: str
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_version: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    redelivered: int = 0
    violations: list[str] = field(default_factory=list)

    def odds(self, race_id: str, message_id: str | None, data: Any) -> None:
        self.messages += 1
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, int) or data.get("race_id") != race_id:
            self.violations.append(f"{self.watcher} {race_id}: unreadable odds {data!r:.120}")
            return
        if message_id is not None and message_id in self.by_id:
            self.redelivered += 1
            if self.by_id[message_id] != data:
                self.violations.append(
                    f"{self.watcher} {race_id}: id {message_id} redelivered with other data"
                )
            return
        if message_id is not None:
            self.by_id[message_id] = data
        last = self.last_version.get(race_id)
        if last is not None and version <= last:
            self.violations.append(
                f"{self.watcher} {race_id}: version {version} (id {message_id}) after {last}"
            )
        self.last_version[race_id] = max(version, last or version)


@dataclass
class ResultsCheck:
    outcomes: int = 0  # bet-results records
    decided: int = 0  # distinct bet ids in bet-results
    lost: list[str] = field(default_factory=list)  # ACKed, no outcome in bet-results
    duplicated: list[str] = field(default_factory=list)  # more than one distinct outcome
    first: dict[str, dict[str, Any]] = field(default_factory=dict)  # bet id -> first outcome


def check_results(ledger: Ledger, results: list[dict[str, Any]]) -> ResultsCheck:
    """Each ACKed bet has an outcome; a bet id appears again only as the same first outcome."""
    check = ResultsCheck(outcomes=len(results))
    by_bet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for value in results:
        by_bet[str(value.get("bet_id"))].append(value)
    check.decided = len(by_bet)
    for bet_id, values in by_bet.items():
        check.first[bet_id] = values[0]
        if any(value != values[0] for value in values[1:]):
            check.duplicated.append(bet_id)
    check.lost = sorted(bet_id for bet_id in ledger.acked if bet_id not in by_bet)
    return check


@dataclass
class HeardCheck:
    heard: int = 0  # ACKed bets whose outcome the bettor heard
    unheard: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # heard, but not the logged outcome


def check_heard(
    ledger: Ledger, heard: dict[str, Heard], first: dict[str, dict[str, Any]]
) -> HeardCheck:
    check = HeardCheck()
    for bet_id, bet in ledger.acked.items():
        deliveries = heard[bet.user_id].outcomes.get(bet_id, [])
        if not deliveries:
            check.unheard.append(bet_id)
            continue
        check.heard += 1
        logged = first.get(bet_id)
        if logged is not None and any(delivery != logged for delivery in deliveries):
            check.differing.append(bet_id)
    return check


def accepted_stakes(first: dict[str, dict[str, Any]]) -> dict[str, Counter[str]]:
    """Race -> runner -> the sum of accepted outcomes' stakes (each bet id once)."""
    stakes: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in first.values():
        if outcome.get("status") == "accepted":
            stakes[str(outcome["race_id"])][str(outcome["runner_id"])] += int(
                outcome["stake_minor"]
            )
    return stakes


def money_mismatches(
    instance: str, race_id: str, book: dict[str, Any], stakes: Counter[str]
) -> list[str]:
    """The book's money per runner against the accepted stakes, one line per difference."""
    booked = {str(r["runner_id"]): int(r["stake_minor"]) for r in book["runners"]}
    return [
        f"{instance} {race_id} {runner}: book {booked.get(runner, 0)} != accepted {stakes[runner]}"
        for runner in sorted(set(booked) | set(stakes))
        if booked.get(runner, 0) != stakes[runner]
    ]


def odds_behind(watches: list[OddsWatch], latest: dict[str, int]) -> list[str]:
    """Watchers that never heard a race's newest version in the `odds` topic: every watcher
    subscribes to every race, so after the settle period each must hold the newest."""
    return [
        f"{watch.watcher} {race_id}: heard {watch.last_version.get(race_id)}, log has {version}"
        for watch in watches
        for race_id, version in sorted(latest.items())
        if watch.last_version.get(race_id) != version
    ]
