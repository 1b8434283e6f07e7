"""The read model: races, books and bets as the log says they are, for the HTTP APIs.

Every instance reads the whole of `book-changelog`, `odds`, `settlements` and `users` (every
partition by hand, no group, nothing committed), so any instance can answer for any race,
whichever engine owns it: ksqlDB's pull queries, in the reference design. Answers lag the
engine by a fetch. It is ready once it has read what the log held when it started (the ends
taken then), however busy the log has been since.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from betting import codec, command_results
from betting.command_results import CommandStatus
from betting.config import Settings
from betting.domain.model import Bet, OddsSnapshot, Outcome
from betting.domain.money import payout_minor
from betting.domain.settlement import Settlement
from betting.health import Readiness
from betting.log.port import EventLog, LogUnavailable, Reader, Record
from betting.tasks.skipped import Skipped

log = logging.getLogger("betting.views")
RATE_WINDOW_MS = 10_000
VIEWS_DELAY_MS = 100  # the read model may trail the log by this much; it saves many fetches
# Records applied between two yields to the loop: a few hundred at ~30 us each held up the
# engine's transaction steps for 5-10 ms.
VIEWS_CHUNK = 100
# Races whose odds were read before their header (topics are read in no order between them):
# the newest prices of each are kept until the header comes, the oldest dropped past this.
EARLY_ODDS_MAX = 10_000
# The same for a race's outcomes read before its header (a compacted changelog keeps a
# header at its newest offset, after the outcomes it heads), and for settlements read before
# their bet's outcome (topics are read in no order between them): kept until then.
EARLY_OUTCOME_RACES_MAX = 10_000
EARLY_SETTLEMENTS_MAX = 100_000


@dataclass
class RaceView:
    race_id: str
    header: codec.BookHeader
    prices: dict[str, str | None] = field(default_factory=dict)
    stakes_minor: Counter[str] = field(default_factory=Counter)
    payouts_minor: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0

    @property
    def state(self) -> str:
        return str(self.header.state)

    def public(self) -> dict[str, Any]:
        race = self.header.race
        return {
            "race_id": self.race_id,
            "name": race.name,
            "state": self.state,
            "scheduled_start_ms": race.scheduled_start_ms,
            "in_play": self.header.in_play,
            "version": self.header.version,
            "placings": list(self.header.placings),
            "dead_heats": [list(group) for group in self.header.dead_heats],
            "runners": [
                {"runner_id": r.runner_id, "name": r.name, "odds": self.prices.get(r.runner_id)}
                for r in race.runners
            ],
        }

    def book(self) -> dict[str, Any]:
        """The public view plus the money: stakes, and what the house loses if each wins."""
        view = self.public()
        running = set(self.header.running())
        pool = sum(stake for runner, stake in self.stakes_minor.items() if runner in running)
        for runner in view["runners"]:
            runner_id = runner["runner_id"]
            runner["active"] = runner_id in running
            runner["stake_minor"] = self.stakes_minor[runner_id]
            runner["liability_minor"] = self.payouts_minor[runner_id] - pool
        view["pool_minor"] = pool
        view["race_liability_minor"] = max(
            (r["liability_minor"] for r in view["runners"] if r["active"]), default=0
        )
        view["bets"] = {"accepted": self.accepted, "rejected": self.rejected}
        return view


class Views:
    def __init__(self, event_log: EventLog, settings: Settings) -> None:
        self._log = event_log
        self._topics = settings.topics
        self.races: dict[str, RaceView] = {}
        # A bet is its bettor's: keyed by (user id, bet id), as the engine keys it.
        self.bets: dict[tuple[str, str], dict[str, Any]] = {}
        self.user_bets: dict[str, list[str]] = {}  # user -> bet ids, in the order first read
        self.notifications: dict[str, bool] = {}
        # Bets decided per partition, by outcome, as the engine logged them with its positions:
        # every decision once, including those no book keeps (unknown race, undecodable).
        self._decided: dict[int, Counter[str]] = {}
        # (when read, bets decided) per positions record within the rate window: pruned as
        # it grows, so it stays bounded whether or not anyone asks for the rate.
        self._recent: deque[tuple[int, int]] = deque()
        # The latest result per request id (pending until the engine answers), oldest first.
        self.commands: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._commands_max = settings.admin.command_results_max
        self.ready = asyncio.Event()
        self.skipped = Skipped("views")
        self._headers = codec.HeaderDecoder()
        self._early_prices: OrderedDict[str, dict[str, str | None]] = OrderedDict()
        self._early_outcomes: OrderedDict[str, list[Outcome]] = OrderedDict()  # by race id
        # By (user id, bet id).
        self._early_settlements: OrderedDict[tuple[str, str], Settlement] = OrderedDict()

    async def run(self, readiness: Readiness | None = None) -> None:
        topics = self._topics
        reader = self._log.reader(
            [
                topics.book_changelog,
                topics.odds,
                topics.settlements,
                topics.users,
                topics.races,
                topics.command_results,
            ],
            max_delay_ms=VIEWS_DELAY_MS,
        )
        await self._start(reader)
        try:
            while True:
                try:
                    records = await reader.poll(VIEWS_CHUNK, VIEWS_DELAY_MS)
                    for record in records:
                        self.apply(record)
                    await asyncio.sleep(0)  # a poll from the buffer does not yield: let others run
                    if not self.ready.is_set() and await reader.caught_up():
                        self.ready.set()  # holds what the log held at start
                        if readiness is not None:
                            readiness.ready("views")
                except LogUnavailable:
                    await asyncio.sleep(0.5)
        finally:
            await reader.stop()

    async def _start(self, reader: Reader) -> None:
        while True:
            try:
                await reader.start()
                return
            except LogUnavailable:
                await asyncio.sleep(0.5)

    def apply(self, record: Record) -> None:
        """Take one record, decoded strictly; one that does not decode is skipped and counted
        (the engine wrote these topics: a bad record is damage, not a client's mistake)."""
        try:
            self._take(record)
        except codec.CodecError as error:
            self.skipped.skip(record.topic, error)

    def _take(self, record: Record) -> None:
        topic = record.topic
        if topic == self._topics.book_changelog:
            self._changelog(record)
        elif topic == self._topics.command_results:
            self._command_result(record.value)
        elif topic == self._topics.races and self.ready.is_set():
            # Only once caught up: replaying history, the races topic may be read after the
            # results, and would mark long-answered commands pending again.
            self._command_sent(record.value)
        elif topic == self._topics.odds:
            self._odds(codec.decode_odds(record.value))
        elif topic == self._topics.settlements:
            self._settlement(codec.decode_settlement(record.value))
        elif topic == self._topics.users:
            user_id = codec.decode_key_id(record.key, "users key")
            self.notifications[user_id] = codec.decode_preference(record.value)

    def _changelog(self, record: Record) -> None:
        entry = codec.decode_changelog(record.key, record.value)
        if isinstance(entry, codec.HeaderEntry):
            self._header(entry)
        elif isinstance(entry, codec.OutcomeEntry):
            race = self.races.get(entry.outcome.race_id)
            if race is not None:
                self._take_outcome(race, entry.outcome)
            else:
                self._keep_early_outcome(entry.outcome)
        elif isinstance(entry, codec.Positions):
            self._positions(record.partition, entry)

    def _header(self, entry: codec.HeaderEntry) -> None:
        header = self._headers.decode(entry.value)
        race_id = entry.race_id
        if header.race.race_id != race_id:
            raise codec.CodecError("header: its key names another race")
        self.races.setdefault(race_id, RaceView(race_id, header)).header = header
        early = self._early_prices.pop(race_id, None)
        if early is not None:
            self.races[race_id].prices = early
        for outcome in self._early_outcomes.pop(race_id, []):
            self._take_outcome(self.races[race_id], outcome)
        for _due_ms, bet in header.pending:
            self._pending(bet)

    def bet(self, user_id: str, bet_id: str) -> dict[str, Any] | None:
        return self.bets.get((user_id, bet_id))

    def bets_of(self, user_id: str) -> list[dict[str, Any]]:
        return [self.bets[(user_id, bet_id)] for bet_id in self.user_bets.get(user_id, [])]

    def _take_outcome(self, race: RaceView, outcome: Outcome) -> None:
        known = self.bets.get((outcome.user_id, outcome.bet_id))
        if known is None or known["status"] == "pending":
            self._outcome(race, outcome)
        elif known["race_id"] != outcome.race_id:
            # The bettor's own bet id again, on a race of another partition: the engine that
            # decided it could not see the first. Its money counts on its race; the bet shown
            # under the id stays the first one read.
            self._count(race, outcome)

    def _keep_early_outcome(self, outcome: Outcome) -> None:
        self._early_outcomes.setdefault(outcome.race_id, []).append(outcome)
        self._early_outcomes.move_to_end(outcome.race_id)
        while len(self._early_outcomes) > EARLY_OUTCOME_RACES_MAX:
            self._early_outcomes.popitem(last=False)

    def _odds(self, odds: OddsSnapshot) -> None:
        prices = {p.runner_id: str(p.odds) if p.odds else None for p in odds.prices}
        race = self.races.get(odds.race_id)
        if race is not None:
            race.prices = prices
            return
        # Its header is yet to be read: keep the newest prices (one partition per race, so
        # the last read is the newest) until it is.
        self._early_prices[odds.race_id] = prices
        self._early_prices.move_to_end(odds.race_id)
        while len(self._early_prices) > EARLY_ODDS_MAX:
            self._early_prices.popitem(last=False)

    def _pending(self, bet: Bet) -> None:
        if (bet.user_id, bet.bet_id) not in self.bets:
            self._remember(bet.user_id, bet.bet_id, {
                "bet_id": bet.bet_id, "race_id": bet.race_id, "runner_id": bet.runner_id,
                "stake_minor": bet.stake_minor, "status": "pending", "odds": None,
                "reason": None, "payout_minor": None,
            })  # fmt: skip

    def _count(self, view: RaceView, outcome: Outcome) -> None:
        if outcome.accepted and outcome.odds is not None:
            view.stakes_minor[outcome.runner_id] += outcome.stake_minor
            view.payouts_minor[outcome.runner_id] += payout_minor(outcome.stake_minor, outcome.odds)
            view.accepted += 1
        else:
            view.rejected += 1

    def _outcome(self, view: RaceView, outcome: Outcome) -> None:
        self._count(view, outcome)
        self._remember(outcome.user_id, outcome.bet_id, {
            "bet_id": outcome.bet_id, "race_id": outcome.race_id,
            "runner_id": outcome.runner_id, "stake_minor": outcome.stake_minor,
            "status": "accepted" if outcome.accepted else "rejected",
            "odds": str(outcome.odds) if outcome.odds else None,
            "reason": str(outcome.reason) if outcome.reason else None, "payout_minor": None,
        })  # fmt: skip

    def _remember(self, user_id: str, bet_id: str, bet: dict[str, Any]) -> None:
        key = (user_id, bet_id)
        if key not in self.bets:
            self.user_bets.setdefault(user_id, []).append(bet_id)
        self.bets[key] = bet
        if bet["status"] != "pending" and key in self._early_settlements:
            self._settlement(self._early_settlements.pop(key))

    def _settlement(self, settlement: Settlement) -> None:
        key = (settlement.user_id, settlement.bet_id)
        bet = self.bets.get(key)
        if bet is None or bet["status"] == "pending":
            self._early_settlements[key] = settlement  # its outcome comes later
            while len(self._early_settlements) > EARLY_SETTLEMENTS_MAX:
                self._early_settlements.popitem(last=False)
            return
        if bet["race_id"] != settlement.race_id:
            return  # the settlement of a bet under a reused id on another race (`_take_outcome`)
        bet["status"] = str(settlement.result)
        bet["payout_minor"] = settlement.payout_minor

    # -- command results ------------------------------------------------------------------

    def note_command(
        self, request_id: str, race_id: str, command: str, at_ms: int
    ) -> dict[str, Any] | None:
        """A command this instance is about to log is pending; returns what was kept before
        under its request id (a retry), for `forget_command` should the log refuse it."""
        before = self.commands.get(request_id)
        self._keep_command(command_results.CommandResult(
            request_id, race_id, command, CommandStatus.PENDING, None, "", at_ms
        ).as_dict())  # fmt: skip
        return before

    def forget_command(self, request_id: str, before: dict[str, Any] | None) -> None:
        if before is None:
            self.commands.pop(request_id, None)
        else:
            self.commands[request_id] = before

    def _command_sent(self, value: bytes) -> None:
        """A command in the races topic (perhaps from another instance) is pending until
        answered; its result may have been read first, from the other topic."""
        request_id, race_id, command = command_results.identity(value)
        if not request_id or request_id in self.commands:
            return
        try:
            at_ms = codec.decode_command(value)[0].at_ms
        except codec.CodecError:
            at_ms = 0  # the engine refuses it as INVALID: the result tells the operator why
        self._keep_command(command_results.CommandResult(
            request_id, race_id, command, CommandStatus.PENDING, None, "", at_ms
        ).as_dict())  # fmt: skip

    def _command_result(self, value: bytes) -> None:
        result = command_results.decode(value)  # a CodecError is skipped and counted
        if result.request_id:  # "": a command record so broken its request id was unreadable
            self._keep_command(result.as_dict())

    def _keep_command(self, result: dict[str, Any]) -> None:
        self.commands[str(result["request_id"])] = result
        self.commands.move_to_end(str(result["request_id"]))
        while len(self.commands) > self._commands_max:
            self.commands.popitem(last=False)

    # -- counts ---------------------------------------------------------------------------

    def _positions(self, partition: int, positions: codec.Positions) -> None:
        counts = Counter(positions.decided)
        before = sum(self._decided.get(partition, Counter()).values())
        self._decided[partition] = counts
        if self.ready.is_set():  # history read at start-up is not this moment's rate
            self._recent.append((_now_ms(), max(0, sum(counts.values()) - before)))
            self._forget_before(_now_ms() - RATE_WINDOW_MS)

    def _forget_before(self, since_ms: int) -> None:
        while self._recent and self._recent[0][0] < since_ms:
            self._recent.popleft()

    @property
    def outcomes(self) -> Counter[str]:
        """Bets decided by outcome, over every partition: "accepted" or a rejection reason."""
        total: Counter[str] = Counter()
        for decided in self._decided.values():
            total.update(decided)
        return total

    def stats(self) -> dict[str, Any]:
        self._forget_before(_now_ms() - RATE_WINDOW_MS)
        outcomes = self.outcomes
        accepted = outcomes["accepted"]
        decided = sum(outcomes.values())
        return {
            "bets_per_s": sum(n for _, n in self._recent) / (RATE_WINDOW_MS / 1000),
            "acceptance_rate": accepted / decided if decided else 0.0,
            "accepted": accepted,
            "rejected": {k: v for k, v in sorted(outcomes.items()) if k != "accepted"},
            "decided": decided,
        }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
