"""Shared helpers for pipeline tests against the real Kafka broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from betting import codec, config
from betting.config import Settings
from betting.domain.events import CreateRace, OpenRace
from betting.domain.model import Bet, Runner
from betting.domain.money import Odds
from betting.domain.risk import RiskParams
from betting.log import topic_specs
from betting.log.kafka import KafkaLog
from betting.log.port import Outgoing, Record

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 3


def pipeline_env(bootstrap: str, name: str) -> dict[str, str]:
    topics = ["bets", "races", "odds", "bet_results", "book_changelog", "dead_letters",
              "settlements", "command_results"]  # fmt: skip
    env = {f"BETTING_TOPICS__{t.upper()}": f"{name}.{t}" for t in topics}
    env.update(
        {
            "KAFKA_BOOTSTRAP": bootstrap,
            "BETTING_KAFKA__BOOTSTRAP": bootstrap,
            "BETTING_KAFKA__GROUP_ID": f"{name}.engine",
            "BETTING_KAFKA__TRANSACTIONAL_ID_PREFIX": name,
            "BETTING_KAFKA__PARTITIONS": str(PARTITIONS),
            "BETTING_EVENT_LOG__KIND": "kafka",
            "BETTING_ENGINE__BATCH_MAX": "50",
        }
    )
    return env


def pipeline_settings(env: dict[str, str]) -> Settings:
    return config.load(environ=env)


async def open_log(settings: Settings) -> KafkaLog:
    event_log = KafkaLog(settings.kafka)
    await event_log.start()
    await event_log.ensure_topics(topic_specs(settings))
    return event_log


def race_commands(settings: Settings, race_ids: list[str]) -> list[Outgoing]:
    risk = RiskParams(late_window_ms=3_600_000, stake_max_minor=10**9)
    out = []
    now_ms = int(time.time() * 1000)
    for race_id in race_ids:
        race = CreateRace(
            race_id,
            f"Race {race_id}",
            tuple(Runner(f"car-{i}", f"Car {i}", 100 + 10 * i) for i in range(7)),
            now_ms,
            now_ms,
            risk=risk,
        )
        for command in (race, OpenRace(race_id, now_ms)):
            out.append(
                Outgoing(settings.topics.races, race_id.encode(), codec.encode_command(command))
            )
    return out


def bets(settings: Settings, race_ids: list[str], count: int, prefix: str) -> list[Outgoing]:
    out = []
    for n in range(count):
        race_id = race_ids[n % len(race_ids)]
        bet = Bet(
            f"{prefix}-{n}", f"user-{n % 17}", race_id, f"car-{n % 7}", 100 + n % 900,
            Odds.parse("1.01"), 1, int(time.time() * 1000),
        )  # fmt: skip
        out.append(Outgoing(settings.topics.bets, race_id.encode(), codec.encode_bet(bet)))
    return out


async def read_topic(event_log: KafkaLog, topic: str) -> list[Record]:
    records: list[Record] = []
    for partition in range(PARTITIONS):
        records.extend(await event_log.read_to_end(topic, partition))
    return records


async def wait_for(
    event_log: KafkaLog, topic: str, done: Callable[[list[Record]], bool], timeout_s: float = 60
) -> list[Record]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = await read_topic(event_log, topic)
        if done(records):
            return records
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: condition not met; {len(records)} records")
        await asyncio.sleep(0.3)


def values(records: list[Record]) -> list[dict[str, Any]]:  # JSON, as the records hold it
    return [orjson.loads(record.value) for record in records]


def start_engine_process(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.engine_process", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a pipe nobody reads would fill and block it
    )
