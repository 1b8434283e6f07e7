"""The engine task over the in-memory log: the same pipeline code that runs over Kafka."""

from __future__ import annotations

import orjson

from betting import codec
from betting.domain.events import CloseRace, OpenRace
from betting.log.memory import MemoryLog
from betting.log.port import LogUnavailable, Outgoing, Record
from tests.unit.engine_memory import (
    T,
    bet,
    command,
    make_log,
    money,
    records,
    running,
    until,
)
from tests.unit.races import RACE_ID, race


async def test_bets_become_outcomes_odds_and_changelog() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )
    async with running(memory):
        await until(lambda: records(memory, T.odds))
        first = records(memory, T.odds)[0]
        price = dict(first["prices"])["car-0"]
        await producer.send([bet("b1", price, first["version"]), bet("b2", "1.01", 1)])
        await until(lambda: len(records(memory, T.bet_results)) == 2)
        await until(lambda: len(records(memory, T.odds)) == 2)
    results = {r["bet_id"]: r for r in records(memory, T.bet_results)}
    assert results["b1"]["status"] == "accepted" and results["b1"]["odds"] == price
    assert results["b2"]["status"] == "accepted"  # a shorter price is granted the current one
    versions = [r["version"] for r in records(memory, T.odds)]
    assert versions == sorted(set(versions))


async def test_garbage_goes_to_dead_letters_with_an_invalid_outcome_and_nothing_stalls() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send([command(codec.encode_command(race()))])
    garbage = [
        Outgoing(T.bets, b"k", b"\xff not json"),
        Outgoing(T.bets, b"k", b"[1, 2]"),
        Outgoing(T.bets, b"k", orjson.dumps({"v": 1, "bet_id": "bad-1", "user_id": "u"})),
        Outgoing(T.races, b"k", b'{"v": 1, "type": "explode", "race_id": "x", "at_ms": 1}'),
        Outgoing(T.races, RACE_ID.encode(), codec.encode_command(CloseRace(RACE_ID, 2))),
    ]
    await producer.send([*garbage, command(codec.encode_command(OpenRace(RACE_ID, 3)))])
    async with running(memory) as engine:
        await until(lambda: len(records(memory, T.dead_letters)) == 4)
        await until(lambda: records(memory, T.odds))
        assert engine.stats.commands_refused == 2  # "explode", and closing a scheduled race
    invalid = records(memory, T.bet_results)
    assert [(r["bet_id"], r["reason"]) for r in invalid] == [("bad-1", "INVALID")]
    assert "bet.race_id" in str(invalid[0]["detail"])
    assert all("error" in letter for letter in records(memory, T.dead_letters))


async def test_a_restarted_engine_restores_books_and_keeps_each_bet_once() -> None:
    memory = await make_log()
    producer = memory.producer()
    await producer.send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )
    async with running(memory) as engine:
        await producer.send([bet("b1", "1.01", 1)])
        await until(lambda: len(records(memory, T.bet_results)) == 1)
        await until(lambda: not engine.books[0][RACE_ID].dirty)  # the bet's odds are out too
        before = money(engine)
    # A retry after the restart, then another bet under the same bet id.
    await producer.send([bet("b1", "1.01", 1), bet("b1", "1.01", 1, stake=9_999)])
    async with running(memory) as engine:
        await until(lambda: len(records(memory, T.bet_results)) == 3)
        after = money(engine)
    assert after == before
    first, retry, other = records(memory, T.bet_results)
    assert first == retry  # the first outcome, unchanged
    assert (other["reason"], other["stake_minor"]) == ("BET_ID_REUSED", 9_999)
    assert sum(r.get("bet_id") == "b1" for r in records(memory, T.book_changelog)) == 1


class FlakyChangelog(MemoryLog):
    """The changelog cannot be read the first `failures` times, as during a broker outage."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def read_to_end(self, topic: str, partition: int) -> list[Record]:
        if self.failures > 0:
            self.failures -= 1
            raise LogUnavailable("the broker is away")
        return await super().read_to_end(topic, partition)


async def test_a_restore_the_log_refuses_is_retried_never_skipped() -> None:
    """Kafka's consumer swallows what a rebalance callback raises and keeps the partitions:
    a restore that gave up would let the bets meet empty books."""
    memory = await make_log()
    producer = memory.producer()
    await producer.send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )
    async with running(memory):
        await producer.send([bet("b1", "1.01", 1)])
        await until(lambda: len(records(memory, T.bet_results)) == 1)
    flaky = FlakyChangelog(failures=3)
    flaky.__dict__.update({k: v for k, v in memory.__dict__.items() if k != "failures"})
    await producer.send([bet("b2", "1.01", 1)])
    async with running(flaky) as engine:
        await until(lambda: len(records(flaky, T.bet_results)) == 2, timeout_s=10)
        assert flaky.failures == 0
        assert RACE_ID in engine.books[0]
    second = records(flaky, T.bet_results)[1]
    assert (second["bet_id"], second["status"]) == ("b2", "accepted")
