"""The engine against the real Apache Kafka broker: exactly once, recovery, scale-out."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter

import orjson
import pytest

from betting import codec
from betting.domain.book import Book
from betting.domain.events import CloseRace, ResultRace
from betting.domain.model import RaceState
from betting.domain.money import Odds, payout_minor
from betting.health import Readiness
from betting.log.port import Outgoing, Record
from betting.tasks.engine import Engine, restore_books
from tests.integration.engine_checks import assert_odds_versions_increase, replay_matches
from tests.integration.kafka_pipeline import (
    bets,
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
    read_topic,
    start_engine_process,
    values,
    wait_for,
)

pytestmark = pytest.mark.kafka
RACES = ["race-a", "race-b", "race-c", "race-d"]


def bet_ids_of(records: list[Record]) -> Counter[str]:
    return Counter(str(value["bet_id"]) for value in values(records))


async def test_exactly_once_when_killed_inside_a_transaction(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    producer = event_log.producer()
    try:
        await producer.send(race_commands(settings, RACES))
        doomed = start_engine_process(env, "--kill-in-batch", "4")
        for chunk in range(8):
            await producer.send(bets(settings, RACES, 100, f"c{chunk}"))
            await asyncio.sleep(0.1)  # pacing: the kill lands while bets still arrive
        assert await asyncio.to_thread(doomed.wait, 90) == -signal.SIGKILL
        survivor = start_engine_process(env)  # same transactional id: fences the dead one
        try:
            results = await wait_for(
                event_log, settings.topics.bet_results, lambda r: len(bet_ids_of(r)) == 800, 90
            )
        finally:
            survivor.terminate()
            survivor.wait(30)
        counts = bet_ids_of(results)
        assert set(counts.values()) == {1}, "a bet had more than one outcome"
        assert_odds_versions_increase(await read_topic(event_log, settings.topics.odds))
        await replay_matches(event_log, settings)
    finally:
        await event_log.stop()


async def test_scale_out_two_engines_and_one_killed(kafka_bootstrap: str, unique_name: str) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    producer = event_log.producer()
    first = start_engine_process(env, "--instance", "a")
    second = start_engine_process(env, "--instance", "b")
    try:
        await producer.send(race_commands(settings, RACES))
        await producer.send(bets(settings, RACES, 200, "early"))
        await wait_for(event_log, settings.topics.bet_results, lambda r: len(bet_ids_of(r)) == 200)
        first.kill()  # kill -9: its partitions go to the second after the session timeout
        await producer.send(bets(settings, RACES, 200, "late"))
        results = await wait_for(
            event_log, settings.topics.bet_results, lambda r: len(bet_ids_of(r)) == 400, 90
        )
        assert set(bet_ids_of(results).values()) == {1}
        assert second.poll() is None, "the surviving engine died"
        assert_odds_versions_increase(await read_topic(event_log, settings.topics.odds))
        await replay_matches(event_log, settings)
    finally:
        for process in (first, second):
            process.kill()
            process.wait(30)
        await event_log.stop()


async def test_garbage_records_go_to_dead_letters_without_stalling(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    engine = Engine(event_log, settings, Readiness(), instance_id="garbage")
    task = asyncio.create_task(engine.run())
    try:
        topics = settings.topics
        await event_log.producer().send(
            [
                *race_commands(settings, RACES[:1]),
                Outgoing(topics.bets, b"race-a", b"\x00\xff garbage"),
                Outgoing(
                    topics.bets, b"race-a", orjson.dumps({"v": 1, "bet_id": "x", "user_id": "u"})
                ),
                Outgoing(topics.races, b"race-a", b'{"v": 9}'),
                *bets(settings, RACES[:1], 5, "fine"),
            ]
        )
        letters = await wait_for(event_log, topics.dead_letters, lambda r: len(r) == 3)
        results = await wait_for(event_log, topics.bet_results, lambda r: len(r) == 6)
        assert {v["error"] for v in values(letters)} and all(v["value"] for v in values(letters))
        reasons = {v["bet_id"]: v["reason"] for v in values(results)}
        assert reasons["x"] == "INVALID"
        assert all(reasons[f"fine-{n}"] is None for n in range(5)), [
            (v["reason"], v["detail"]) for v in values(results)
        ]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await event_log.stop()


async def test_settlement_exactly_once_when_killed_inside_its_transaction(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = pipeline_env(kafka_bootstrap, unique_name)
    settings = pipeline_settings(env)
    topics = settings.topics
    event_log = await open_log(settings)
    producer = event_log.producer()
    races = RACES[:2]
    try:
        await producer.send(race_commands(settings, races))
        doomed = start_engine_process(env, "--kill-on-topic", topics.settlements)
        await producer.send(bets(settings, races, 200, "s"))
        await wait_for(event_log, topics.bet_results, lambda r: len(bet_ids_of(r)) == 200, 90)
        now_ms = int(time.time() * 1000)
        await producer.send(
            [
                Outgoing(topics.races, race.encode(), codec.encode_command(command))
                for race in races
                for command in (CloseRace(race, now_ms), ResultRace(race, ("car-0",), now_ms))
            ]
        )
        assert await asyncio.to_thread(doomed.wait, 90) == -signal.SIGKILL
        survivor = start_engine_process(env)
        try:
            await wait_for(event_log, topics.settlements, lambda r: len(r) >= 200, 90)
            # A command after the result, on each race's partition, answered: whatever the
            # result paid (once or twice) is committed before that answer.
            markers = {f"after-result-{race}": CloseRace(race, now_ms) for race in races}
            await producer.send(
                [
                    Outgoing(
                        topics.races, marker.race_id.encode(), codec.encode_command(marker, id_)
                    )
                    for id_, marker in markers.items()
                ]
            )

            def answered(records: list[Record]) -> bool:
                return set(markers) <= {value["request_id"] for value in values(records)}

            await wait_for(event_log, topics.command_results, answered, 90)
            paid = await read_topic(event_log, topics.settlements)
        finally:
            survivor.terminate()
            survivor.wait(30)
        assert set(bet_ids_of(paid).values()) == {1}, "a bet was settled twice"
        outcomes = {v["bet_id"]: v for v in values(await read_topic(event_log, topics.bet_results))}
        for settlement in values(paid):
            outcome = outcomes[settlement["bet_id"]]
            won = outcome["runner_id"] == "car-0"
            expected = (
                payout_minor(int(outcome["stake_minor"]), Odds.parse(outcome["odds"])) if won else 0
            )
            assert (settlement["result"], settlement["payout_minor"]) == (
                "won" if won else "lost",
                expected,
            )
        restored: dict[str, Book] = {}
        for partition in range(3):
            restored.update(
                restore_books(await event_log.read_to_end(topics.book_changelog, partition))
            )
        assert {restored[race].state for race in races} == {RaceState.SETTLED}
    finally:
        await event_log.stop()
