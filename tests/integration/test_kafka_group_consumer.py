"""The Kafka adapter's group consumer against the real broker: commits across a rebalance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from betting.config import KafkaSettings
from betting.log.kafka import KafkaLog
from betting.log.port import GroupConsumer, Outgoing, TopicSpec
from betting.log.port import TopicPartition as PortTopicPartition

pytestmark = pytest.mark.kafka


@runtime_checkable
class Assigned(Protocol):
    """The Kafka adapter's group member also tells what the broker assigned it; the port does
    not, since no task needs it."""

    def assignment(self) -> set[PortTopicPartition]: ...


def assigned(consumer: GroupConsumer) -> set[PortTopicPartition]:
    assert isinstance(consumer, Assigned)
    return consumer.assignment()


async def _poll_until(
    consumers: list[GroupConsumer], done: Callable[[], bool], timeout_s: float
) -> None:
    """Keep every member polling (a rebalance needs them all) until `done()` holds."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the group did not settle in time"
        await asyncio.gather(*(consumer.poll(100, 100) for consumer in consumers))


async def test_commit_skips_partitions_a_rebalance_took_away(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """A forwarder commits what it forwarded about once a second; by then a rebalance may have
    moved some of those partitions to another instance. The commit keeps what is still ours
    and skips the rest, instead of failing for ever on aiokafka's IllegalStateError."""
    event_log = KafkaLog(KafkaSettings(bootstrap=kafka_bootstrap))
    await event_log.start()
    topic, group = f"{unique_name}.forwarded", f"{unique_name}.group"
    await event_log.ensure_topics([TopicSpec(topic, 2)])
    await event_log.producer().send([Outgoing(topic, b"k", b"v", n) for n in (0, 1)])
    first = event_log.group_consumer(group, [topic])
    second = event_log.group_consumer(group, [topic])
    await first.start()
    try:
        await _poll_until([first], lambda: len(assigned(first)) == 2, 30)
        await second.start()
        await _poll_until(
            [first, second],
            lambda: len(assigned(first)) == 1 and len(assigned(second)) == 1,
            30,
        )
        await first.commit({(topic, 0): 1, (topic, 1): 1})  # one of them is not first's now

        (kept,) = assigned(first)
        (moved,) = assigned(second)
        reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
        await reader.start()
        try:
            assert await reader.committed(TopicPartition(*kept)) == 1
            assert await reader.committed(TopicPartition(*moved)) is None
        finally:
            await reader.stop()
    finally:
        await first.stop()
        await second.stop()
        await event_log.stop()
