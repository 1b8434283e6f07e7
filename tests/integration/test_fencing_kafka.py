"""Zombie fencing on the real broker: a partition's newer owner fences its earlier one.

The case: instance A owns a partition, stalls past its session timeout, and the group gives
the partition to B, which restores its books and decides its bets. A wakes up with a batch
in hand, not yet aware. Were A's commit to go through, each of those bets would have two
outcomes and each odds version two records. B's claim of the partition (its transactional
producer `<prefix>-p<N>`, started before the restore) fences A: A's commit of that
partition fails, writes nothing, and A stops treating the partition as its own.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaProducer

from betting.config import KafkaSettings
from betting.log.kafka import KafkaLog
from betting.log.port import LogUnavailable, Outgoing, TopicPartition, TopicSpec

pytestmark = pytest.mark.kafka


class Assignments:
    def __init__(self) -> None:
        self.assigned: set[TopicPartition] = set()

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        self.assigned |= partitions

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        self.assigned -= partitions


async def test_a_zombie_owner_cannot_commit_a_partition_its_newer_owner_claimed(
    kafka_bootstrap: str, unique_name: str
) -> None:
    settings = KafkaSettings(bootstrap=kafka_bootstrap, transactional_id_prefix=unique_name)
    event_log = KafkaLog(settings)
    await event_log.start()
    inputs, outputs = f"{unique_name}.in", f"{unique_name}.out"
    await event_log.ensure_topics([TopicSpec(inputs, 2), TopicSpec(outputs, 2)])
    listener = Assignments()
    zombie = event_log.processor(f"{unique_name}.group", [inputs], listener, "a")
    newer_owner = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        transactional_id=f"{unique_name}-p0",
        enable_idempotence=True,
    )
    try:
        await zombie.start()

        deadline = time.monotonic() + 30
        while listener.assigned != {(inputs, 0), (inputs, 1)}:
            assert time.monotonic() < deadline, "the partitions were never assigned"
            await zombie.poll(10, 100)
        await zombie.claim(listener.assigned)  # as the engine does, before it restores
        assert zombie.assignment() == {(inputs, 0), (inputs, 1)}
        await zombie.commit([Outgoing(outputs, b"k", b"before", 0)], {})

        await newer_owner.start()  # what the instance assigned partition 0 next does first

        with pytest.raises(LogUnavailable, match=r"\[0\] were taken by a newer owner"):
            await zombie.commit(
                [Outgoing(outputs, b"k", b"zombie", 0), Outgoing(outputs, b"k", b"fine", 1)], {}
            )
        assert zombie.assignment() == {(inputs, 1)}
        with pytest.raises(LogUnavailable, match="no longer owned"):
            await zombie.commit([Outgoing(outputs, b"k", b"again", 0)], {})
        await zombie.commit([Outgoing(outputs, b"k", b"still mine", 1)], {})

        by_partition = {
            number: [r.value for r in await event_log.read_to_end(outputs, number)]
            for number in (0, 1)
        }
        assert by_partition == {0: [b"before"], 1: [b"fine", b"still mine"]}
    finally:
        await newer_owner.stop()
        await zombie.stop()
        await event_log.stop()
