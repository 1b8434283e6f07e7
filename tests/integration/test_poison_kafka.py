"""Poison on every consumed topic of `serve` on the real broker: it stays up, and keeps
answering, across a restart that reads the poison again.

One record of each malformed class (`tests.unit.poison`) goes to `bets`, `races`, `odds`,
`bet-results`, `book-changelog`, `settlements`, `users` and `command-results`, both before
serve starts (read on restore and by the read model) and while it runs (read by the engine,
the read model and the forwarders). A bettor on the official ably SDK still bets and hears
each outcome, including INVALID for a bet with Unicode digits in its odds; the engine's bad
records are dead letters, with an INVALID outcome wherever the bet's id and user could be
read; and a restarted serve, with all of it still in the topics, answers the next bet too.
"""

from __future__ import annotations

import asyncio
import base64
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ably.types.message import Message

from betting import codec
from betting.channels import bets_channel, bets_shard, user_channel
from betting.client import BettorEndpoints, bettor_realtime
from betting.config import Settings
from betting.domain.model import RejectReason
from betting.log.kafka import KafkaLog
from betting.log.port import Outgoing
from tests.integration.kafka_pipeline import (
    PARTITIONS,
    open_log,
    pipeline_env,
    pipeline_settings,
    race_commands,
    read_topic,
    values,
    wait_for,
)
from tests.support.serve_process import (
    ServeProcess,
    free_port,
    serve_log,
    start_serve,
    until_ready,
)
from tests.unit import poison

pytestmark = pytest.mark.kafka
RACE = "race-a"
TIMEOUT_S = 60
SHARDS = Settings().edge.bet_shards


def poison_records(settings: Settings, tag: str) -> tuple[list[Outgoing], Counter[str]]:
    """Every class on every consumed topic, and how many went to each of the engine's."""
    t = settings.topics
    by_topic = {
        t.bets: poison.bets(RACE, tag),
        t.races: poison.commands(RACE),
        t.odds: poison.odds(RACE),
        t.bet_results: poison.outcomes(RACE),
        t.settlements: poison.settlements(RACE),
        t.users: poison.users(),
        t.command_results: poison.command_results(RACE),
    }
    sent = [
        Outgoing(topic, key, value)
        for topic, catalogue in by_topic.items()
        for _, key, value, _ in catalogue
    ]
    sent += [
        Outgoing(t.book_changelog, key, value, partition)
        for _, key, value, _ in poison.changelog(RACE)
        for partition in range(PARTITIONS)
    ]
    return sent, Counter({t.bets: len(by_topic[t.bets]), t.races: len(by_topic[t.races])})


def readable(tag: str) -> set[tuple[str, str]]:
    return {who for *_, who in poison.bets(RACE, tag) if who is not None}


class Served:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: ServeProcess | None = None
        self.endpoints: BettorEndpoints | None = None

    async def start(self) -> BettorEndpoints:
        http_port, edge_port = free_port(), free_port()
        self.process = start_serve(
            {
                **self.env,
                "BETTING_SERVER__PORT": str(http_port),
                "BETTING_EDGE__PORT": str(edge_port),
            }
        )
        await until_ready(http_port, 200, TIMEOUT_S)
        self.endpoints = BettorEndpoints(
            f"http://127.0.0.1:{http_port}", "127.0.0.1", edge_port, tls=False
        )
        return self.endpoints

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)

    def metrics(self) -> str:
        assert self.endpoints is not None
        with urllib.request.urlopen(f"{self.endpoints.api_url}/metrics", timeout=5) as response:
            return str(response.read().decode())


@pytest.fixture
async def setup(
    kafka_bootstrap: str, unique_name: str
) -> AsyncIterator[tuple[Served, KafkaLog, Settings]]:
    env = pipeline_env(kafka_bootstrap, unique_name)
    env["BETTING_TOPICS__SETTLEMENTS"] = f"{unique_name}.settlements"
    env["BETTING_TOPICS__USERS"] = f"{unique_name}.users"
    settings = pipeline_settings(env)
    event_log = await open_log(settings)
    served = Served(env)
    try:
        yield served, event_log, settings
    finally:
        served.stop()
        await event_log.stop()


async def bet_and_hear(endpoints: BettorEndpoints, user: str, **fields: Any) -> dict[str, Any]:
    """A bet through the SDK, and the outcome the bettor hears for it."""
    realtime = bettor_realtime(endpoints, user)
    try:
        heard: asyncio.Queue[Message] = asyncio.Queue()
        await realtime.channels.get(user_channel(user)).subscribe(heard.put_nowait)
        placed = {
            "bet_id": uuid.uuid4().hex, "race_id": RACE, "runner_id": "car-1",
            "stake_minor": 1_000, "odds": "1.01", "odds_version": 1, **fields,
        }  # fmt: skip
        await realtime.channels.get(bets_channel(bets_shard(user, SHARDS))).publish("bet", placed)
        while True:
            message = await asyncio.wait_for(heard.get(), TIMEOUT_S)
            if message.name == "outcome" and message.data["bet_id"] == placed["bet_id"]:
                return dict(message.data)
    finally:
        await realtime.close()


async def test_poison_on_every_topic_neither_stops_nor_stalls_serve_across_a_restart(
    setup: tuple[Served, KafkaLog, Settings],
) -> None:
    served, event_log, settings = setup
    producer = event_log.producer()
    topics = settings.topics
    await producer.send(race_commands(settings, [RACE]))
    before, engine_counts = poison_records(settings, "before")
    await producer.send(before)  # read on restore, by the read model, and by the engine

    endpoints = await served.start()
    during, _ = poison_records(settings, "during")
    await producer.send(during)  # read live by everyone, forwarders included
    assert (await bet_and_hear(endpoints, "alice"))["status"] == "accepted"
    unicode_odds = await bet_and_hear(endpoints, "alice", odds="²")
    assert unicode_odds["reason"] == "INVALID" and "bet.odds" in unicode_odds["detail"]

    letters = values(
        await wait_for(
            event_log, topics.dead_letters, lambda r: len(r) >= 2 * sum(engine_counts.values()) + 1
        )
    )
    assert Counter(str(letter["topic"]) for letter in letters) == Counter(
        {topic: 2 * count + (topic == topics.bets) for topic, count in engine_counts.items()}
    )
    assert all(
        letter["error"] and base64.b64decode(str(letter["value"])) is not None for letter in letters
    )
    outcomes = [
        codec.decode_outcome(record.value)  # the engine's: our own poison is in there too
        for record in await read_topic(event_log, topics.bet_results)
        if record.value.startswith(b'{"v":1,"bet_id"')
    ]
    invalid = {(o.bet_id, o.user_id) for o in outcomes if o.reason is RejectReason.INVALID}
    assert readable("before") | readable("during") <= invalid
    skipped = [
        line
        for line in served.metrics().splitlines()
        if line.startswith("betting_records_skipped_total{")
    ]
    readers = {line.split('reader="')[1].split('"')[0] for line in skipped}
    assert {"views", "odds-out", "outcomes-out", "notifier", "engine restore"} <= readers

    served.stop()
    assert served.process is not None and served.process.returncode == 0
    first_log = serve_log(served.process)
    endpoints = await served.start()  # every poison record is still in its topic
    assert (await bet_and_hear(endpoints, "bob"))["status"] == "accepted"
    again = values(await read_topic(event_log, topics.dead_letters))
    assert len(again) == len(letters)  # read past once: not dead-lettered again
    assert served.process.poll() is None
    for log_text in (first_log, serve_log(served.process)):
        ours = [line for line in log_text.splitlines() if b'"logger":"betting' in line]
        bad = [line for line in ours if b"Traceback" in line or b'"level":"error"' in line]
        assert not bad, bad
        assert b"Traceback" not in log_text
        # A line per reader and topic at most: ten, and the history sink's two topics.
        assert log_text.count(b"records skipped") <= 12
    served.stop()
    assert served.process.returncode == 0
