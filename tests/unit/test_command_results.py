"""Every race command the engine consumes gets one result, applied or refused with a reason,
in the transaction of its other outputs; the read model keeps the latest few by request id."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting import codec, command_results
from betting.codec import CodecError
from betting.command_results import CommandResult, CommandStatus, RefusalReason
from betting.config import AdminSettings, Settings
from betting.domain.events import CloseRace, OpenRace, ResultRace, StartRace
from betting.domain.model import Bet
from betting.domain.money import Odds
from betting.domain.risk import RiskParams
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing
from betting.tasks.engine import Engine, restore_decided
from betting.tasks.views import Views
from tests.unit.engine_memory import bet, make_log, records, until
from tests.unit.races import RACE_ID, race

SETTINGS = Settings()
T = SETTINGS.topics


def command(value: bytes) -> Outgoing:
    return Outgoing(T.races, RACE_ID.encode(), value)


@contextlib.asynccontextmanager
async def running(memory: MemoryLog, settings: Settings = SETTINGS) -> AsyncIterator[Views]:
    engine, views = Engine(memory, settings, Readiness()), Views(memory, settings)
    tasks = [asyncio.create_task(engine.run()), asyncio.create_task(views.run())]
    try:
        yield views
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def results(memory: MemoryLog) -> dict[str, dict[str, object]]:
    return {str(r["request_id"]): r for r in records(memory, T.command_results)}


async def test_each_command_is_answered_applied_or_refused_with_the_reason() -> None:
    memory = await make_log()
    encode = codec.encode_command
    await memory.producer().send([
        command(encode(race(), "create-1")),
        command(encode(OpenRace(RACE_ID, 1), "open-1")),
        command(encode(OpenRace(RACE_ID, 2), "open-2")),  # already open
        command(encode(OpenRace(RACE_ID, 3), "open-1")),  # a retry of open-1
        command(encode(race(), "create-2")),  # another create of the same race
        command(encode(race(), "create-1")),  # a retry of the first create
        Outgoing(T.races, b"nope", encode(OpenRace("nope", 4), "open-nope")),
        command(encode(ResultRace(RACE_ID, ("car-0",), 5), "result-early")),
        command(orjson.dumps({"v": 1, "type": "explode", "race_id": RACE_ID, "at_ms": 1,
                              "request_id": "boom"})),
    ])  # fmt: skip
    async with running(memory) as views:
        await until(lambda: len(records(memory, T.command_results)) == 9)  # one per command
        await until(lambda: len(views.commands) == 7)  # the latest per request id
    got = results(memory)
    assert got["create-1"]["status"] == "applied" and got["open-1"]["status"] == "applied"
    assert got["open-1"]["detail"] == "already applied under this request id"
    assert (got["open-2"]["status"], got["open-2"]["reason"]) == ("refused", "ILLEGAL_TRANSITION")
    assert got["open-2"]["detail"] == "race race-1: cannot open race when open"
    assert (got["create-2"]["reason"], got["open-nope"]["reason"]) == (
        "RACE_EXISTS",
        "UNKNOWN_RACE",
    )
    assert got["result-early"]["reason"] == "ILLEGAL_TRANSITION"
    assert (got["boom"]["reason"], got["boom"]["command"]) == ("INVALID", "")
    assert "explode" in str(got["boom"]["detail"])
    assert all(r.pop("v") == 1 for r in got.values())
    assert dict(views.commands) == got


async def test_a_result_the_domain_refuses_says_which_runner() -> None:
    memory = await make_log()
    encode = codec.encode_command
    await memory.producer().send([
        command(encode(race(), "c")),
        command(encode(OpenRace(RACE_ID, 1), "o")),
    ])  # fmt: skip
    async with running(memory) as views:
        await until(lambda: len(results(memory)) == 2)
        await memory.producer().send([
            command(encode(CloseRace(RACE_ID, 2), "close")),
            command(encode(ResultRace(RACE_ID, ("car-0", "car-0"), 3), "twice")),
            command(encode(ResultRace(RACE_ID, ("car-99",), 4), "unknown")),
            command(encode(ResultRace(RACE_ID, ("car-1", "car-0"), 5), "good")),
        ])  # fmt: skip
        await until(lambda: len(views.commands) == 6 and views.commands["good"]["status"]
                    == "applied")  # fmt: skip
    got = results(memory)
    assert (got["twice"]["reason"], got["twice"]["detail"]) == (
        "INVALID_VALUE", "a runner is placed twice"
    )  # fmt: skip
    assert got["unknown"]["reason"] == "INVALID_VALUE" and "car-99" in str(got["unknown"]["detail"])


async def test_the_read_model_keeps_only_the_latest_results() -> None:
    memory = await make_log()
    settings = replace(SETTINGS, admin=AdminSettings(command_results_max=3))
    opens = [command(codec.encode_command(OpenRace(RACE_ID, n), f"r{n}")) for n in range(10)]
    await memory.producer().send([command(codec.encode_command(race(), "create")), *opens])
    async with running(memory, settings) as views:
        await until(lambda: len(results(memory)) == 11)
        await until(lambda: "r9" in views.commands and views.commands["r9"]["status"] != "pending")
        assert list(views.commands) == ["r7", "r8", "r9"]


async def test_bets_decided_are_counted_once_per_partition_and_survive_a_restart() -> None:
    memory = await make_log()
    encode = codec.encode_command
    await memory.producer().send([command(encode(race())), command(encode(OpenRace(RACE_ID, 1)))])
    async with running(memory) as views:
        await until(lambda: records(memory, T.odds))
        await memory.producer().send([
            bet("b1", "1.01", 1),
            bet("b1", "1.01", 1),  # a retry: answered again, decided once
            bet("b2", "1.01", 1, stake=1),  # STAKE_TOO_LOW
            Outgoing(T.bets, b"other", codec.encode_bet(_on_race("b3", "other"))),  # no race
            Outgoing(T.bets, b"k", orjson.dumps({"v": 1, "bet_id": "b4", "user_id": "u"})),
        ])  # fmt: skip
        await until(lambda: len(records(memory, T.bet_results)) == 5)
        expected = {"accepted": 1, "STAKE_TOO_LOW": 1, "RACE_NOT_OPEN": 1, "INVALID": 1}
        await until(lambda: views.outcomes == expected)
    async with running(memory) as views:  # restarted: counts go on from the changelog
        await memory.producer().send([bet("b5", "1.01", 1, stake=1)])
        await until(lambda: len(records(memory, T.bet_results)) == 6)
        expected["STAKE_TOO_LOW"] += 1
        await until(lambda: views.outcomes == expected)
        assert views.stats()["rejected"] == {"INVALID": 1, "RACE_NOT_OPEN": 1, "STAKE_TOO_LOW": 2}
    changelogs = [restore_decided(p) for p in memory.partitions(T.book_changelog)]
    assert sum(changelogs, start=type(changelogs[0])()) == expected


def _on_race(bet_id: str, race_id: str) -> Bet:
    return Bet(bet_id, "user-1", race_id, "car-0", 1_000, Odds.parse("2.00"), 1, 4_000)


# -- the record ------------------------------------------------------------------------------

results_strategy = st.builds(
    CommandResult,
    request_id=st.sampled_from(["", "r-1", "a" * 128]),
    race_id=st.text(max_size=20),
    command=st.sampled_from(["", *sorted(command_results.COMMAND_NAMES)]),
    status=st.sampled_from(list(CommandStatus)),
    reason=st.none(),
    detail=st.text(max_size=50),
    at_ms=st.integers(0, 2**63 - 1),
).map(
    lambda r: replace(r, reason=RefusalReason.INVALID) if r.status is CommandStatus.REFUSED else r
)


@given(results_strategy)
def test_a_result_round_trips(result: CommandResult) -> None:
    assert command_results.decode(command_results.encode(result)) == result


FIELD_NAMES = ["v", "request_id", "race_id", "command", "status", "reason", "detail", "at_ms"]
FIELD_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=10),
    st.booleans(),
    st.sampled_from(["applied", "refused", "pending", "INVALID", "open", "r-1", "", 1]),
    st.lists(st.integers(0, 9), max_size=2),
)


@given(
    st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.sampled_from(FIELD_NAMES), FIELD_VALUES).map(orjson.dumps),
        results_strategy.map(command_results.encode),  # then one field spoiled
        st.tuples(results_strategy, st.sampled_from(FIELD_NAMES), FIELD_VALUES).map(
            lambda t: orjson.dumps({**orjson.loads(command_results.encode(t[0])), t[1]: t[2]})
        ),
    )
)
def test_any_bytes_decode_to_a_result_or_the_codecs_own_error(value: bytes) -> None:
    try:
        result = command_results.decode(value)
    except CodecError:
        return
    assert isinstance(result.status, CommandStatus) and isinstance(result.at_ms, int)
    assert (result.reason is None) == (result.status is not CommandStatus.REFUSED)


@given(st.binary(max_size=200))
def test_identity_of_any_record_is_three_strings(value: bytes) -> None:
    request_id, race_id, name = command_results.identity(value)
    assert all(isinstance(part, str) for part in (request_id, race_id, name))


async def test_an_in_play_bet_decided_after_its_delay_is_counted() -> None:
    memory = await make_log()
    encode = codec.encode_command
    in_play = race(risk=RiskParams(in_play_bet_delay_ms=300, late_window_ms=0))
    await memory.producer().send([
        command(encode(in_play)),
        command(encode(OpenRace(RACE_ID, 1))),
        command(encode(StartRace(RACE_ID, 7, int(time.time() * 1000), 1_000_000))),
    ])  # fmt: skip
    async with running(memory) as views:
        await until(lambda: len(records(memory, T.command_results)) == 3)
        version = int(records(memory, T.odds)[-1]["version"])
        now_ms = int(time.time() * 1000)
        held = Bet("held", "user-1", RACE_ID, "car-0", 1, Odds.parse("1.01"), version, now_ms)
        await memory.producer().send([Outgoing(T.bets, RACE_ID.encode(), codec.encode_bet(held))])
        await until(lambda: len(records(memory, T.bet_results)) == 1)
        await until(lambda: views.outcomes == {"STAKE_TOO_LOW": 1})


@given(
    st.dictionaries(
        st.sampled_from(["request_id", "race_id", "type", "v", "at_ms"]), FIELD_VALUES
    ).map(orjson.dumps)
)
def test_identity_of_any_command_like_record_is_three_strings(value: bytes) -> None:
    request_id, race_id, name = command_results.identity(value)
    assert all(isinstance(part, str) for part in (request_id, race_id, name))


def test_the_rate_counts_decisions_in_the_window_and_stays_bounded(monkeypatch: Any) -> None:
    from betting.log.port import Record
    from betting.tasks import views as views_module

    clock = [1_000_000]
    monkeypatch.setattr(views_module, "_now_ms", lambda: clock[0])
    views = Views(MemoryLog(), SETTINGS)
    views.ready.set()

    def positions(partition: int, accepted: int) -> Record:
        value = orjson.dumps({"v": 1, "positions": {}, "decided": {"accepted": accepted}})
        return Record(T.book_changelog, partition, 0, b"#positions", value, 0)

    for n in range(1, 100_001):  # a decision a millisecond, for 100 s, nobody asking
        clock[0] += 1
        views.apply(positions(n % 2, n // 2 + n % 2))
    assert len(views._recent) <= views_module.RATE_WINDOW_MS + 1
    assert views.stats()["bets_per_s"] == pytest.approx(1_000, abs=0.2)  # both window ends
    assert views.stats()["accepted"] == 100_000
