"""The simulated world: an in-memory log, two engine instances, a clock, bettors, operators.

One step: the world produces some records (bets of every kind, race commands in legal and
illegal orders), perhaps injects a fault, then each instance runs one batch of the real core
(`EngineCore.process`) over what it fetched, and either commits its outputs to the log or
crashes. The model (`model.py`) checks every committed batch and every restore.

Faults, all from the seed:
- a crash between applying a batch and committing it: the outputs vanish, the instance is
  rebuilt from the committed changelog (`EngineCore.restore`) and reads on from there;
- a second fetch of records already processed (a consumer's refetch after a rebalance);
- a partition moved to the other instance, which restores it from the changelog (also
  between a fetch and its batch, with the moved partition's records still in hand);
- a clock that jumps forward (seconds to minutes) or back a little (up to 2 s);
- the changelog compacted (the newest record per key kept, at its offset).
Duplicate and late deliveries come with the load: a bettor's retry of an earlier bet, sent
again at once or much later (Kafka keeps each partition's order, so lateness is a late copy).
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from betting import codec
from betting.config import Settings, TopicSettings
from betting.domain.errors import InvariantViolation
from betting.domain.events import (
    CloseRace,
    CreateRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import Bet, OddsSnapshot, Runner
from betting.domain.money import LADDER, Odds
from betting.domain.risk import RiskParams
from betting.engine import core
from betting.engine.core import CoreSettings, EngineCore
from betting.engine.records import batch_records
from betting.log.memory import MemoryLog
from betting.log.port import Record
from betting.sim.model import Model, Violation, state_of
from betting.tasks.views import Views

TOPICS = TopicSettings()
SETTINGS = CoreSettings(TOPICS.bets, TOPICS.races, odds_interval_ms=50, race_tick_ms=250)
PARTITIONS = 2
START_MS = 1_750_000_000_000
LIVE_RACES = 2  # the operators keep this many races going
CRASH_P = 0.008  # per batch
MOVE_P = 0.005  # per step
REFETCH_P = 0.02
COMPACT_P = 0.005
JUMP_P = 0.01  # each way
COMMAND_P = 0.07  # per step
DRAIN_STEPS = 40
STAKES = (100, 200, 500, 1_000, 2_000, 5_000, 20_000, 100_000)

_LADDER = frozenset(LADDER)
CoreFactory = Callable[[CoreSettings], EngineCore]


@dataclass
class SeedReport:
    seed: int
    bets: int
    faults: int
    violations: list[Violation]


@dataclass
class Instance:
    name: str
    core: EngineCore
    owned: set[int] = field(default_factory=set)
    cursors: dict[tuple[str, int], int] = field(default_factory=dict)


class World:
    def __init__(self, seed: int, bets: int, make_core: CoreFactory = EngineCore) -> None:
        self.rng = random.Random(seed)
        self.bets_max = bets
        self.make_core = make_core
        self.model = Model()
        self.now_ms = START_MS
        self.log: dict[tuple[str, int], list[Record]] = {}
        self.instances = [Instance("a", make_core(SETTINGS)), Instance("b", make_core(SETTINGS))]
        for number in range(PARTITIONS):
            self.instances[number % 2].owned.add(number)
        self.bets_sent = 0
        self.faults = 0
        self.stopped = False  # an InvariantViolation stops the world, as it stops a process
        self.races: list[CreateRace] = []
        self.seen: dict[str, list[OddsSnapshot]] = {}  # committed odds per race, newest last
        self.sent_bets: list[tuple[int, bytes]] = []  # (partition, value) of decodable bets
        self.sent_commands: list[tuple[int, bytes]] = []
        self.request_ids = 0

    # -- the log --------------------------------------------------------------------------

    def append(self, topic: str, number: int, key: bytes | None, value: bytes) -> None:
        records = self.log.setdefault((topic, number), [])
        offset = records[-1].offset + 1 if records else 0  # a compacted log keeps its offsets
        records.append(Record(topic, number, offset, key, value, self.now_ms))

    def records(self, topic: str, number: int) -> list[Record]:
        return self.log.get((topic, number), [])

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        while self.bets_sent < self.bets_max and not self.stopped:
            self.step(load=True, faults=True)
        for _ in range(DRAIN_STEPS):
            if self.stopped:
                break
            self.now_ms += 3_000
            self.step(load=False, faults=False)
        if not self.stopped:
            self.finish()

    def step(self, load: bool, faults: bool) -> None:
        if load:
            self.now_ms += self.rng.randint(1, 120)
            self.produce()
        if faults:
            self.maybe_fault()
        for instance in self.instances:
            if not self.stopped:
                self.batch(instance, crash=faults and self.rng.random() < CRASH_P)

    def maybe_fault(self) -> None:
        rng = self.rng
        if rng.random() < JUMP_P:
            self.now_ms += rng.randint(2_000, 120_000)
            self.faults += 1
        if rng.random() < JUMP_P:
            self.now_ms -= rng.randint(1, 2_000)
            self.faults += 1
        if rng.random() < MOVE_P:
            self.move(rng.randrange(PARTITIONS))
            self.faults += 1
        if rng.random() < COMPACT_P:
            self.compact(rng.randrange(PARTITIONS))
            self.faults += 1
        if rng.random() < REFETCH_P:
            instance = rng.choice(self.instances)
            for where in instance.cursors:
                instance.cursors[where] = max(0, instance.cursors[where] - rng.randint(1, 10))
            self.faults += 1

    def batch(self, instance: Instance, crash: bool) -> None:
        records = self.fetch(instance)
        if crash is False and instance.owned and self.rng.random() < MOVE_P:
            # A rebalance between a fetch and its batch: the records fetched for the partition
            # that went are still in hand, and must be left to its new owner.
            self.move(self.rng.choice(sorted(instance.owned)))
            self.faults += 1
        assignment = {(t, n) for n in instance.owned for t in (TOPICS.bets, TOPICS.races)}
        before = {n: self.state(instance, n) for n in instance.owned} if crash else {}
        try:
            result = instance.core.process(records, assignment, self.now_ms)
        except InvariantViolation as error:
            self.model.fail("invariant", f"instance {instance.name}: {error}")
            self.stopped = True
            return
        if crash:
            self.faults += 1
            self.restart(instance, before)
            return
        for out in batch_records(result, TOPICS):
            self.append(out.topic, out.partition or 0, out.key, out.value or b"")
        self.model.committed(result)
        for _, snapshot in result.odds:
            self.seen.setdefault(snapshot.race_id, []).append(snapshot)
            del self.seen[snapshot.race_id][:-8]  # the bettors remember a few versions
        self.check_money(instance, result)

    def fetch(self, instance: Instance) -> list[Record]:
        """Every race command of the owned partitions up to the end, as the shell holds bets
        back until then, and some of their bets."""
        fetched: list[Record] = []
        for number in sorted(instance.owned):
            for topic, most in ((TOPICS.races, 1_000_000), (TOPICS.bets, self.rng.randint(1, 24))):
                records = self.records(topic, number)
                start = instance.cursors.get((topic, number), 0)
                taken = records[start : start + most]
                instance.cursors[(topic, number)] = start + len(taken)
                fetched.extend(taken)
        return fetched

    def check_money(self, instance: Instance, result: core.BatchResult) -> None:
        touched = {a.outcome.race_id for a in result.answers} | {
            h.race_id for _, h in result.headers
        }
        for number in instance.owned:
            for race_id, book in instance.core.books.get(number, {}).items():
                if race_id in touched:
                    self.model.check_money(
                        race_id, list(book.stakes_minor), book.pool_minor, list(book.active)
                    )

    def state(self, instance: Instance, number: int) -> object:
        engine = instance.core
        return state_of(
            engine.books.get(number, {}),
            engine.positions.get(number, {}),
            engine.decided.get(number, Counter()),
        )

    def restart(self, instance: Instance, before: dict[int, object]) -> None:
        """The process died before its commit: a new one restores its partitions."""
        instance.core = self.make_core(SETTINGS)
        instance.cursors = {}
        for number in sorted(instance.owned):
            self.take_over(instance, number)
            self.model.check_restore(
                f"crash of {instance.name}", before[number], self.state(instance, number)
            )

    def move(self, number: int) -> None:
        old = next(i for i in self.instances if number in i.owned)
        new = next(i for i in self.instances if i is not old)
        before = self.state(old, number)
        old.core.forget(number)
        old.owned.discard(number)
        for topic in (TOPICS.bets, TOPICS.races):
            old.cursors.pop((topic, number), None)
        new.owned.add(number)
        self.take_over(new, number)
        self.model.check_restore(f"move of {number} to {new.name}", before, self.state(new, number))

    def compact(self, number: int) -> None:
        """The log cleaner: only the newest record of each key of the changelog is kept, at
        its offset (every reader must cope with a header after the outcomes it heads)."""
        records = self.records(TOPICS.book_changelog, number)
        newest = {record.key: record.offset for record in records}
        records[:] = [record for record in records if newest[record.key] == record.offset]

    def take_over(self, instance: Instance, number: int) -> None:
        restored = instance.core.restore(number, self.records(TOPICS.book_changelog, number))
        for topic in (TOPICS.bets, TOPICS.races):
            instance.cursors[(topic, number)] = restored.positions.get(topic, 0)

    def finish(self) -> None:
        decided = 0
        for instance in self.instances:
            for number in instance.owned:
                decided += sum(instance.core.decided.get(number, Counter()).values())
                for race_id, book in instance.core.books.get(number, {}).items():
                    self.model.check_money(
                        race_id, list(book.stakes_minor), book.pool_minor, list(book.active)
                    )
                    self.model.check_outcomes(race_id, book.outcomes)
        commands = sum(len(self.records(TOPICS.races, n)) for n in range(PARTITIONS))
        self.model.check_exactly_once(commands, decided)
        self.model.check_read_model(self.read_model())
        self.model.finish()

    def read_model(self) -> Views:
        """A read model that reads the committed log from the start, as one started now:
        each partition in order, the partitions interleaved at random."""
        views = Views(MemoryLog(), Settings())
        rng = random.Random(self.rng.random())
        topics = (TOPICS.book_changelog, TOPICS.odds, TOPICS.settlements)
        sources = [iter(self.records(t, n)) for t in topics for n in range(PARTITIONS)]
        while sources:
            source = rng.choice(sources)
            record = next(source, None)
            if record is None:
                sources.remove(source)
            else:
                views.apply(record)
        return views

    # -- the load -------------------------------------------------------------------------

    def produce(self) -> None:
        rng = self.rng
        live = [
            race for race in self.races if self.believed(race.race_id) not in ("settled", "void")
        ]
        if len(live) < LIVE_RACES or rng.random() < 0.002:
            self.create_race()
        opened = any(seen[-1].state == "open" for seen in self.seen.values())
        if rng.random() < (COMMAND_P if opened else 0.3):
            self.command()
        for _ in range(rng.randint(1, 7)):
            self.bettor()

    def believed(self, race_id: str) -> str:
        seen = self.seen.get(race_id)
        return str(seen[-1].state) if seen else "unknown"

    def partition_of(self, race_id: str) -> int:
        return sum(race_id.encode()) % PARTITIONS

    def next_request_id(self) -> str:
        self.request_ids += 1
        return f"q{self.request_ids}"

    def send_command(self, command: CreateRace | RaceCommand, request_id: str) -> None:
        number = self.partition_of(command.race_id)
        value = codec.encode_command(command, request_id)
        self.append(TOPICS.races, number, command.race_id.encode(), value)
        self.sent_commands.append((number, value))

    def create_race(self) -> None:
        rng = self.rng
        race_id = f"race-{len(self.races)}"
        runners = tuple(
            Runner(f"car-{i}", f"Car {i}", rng.choice((None, rng.randint(50, 200))))
            for i in range(rng.randint(2, 5))
        )
        risk = RiskParams(
            stake_min_minor=100,
            stake_max_minor=200_000,
            odds_tolerance_ticks=rng.randint(0, 2),
            late_window_ms=rng.choice((0, 500, 5_000)),
            runner_liability_max_minor=rng.choice((50_000, 300_000, 10_000_000)),
            race_liability_max_minor=rng.choice((80_000, 500_000, 20_000_000)),
            version_history_max=rng.choice((2, 100)),
            in_play_bet_delay_ms=rng.choice((0, 300, 2_000)),
        )
        create = CreateRace(
            race_id, f"Race {race_id}", runners, self.now_ms + 60_000, self.now_ms, risk=risk
        )
        self.races.append(create)
        self.model.sent_create(create)
        self.send_command(create, self.next_request_id())

    def command(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.04:
            self.append(TOPICS.races, rng.randrange(PARTITIONS), b"x", malformed_command(rng))
            return
        if roll < 0.12 and self.sent_commands:
            number, value = rng.choice(self.sent_commands)  # an operator's retry
            self.append(TOPICS.races, number, b"retry", value)
            return
        if roll < 0.16 or not self.races:
            race_id = f"ghost-{rng.randrange(3)}"
            self.send_command(OpenRace(race_id, self.now_ms), self.next_request_id())
            return
        race = rng.choice(self.races[-4:])
        natural = rng.random() < 0.75
        command = self.natural_command(race) if natural else self.any_command(race)
        if command is not None:
            request_id = self.next_request_id()
            if isinstance(command, WithdrawRunner):
                self.model.sent_withdraw(request_id, command.race_id, command.runner_id)
            self.send_command(command, request_id)

    def natural_command(self, race: CreateRace) -> CreateRace | RaceCommand | None:
        rng, race_id, at = self.rng, race.race_id, self.now_ms
        state = self.believed(race_id)
        if state in ("unknown", "scheduled"):
            return OpenRace(race_id, at)
        if state == "open":
            start = self.start(race)
            options: list[RaceCommand] = [CloseRace(race_id, at)] * 3
            options += [
                start,
                start,
                SuspendRace(race_id, at),
                self.withdraw(race),
                self.strengths(race),
            ]
            return rng.choice([*options, VoidRace(race_id, "rain", at)])
        if state == "suspended":
            options = [ResumeRace(race_id, at)] * 4
            return rng.choice([*options, CloseRace(race_id, at), VoidRace(race_id, "fog", at)])
        if state == "closed":
            options = [self.result(race)] * 6
            return rng.choice([*options, VoidRace(race_id, "protest", at)])
        return self.any_command(race)

    def any_command(self, race: CreateRace) -> CreateRace | RaceCommand:
        rng, race_id, at = self.rng, race.race_id, self.now_ms
        options: list[CreateRace | RaceCommand] = [
                race, OpenRace(race_id, at), SuspendRace(race_id, at), ResumeRace(race_id, at),
                self.start(race),
                CloseRace(race_id, at), self.result(race), SettleRace(race_id, at),
                VoidRace(race_id, "any", at), self.withdraw(race), self.strengths(race),
        ]  # fmt: skip
        return rng.choice(options)

    def start(self, race: CreateRace) -> StartRace:
        """In play: a short course (20 to 150 m), so the race ends within the seed."""
        seed, length_mm = self.rng.randrange(2**32), self.rng.randint(20_000, 150_000)
        return StartRace(race.race_id, seed, self.now_ms, length_mm)

    def withdraw(self, race: CreateRace) -> WithdrawRunner:
        runner = self.rng.choice(race.runners).runner_id
        return WithdrawRunner(race.race_id, runner, self.now_ms)

    def strengths(self, race: CreateRace) -> UpdateStrengths:
        pairs = tuple((r.runner_id, self.rng.randint(1, 1_000)) for r in race.runners)
        return UpdateStrengths(race.race_id, pairs, self.now_ms)

    def result(self, race: CreateRace) -> ResultRace:
        runners = [r.runner_id for r in race.runners]
        self.rng.shuffle(runners)
        placings = runners[: self.rng.randint(1, len(runners))]
        if self.rng.random() < 0.1:
            placings.append(placings[0])  # placed twice: refused
        tie = len(placings) > 1 and self.rng.random() < 0.25
        ties = self.rng.randint(2, len(placings)) if tie else 0
        dead_heats = (tuple(placings[:ties]),) if len(set(placings[:ties])) == ties > 1 else ()
        return ResultRace(race.race_id, tuple(placings), self.now_ms, dead_heats)

    def bettor(self) -> None:
        rng = self.rng
        self.bets_sent += 1
        roll = rng.random()
        if roll < 0.04:
            self.malformed()
        elif roll < 0.12 and self.sent_bets:
            recent = self.sent_bets[-50:] if rng.random() < 0.7 else self.sent_bets
            number, value = rng.choice(recent)  # a retry, soon or late
            self.append(TOPICS.bets, number, b"retry", value)
        elif roll < 0.15 and self.sent_bets:
            self.send_bet(self.colliding(rng.choice(self.sent_bets)[1]))
        elif roll < 0.17:
            self.send_bet(
                Bet(
                    f"b{self.bets_sent}", "u0", "ghost-9", "car-0", 1_000, Odds(200), 1, self.now_ms
                )
            )
        else:
            bet = self.valid_bet(stale=roll > 0.93)
            if bet is not None:
                self.send_bet(bet)

    def malformed(self) -> None:
        """An undecodable bet; now and then a broken copy of one sent before (its ids kept),
        as a buggy client's retry would be."""
        rng = self.rng
        if self.sent_bets and rng.random() < 0.3:
            number, value = rng.choice(self.sent_bets)
            bet = orjson.loads(value)
            bet["stake_minor"] = -1
            self.append(TOPICS.bets, number, b"broken", orjson.dumps(bet))
            return
        self.append(
            TOPICS.bets, rng.randrange(PARTITIONS), b"x", malformed_bet(rng, self.bets_sent)
        )

    def send_bet(self, bet: Bet) -> None:
        number = self.partition_of(bet.race_id)
        value = codec.encode_bet(bet)
        self.append(TOPICS.bets, number, bet.race_id.encode(), value)
        self.sent_bets.append((number, value))
        self.model.sent_bet(bet)

    def valid_bet(self, stale: bool) -> Bet | None:
        rng = self.rng
        races = [race_id for race_id, seen in self.seen.items() if seen[-1].state == "open"]
        if not races and rng.random() < 0.1:
            races = list(self.seen)  # a bet on a race that is not open
        if not races:
            self.bets_sent -= 1  # nothing to bet on: the bettor waits
            return None
        seen = self.seen[rng.choice(races)]
        snapshot = seen[0] if stale else seen[-1]
        # A price off the ladder (the model reports it) is one no bettor could name.
        priced = [p for p in snapshot.prices if p.odds is not None and p.odds.hundredths in _LADDER]
        if not priced:
            return None
        price = rng.choice(priced)
        assert price.odds is not None
        tick = min(max(price.odds.tick + rng.choice((0, 0, 0, 1, -1, 3)), 0), len(LADDER) - 1)
        stake = rng.choice(STAKES) if rng.random() < 0.97 else rng.choice((50, 300_000))
        user = f"u{rng.randrange(12)}"
        at_ms = self.now_ms - (rng.randint(0, 8_000) if stale else 0)
        return Bet(
            f"b{self.bets_sent}", user, snapshot.race_id, price.runner_id, stake,
            Odds(LADDER[tick]), snapshot.version, max(at_ms, 0),
        )  # fmt: skip

    def colliding(self, value: bytes) -> Bet:
        """The same bet id on the same race, with other content or from another user."""
        bet = codec.decode_bet(value)
        rng = self.rng
        if rng.random() < 0.5:
            return dataclasses.replace(
                bet, user_id=f"u{rng.randrange(12, 20)}", received_at_ms=self.now_ms
            )
        return dataclasses.replace(bet, stake_minor=bet.stake_minor * 2, received_at_ms=self.now_ms)


def malformed_bet(rng: random.Random, n: int) -> bytes:
    good: dict[str, Any] = {
        "v": 1, "bet_id": f"b{n}", "user_id": "u1", "race_id": "race-0", "runner_id": "car-0",
        "stake_minor": 1_000, "odds": "2.00", "odds_version": 1, "received_at_ms": START_MS,
    }  # fmt: skip
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if kind == 1:
        good["stake_minor"] = rng.choice((-1, "1000", 1.5, True, 2**62))
    elif kind == 2:
        good["odds"] = rng.choice(("2.001", "abc", 2, "0.5", "１.50"))
    elif kind == 3:
        good["runner_id"] = rng.choice(("", "a b", "x" * 300, None))
    elif kind == 4:
        good["v"] = 2
    else:
        del good[rng.choice(sorted(good))]
    return orjson.dumps(good)


def malformed_command(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 30)))
    body = {"v": 1, "type": rng.choice(("open", "result", "explode")), "race_id": "race-0",
            "at_ms": rng.choice((-5, "now", START_MS)), "placings": "car-0"}  # fmt: skip
    return orjson.dumps(body)


def run_seed(seed: int, bets: int, make_core: CoreFactory = EngineCore) -> SeedReport:
    world = World(seed, bets, make_core)
    world.run()
    return SeedReport(seed, world.bets_sent, world.faults, world.model.violations)
