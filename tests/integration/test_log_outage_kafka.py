"""Readers that start while the broker is away: they retry, and work once it is back."""

from __future__ import annotations

import time

import pytest

from betting.config import KafkaSettings
from betting.devtools.kafka_broker import KafkaBroker
from betting.log.kafka import KafkaLog
from betting.log.port import LogUnavailable, Outgoing, TopicSpec

pytestmark = pytest.mark.kafka


async def test_a_reader_and_a_group_consumer_start_again_after_the_broker_was_away(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    """aiokafka cannot restart a consumer whose start failed: every later fetch raised
    ConsumerStoppedError, which once stopped serve. A failed start now leaves a new one."""
    event_log = KafkaLog(KafkaSettings(bootstrap=kafka_broker.bootstrap))
    await event_log.start()
    topic = f"{unique_name}.odds"
    await event_log.ensure_topics([TopicSpec(topic, 2)])
    await event_log.producer().send([Outgoing(topic, b"k", b"before", 0)])
    reader = event_log.reader([topic])
    group = event_log.group_consumer(f"{unique_name}.group", [topic])
    kafka_broker.kill()
    try:
        for part in (reader, group):
            with pytest.raises(LogUnavailable):
                await part.start()
    finally:
        kafka_broker.restart()
    for part in (reader, group):
        deadline = time.monotonic() + 60
        while True:
            try:
                await part.start()
                break
            except LogUnavailable:
                assert time.monotonic() < deadline, "never started after the broker came back"
    try:
        for part in (reader, group):
            values: list[bytes] = []
            deadline = time.monotonic() + 60
            while b"before" not in values:
                assert time.monotonic() < deadline, f"{type(part).__name__} read nothing"
                values.extend(r.value for r in await part.poll(10, 200) if r.value)
    finally:
        await reader.stop()
        await group.stop()
        await event_log.stop()
