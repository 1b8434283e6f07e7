"""The chaos test: two `serve` instances, SDK bettors on both edges, kill -9s and a broker kill.

Two instances share one consumer group on the real broker, each with its own local edge and a
stable `kafka.instance_id`. Bettors on the official ably SDK, half on each edge, watch every
race's odds, bet on their own shard channel and listen on their own user channel. During the
load a seeded plan kills a random instance with SIGKILL (restarted with its instance id) at
least five times, stalls one with SIGSTOP past its session timeout (a zombie when it
wakes), and kills the broker once. After a settle period the test demands:

- every bet the SDK reported ACKed has exactly one outcome in `bet-results` (read directly,
  read_committed; a repeat may only be the same first outcome) and its bettor heard it;
- each race's book money per runner, on both instances, equals the accepted stakes;
- odds versions strictly increase at every client (the rule is in `ledger.py`).

`CHAOS_SECONDS` (default 75), `CHAOS_KILLS` (default 5), `CHAOS_PAUSES` (default 1),
`CHAOS_BETTORS` (default 8) and `CHAOS_SEED` (default: random, printed) set the run;
`make chaos` runs a longer one. The summary is printed and written to
`artifacts/chaos-summary.txt`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from betting.config import TopicSettings
from betting.devtools.kafka_broker import KafkaBroker
from tests.chaos.bettor import ChaosBettor
from tests.chaos.cluster import FaultLog, Instance, fault_plan, inject
from tests.chaos.ledger import (
    HeardCheck,
    Ledger,
    ResultsCheck,
    accepted_stakes,
    check_heard,
    check_results,
    money_mismatches,
    odds_behind,
)
from tests.integration.kafka_pipeline import (
    PARTITIONS,
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
)
from tests.support.serve_process import until_ready

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.chaos]

REPO = Path(__file__).resolve().parents[2]
SUMMARY = REPO / "artifacts" / "chaos-summary.txt"
RACES = ["race-1", "race-2", "race-3", "race-4"]
SHARDS = 4
BET_RATE_PER_BETTOR = 1.5  # bets/s: about 12 bets/s in all with 8 bettors
READY_TIMEOUT_S = 90
SETTLE_S = 60  # after the load: for outcomes, deliveries and read models to catch up
GIVE_UP_S = 30  # after the load: a bet not ACKed by then stays unACKed (not lost)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


async def read_committed(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed record of a topic, read directly with a read_committed consumer."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[dict[str, Any]] = []
        for partition in partitions:
            while await consumer.position(partition) < ends[partition]:
                batch = await consumer.getmany(partition, timeout_ms=1_000)
                values.extend(orjson.loads(r.value) for r in batch.get(partition, []))
        return values
    finally:
        await consumer.stop()


async def newest_odds(bootstrap: str, topic: str) -> dict[str, int]:
    newest: dict[str, int] = {}
    for value in await read_committed(bootstrap, topic):
        race_id, version = str(value["race_id"]), int(value["version"])
        newest[race_id] = max(version, newest.get(race_id, version))
    return newest


async def settle(
    bootstrap: str, topics: TopicSettings, ledger: Ledger, bettors: list[ChaosBettor]
) -> tuple[ResultsCheck, HeardCheck, list[str]]:
    """Wait up to SETTLE_S for every ACKed bet's outcome in the log and at its bettor, and for
    every watcher to hold each race's newest odds."""
    heard = {b.user_id: b.heard for b in bettors}
    deadline = time.monotonic() + SETTLE_S
    while True:
        for bettor in bettors:
            bettor.revive()
        results = check_results(ledger, await read_committed(bootstrap, topics.bet_results))
        delivered = check_heard(ledger, heard, results.first)
        newest = await newest_odds(bootstrap, topics.odds)
        behind = odds_behind([b.watch for b in bettors], newest)
        settled = not results.lost and not delivered.unheard and not behind
        if settled or time.monotonic() > deadline:
            return results, delivered, behind
        await asyncio.sleep(1.0)  # a poll interval


async def money_check(instances: list[Instance], results: ResultsCheck) -> list[str]:
    """Each race's book on each instance against the accepted stakes; waits for read models."""
    stakes = accepted_stakes(results.first)
    deadline = time.monotonic() + SETTLE_S
    while True:
        mismatches = []
        for instance in instances:
            for race_id in RACES:
                try:
                    book = await asyncio.to_thread(instance.admin_get, f"/admin/races/{race_id}")
                except OSError as error:
                    mismatches.append(f"{instance.instance_id} {race_id}: {error}")
                    continue
                mismatches += money_mismatches(instance.instance_id, race_id, book, stakes[race_id])
        if not mismatches or time.monotonic() > deadline:
            return mismatches
        await asyncio.sleep(1.0)  # a poll interval


def write_summary(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(text)


def unheard_story(
    bet_ids: list[str], ledger: Ledger, bettors: list[ChaosBettor], started_at: float
) -> list[str]:
    """For a few unheard bets: when each was ACKed, and its bettor's user channel around it."""
    by_user = {b.user_id: b for b in bettors}
    lines = []
    for bet_id in bet_ids[:3]:
        bet = ledger.acked[bet_id]
        bettor = by_user[bet.user_id]
        at = bet.acked_at - started_at
        changes = [
            f"{t - started_at:.1f}s {previous}->{current}"
            + (" resumed" if resumed else "")
            + (f" ({code})" if code else "")
            for t, previous, current, resumed, code in bettor.channel_changes
            if abs(t - bet.acked_at) < 30
        ]
        lines.append(f"  {bet_id} of {bet.user_id} ACKed at {at:.1f}s; channel: {changes}")
    return lines


async def lost_story(bootstrap: str, topics: TopicSettings, lost: list[str]) -> list[str]:
    """For a few lost bets: whether `bets` has them, where, and when."""
    if not lost:
        return []
    wanted = set(lost[:3])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    found: dict[str, list[str]] = {bet_id: [] for bet_id in wanted}
    try:
        partitions = [TopicPartition(topics.bets, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        for partition in partitions:
            while await consumer.position(partition) < ends[partition]:
                batch = await consumer.getmany(partition, timeout_ms=1_000)
                for record in batch.get(partition, []):
                    bet_id = str(orjson.loads(record.value).get("bet_id"))
                    if bet_id in wanted:
                        found[bet_id].append(
                            f"{partition.partition}:{record.offset}@{record.timestamp}"
                        )
    finally:
        await consumer.stop()
    return [f"  lost {bet_id}: in bets at {where or 'nowhere'}" for bet_id, where in found.items()]


def channel_counts(bettors: list[ChaosBettor]) -> str:
    kinds: Counter[str] = Counter()
    for bettor in bettors:
        for _, previous, current, resumed, _ in bettor.channel_changes:
            kinds[f"{previous}->{current}{' resumed' if resumed else ''}"] += 1
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))


def sample(ids: list[str]) -> str:
    return f"{len(ids)}" + (f" (e.g. {', '.join(ids[:3])})" if ids else "")


async def test_no_acked_bet_lost_and_no_outcome_unheard_through_kills(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    seconds = env_int("CHAOS_SECONDS", 75)
    kills = max(5, env_int("CHAOS_KILLS", 5))
    pauses = env_int("CHAOS_PAUSES", 1)
    bettor_count = env_int("CHAOS_BETTORS", 8)
    seed = env_int("CHAOS_SEED", random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"\nchaos: seed={seed} seconds={seconds} kills={kills} bettors={bettor_count}")

    env = pipeline_env(kafka_broker.bootstrap, unique_name)
    env.update(
        {
            "BETTING_TOPICS__USERS": f"{unique_name}.users",
            "BETTING_EDGE__BET_SHARDS": str(SHARDS),
        }
    )
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    instances = {name: Instance(name, env) for name in ("a", "b")}
    ledger = Ledger()
    bettors = [
        ChaosBettor(
            f"bettor-{n}",
            list(instances.values())[n % 2].endpoints(),
            SHARDS,
            RACES,
            ledger,
            random.Random(rng.getrandbits(64)),
        )
        for n in range(bettor_count)
    ]
    plan = fault_plan(rng, seconds, kills, sorted(instances), pauses)
    faults = FaultLog()
    try:
        for instance in instances.values():
            instance.start()
        for instance in instances.values():
            await until_ready(instance.http_port, 200, READY_TIMEOUT_S)
        for bettor in bettors:
            await bettor.connect()
        try:
            await event_log.producer().send(race_commands(settings, RACES))
        finally:
            await event_log.stop()  # before the broker is killed: the test reads on its own

        loop = asyncio.get_running_loop()
        started_at = loop.time()
        started_mono = time.monotonic()
        stop_at = time.monotonic() + seconds
        give_up_at = stop_at + GIVE_UP_S
        await asyncio.gather(
            inject(plan, instances, kafka_broker, started_at, faults),
            *(b.bet_until(stop_at, 1 / BET_RATE_PER_BETTOR, give_up_at) for b in bettors),
        )
        for bettor in bettors:
            await bettor.drain()

        failures: list[str] = []
        for instance in instances.values():
            faults.check_alive(instance)
            try:
                await until_ready(instance.http_port, 200, READY_TIMEOUT_S)
            except TimeoutError as error:
                failures.append(f"instance {instance.instance_id} not ready: {error}")
        results, delivered, behind = await settle(
            kafka_broker.bootstrap, settings.topics, ledger, bettors
        )
        mismatches = await money_check(list(instances.values()), results)
        lost_lines = await lost_story(kafka_broker.bootstrap, settings.topics, results.lost)
        odds_violations = [v for b in bettors for v in b.watch.violations]
        unheard_logged = sum(1 for bet_id in delivered.unheard if bet_id in results.first)
        heard_total = sum(len(b.heard.outcomes) for b in bettors)

        if results.lost:
            failures.append(f"ACKed bets with no outcome in bet-results: {sample(results.lost)}")
        if results.duplicated:
            failures.append(f"bets with differing outcomes: {sample(results.duplicated)}")
        if delivered.unheard:
            failures.append(f"ACKed bets whose bettor never heard the outcome: "
                            f"{sample(delivered.unheard)}")  # fmt: skip
        if delivered.differing:
            failures.append(f"outcomes heard unlike the logged one: {sample(delivered.differing)}")
        if mismatches:
            failures.append(f"money per runner differs from accepted stakes: {len(mismatches)}: "
                            + "; ".join(mismatches[:4]))  # fmt: skip
        if odds_violations:
            failures.append(f"odds versions not strictly increasing: {len(odds_violations)}: "
                            + "; ".join(odds_violations[:4]))  # fmt: skip
        if behind:
            failures.append(f"watchers without a race's newest odds: {len(behind)}: "
                            + "; ".join(behind[:4]))  # fmt: skip
        failures += [f"serve exited by itself: {crash}" for crash in faults.crashes]
        if ledger.attempts and not ledger.acked:
            failures.append("no bet was ever ACKed")

        write_summary(
            [
                f"chaos: seed={seed} seconds={seconds} bettors={bettor_count} "
                f"kills={faults.kills} pauses={faults.pauses} broker_kills={faults.broker_kills}",
                *(f"  {line}" for line in faults.lines),
                f"bets sent={len(ledger.sent)} acked={len(ledger.acked)} "
                f"unacked={len(ledger.sent) - len(ledger.acked)} attempts={ledger.attempts} "
                f"failed_attempts={dict(ledger.failures)}",
                f"bet-results records={results.outcomes} bets decided={results.decided} "
                f"lost={len(results.lost)} duplicated={len(results.duplicated)}",
                *lost_lines,
                f"outcomes heard={delivered.heard} of {len(ledger.acked)} acked "
                f"(unheard={len(delivered.unheard)}, differing={len(delivered.differing)}, "
                f"bets heard in all={heard_total})",
                f"  of the unheard, in bet-results={unheard_logged}; bettor connections: "
                f"{', '.join(f'{b.user_id} {b.state} x{b.connections}' for b in bettors)}; "
                f"revived after FAILED={sum(b.revived for b in bettors)}",
                f"  user channel changes: {channel_counts(bettors)}; "
                f"outcomes recovered from history: {sum(b.gaps_filled for b in bettors)}",
                *unheard_story(delivered.unheard, ledger, bettors, started_mono),
                f"money mismatches={len(mismatches)} over {len(RACES)} races x 2 instances",
                f"odds messages={sum(b.watch.messages for b in bettors)} "
                f"redelivered={sum(b.watch.redelivered for b in bettors)} "
                f"violations={len(odds_violations)} behind={len(behind)}",
                "result: " + ("PASS" if not failures else "FAIL"),
                *(f"  - {failure}" for failure in failures),
            ]
        )
        assert faults.kills >= 5 and faults.broker_kills == 1 and faults.pauses == pauses
        assert not failures, "\n".join(failures)
    finally:
        for bettor in bettors:
            await bettor.close()
        for instance in instances.values():
            instance.stop()
