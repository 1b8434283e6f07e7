"""A log of one partition fed to the real engine core, batch by batch, for tests of how bets
end: what each batch committed is kept, and the partition can be restored from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from betting import codec
from betting.config import Settings
from betting.domain.events import CloseRace, CreateRace, OpenRace, RaceCommand
from betting.domain.model import Bet, Outcome, Runner
from betting.domain.money import Odds
from betting.domain.risk import RiskParams
from betting.domain.settlement import Settlement
from betting.engine.core import BatchResult, CoreSettings, EngineCore
from betting.engine.records import batch_records
from betting.log.port import Record

T = Settings().topics
ASSIGNED = {(T.bets, 0), (T.races, 0)}
RISK = RiskParams(in_play_bet_delay_ms=0, odds_tolerance_ticks=100, late_window_ms=3_600_000)


def race(race_id: str, runners: int = 4, risk: RiskParams = RISK) -> CreateRace:
    ratings = [400 - 50 * i for i in range(runners)]  # car-0 the favourite
    return CreateRace(
        race_id,
        f"Race {race_id}",
        tuple(Runner(f"car-{i}", f"Car {i}", rating) for i, rating in enumerate(ratings)),
        60_000,
        0,
        risk=risk,
    )


@dataclass
class Feed:
    settings: CoreSettings = field(default_factory=lambda: CoreSettings(T.bets, T.races))
    engine: EngineCore = field(init=False)
    inputs: dict[str, list[Record]] = field(default_factory=lambda: {T.bets: [], T.races: []})
    changelog: list[Record] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    answers: list[Outcome] = field(default_factory=list)
    now_ms: int = 1_000
    requests: int = 0

    def __post_init__(self) -> None:
        self.engine = EngineCore(self.settings)

    def send(self, topic: str, value: bytes) -> Record:
        self.now_ms += 1
        records = self.inputs[topic]
        record = Record(topic, 0, len(records), b"k", value, self.now_ms)
        records.append(record)
        return record

    def command(self, command: CreateRace | RaceCommand, request_id: str = "") -> BatchResult:
        self.requests += 1
        request_id = request_id or f"q{self.requests}"
        return self.run([self.send(T.races, codec.encode_command(command, request_id))])

    def bet(
        self, bet_id: str, user: str, race_id: str, runner: int = 0, stake: int = 1_000
    ) -> Outcome:
        bet = Bet(bet_id, user, race_id, f"car-{runner}", stake, Odds(101), 1, self.now_ms + 1)
        result = self.run([self.send(T.bets, codec.encode_bet(bet))])
        (answer,) = result.answers
        return answer.outcome

    def raw_bet(self, value: bytes) -> BatchResult:
        return self.run([self.send(T.bets, value)])

    def run(self, records: list[Record]) -> BatchResult:
        result = self.engine.process(records, ASSIGNED, self.now_ms)
        self.commit(result)
        return result

    def commit(self, result: BatchResult) -> None:
        self.settlements += [s for _, s in result.settlements]
        self.answers += [a.outcome for a in result.answers]
        for out in batch_records(result, T):
            if out.topic == T.book_changelog:
                offset = len(self.changelog)
                self.changelog.append(Record(out.topic, 0, offset, out.key, out.value or b"", 0))

    def restart(self) -> None:
        """A new process: the partition from its committed changelog, reading on from there."""
        self.engine = EngineCore(self.settings)
        restored = self.engine.restore(0, self.changelog)
        assert not restored.skipped

    def open(self, race_id: str, runners: int = 4, risk: RiskParams = RISK) -> None:
        self.command(race(race_id, runners, risk))
        self.command(OpenRace(race_id, self.now_ms))

    def close(self, race_id: str) -> None:
        self.command(CloseRace(race_id, self.now_ms))


def key(outcome: Outcome | Settlement) -> tuple[str, str, str]:
    return (outcome.race_id, outcome.user_id, outcome.bet_id)


def with_payout(settlement: Settlement, payout_minor: int) -> Settlement:
    return dataclasses.replace(settlement, payout_minor=payout_minor)
