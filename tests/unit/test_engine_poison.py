"""Poison records on the in-memory log: the engine dead-letters each and goes on deciding.

Every malformed class of `tests.unit.poison` is sent on `bets` and `races`, and garbage into
`book-changelog`; then good bets are still answered, by this engine and by one restarted
over the same topics (the poison is still there). An unforeseen failure while applying one
bet is contained too, and leaves the book as it was; a broken invariant still stops it.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter

import orjson
import pytest

from betting import codec
from betting.domain.book import Book
from betting.domain.errors import InvariantViolation
from betting.domain.events import OpenRace
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing
from betting.tasks.engine import Engine
from tests.unit import poison
from tests.unit.engine_memory import (
    SETTINGS,
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


def poison_records(tag: str) -> tuple[list[Outgoing], list[poison.Poison]]:
    on_bets, on_races = poison.bets(RACE_ID, tag), poison.commands(RACE_ID)
    sent = [Outgoing(T.bets, key, value) for _, key, value, _ in on_bets]
    sent += [Outgoing(T.races, key, value) for _, key, value, _ in on_races]
    return sent, [*on_bets, *on_races]


async def open_race(memory: MemoryLog) -> None:
    await memory.producer().send(
        [command(codec.encode_command(race())), command(codec.encode_command(OpenRace(RACE_ID, 1)))]
    )


def results(memory: MemoryLog) -> dict[str, dict[str, object]]:
    return {str(r["bet_id"]): r for r in records(memory, T.bet_results)}


async def test_every_poison_class_is_dead_lettered_and_good_bets_are_still_answered() -> None:
    memory = await make_log()
    await open_race(memory)
    sent, catalogue = poison_records("p1")
    await memory.producer().send([*sent, bet("good-1", "1.01", 1)])
    async with running(memory) as engine:
        await until(lambda: "good-1" in results(memory) and len(dead(memory)) == len(sent))
        assert results(memory)["good-1"]["status"] == "accepted"
        assert engine.stats.dead_letters == len(sent)

    letters = dead(memory)
    assert Counter(letter["topic"] for letter in letters) == Counter(o.topic for o in sent)
    assert all(letter["error"] for letter in letters)
    assert all(len(orjson.dumps(letter)) < 100_000 for letter in letters)  # a big one is cut
    expected = {readable for *_, readable in catalogue if readable is not None}
    invalid = {
        (str(r["bet_id"]), str(r["user_id"]))
        for r in records(memory, T.bet_results)
        if r["reason"] == "INVALID"
    }
    assert invalid == expected and len(expected) == 20
    details = {str(r["bet_id"]): str(r["detail"]) for r in records(memory, T.bet_results)}
    assert "bet.odds" in details["p1-0"] and "bet.stake_minor" in details["p1-8"]

    # The poison is still in the topics: a restarted engine reads on past it, with one more.
    await memory.producer().send([*poison_records("p2")[0], bet("good-2", "1.01", 1)])
    async with running(memory) as engine:
        await until(lambda: "good-2" in results(memory) and len(dead(memory)) == 2 * len(sent))
        assert results(memory)["good-2"]["status"] == "accepted"
    assert Counter(str(r["bet_id"]) for r in records(memory, T.bet_results))["good-1"] == 1


def dead(memory: MemoryLog) -> list[dict[str, object]]:
    return records(memory, T.dead_letters)


async def test_garbage_in_the_changelog_is_skipped_on_restore() -> None:
    memory = await make_log()
    await open_race(memory)
    async with running(memory) as engine:
        await memory.producer().send([bet("b1", "1.01", 1)])
        await until(lambda: "b1" in results(memory))
        await until(lambda: not engine.books[0][RACE_ID].dirty)
        before = money(engine)
    garbage = [
        Outgoing(T.book_changelog, key, value, partition)
        for label, key, value, _ in poison.changelog(RACE_ID)
        for partition in range(3)
    ]
    await memory.producer().send(garbage)
    async with running(memory) as engine:
        await memory.producer().send([bet("b2", "1.01", 1)])
        await until(lambda: "b2" in results(memory))
        assert results(memory)["b2"]["status"] == "accepted"
        restored = money(engine)[RACE_ID]
        assert engine.restore_skipped.counts == {T.book_changelog: len(garbage)}
    assert restored[0] == before[RACE_ID][0]  # the state of the last good header
    assert {bet_id for _, bet_id in restored[4]} == {"b1", "b2"}
    # It read on from the last good positions: b1 was not read, nor answered, again.
    assert [r["bet_id"] for r in records(memory, T.bet_results)] == ["b1", "b2"]


async def test_an_unforeseen_failure_in_one_bet_is_contained_and_changes_no_money(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accept = Book._accept

    def half_accept(book: Book, placed: object, index: int, odds: object) -> None:
        if getattr(placed, "bet_id", "") == "boom":
            book.stakes_minor[index] += 10**9  # half done, then a bug
            book.pool_minor += 10**9
            raise RuntimeError("a bug\nmet by this one bet")
        accept(book, placed, index, odds)  # type: ignore[arg-type]

    monkeypatch.setattr(Book, "_accept", half_accept)
    memory = await make_log()
    await open_race(memory)
    async with running(memory) as engine:
        await memory.producer().send([bet("b1", "1.01", 1)])
        await until(lambda: "b1" in results(memory))
        first = engine.books[0][RACE_ID]
        stakes_before, pool_before = list(first.stakes_minor), first.pool_minor
        await memory.producer().send([bet("boom", "1.01", 1), bet("b2", "1.01", 1, runner=1)])
        await until(lambda: "b2" in results(memory))
        book = engine.books[0][RACE_ID]
        assert book.stakes_minor[0] == stakes_before[0] == 1_000
        assert book.pool_minor == pool_before + 1_000  # b2's stake only
        assert book.weights() == book.weights_from_scratch()
    outcome = results(memory)["boom"]
    assert outcome["reason"] == "INVALID" and "RuntimeError" in str(outcome["detail"])
    for partition in memory.partitions(T.bet_results):  # each outcome decodes, to be forwarded
        assert all(codec.decode_outcome(record.value) for record in partition)
    (letter,) = dead(memory)
    assert "RuntimeError" in str(letter["error"])
    assert orjson.loads(base64.b64decode(str(letter["value"])))["bet_id"] == "boom"


async def test_a_broken_invariant_still_stops_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(book: Book, placed: object) -> None:
        raise InvariantViolation("money does not add up")

    monkeypatch.setattr(Book, "submit", broken)
    memory = await make_log()
    await open_race(memory)
    await memory.producer().send([bet("b1", "1.01", 1)])
    engine = Engine(memory, SETTINGS, Readiness())
    with pytest.raises(InvariantViolation):
        await asyncio.wait_for(engine.run(), 10)
