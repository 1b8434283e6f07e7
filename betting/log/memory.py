"""The in-memory event log: the embedded default of `serve`, and pure unit tests.

One process, so a consumer group has one member, which owns every partition. A processor's
commit appends its outputs and stores its positions in one step: nothing can interleave.
Partitions are chosen from the key with a stable hash, so keyed order holds as on Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Mapping, Sequence

from betting.log.port import (
    GroupConsumer,
    Outgoing,
    PartitionListener,
    Processor,
    Producer,
    Reader,
    Record,
    TopicPartition,
    TopicSpec,
)


class MemoryLog:
    def __init__(self, default_partitions: int = 6) -> None:
        self.default_partitions = default_partitions
        self.topics: dict[str, list[list[Record]]] = {}
        self.committed: dict[tuple[str, TopicPartition], int] = {}
        # Set and replaced on every append: waiters hold the event of their moment, so no lock
        # is needed (a cancelled Condition.wait can fail to re-take its lock).
        self._changed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        for spec in topics:
            self.topics.setdefault(spec.name, [[] for _ in range(spec.partitions)])

    def partitions(self, topic: str) -> list[list[Record]]:
        if topic not in self.topics:
            self.topics[topic] = [[] for _ in range(self.default_partitions)]
        return self.topics[topic]

    async def append(self, records: Sequence[Outgoing]) -> None:
        now_ms = int(time.time() * 1000)
        for outgoing in records:
            partitions = self.partitions(outgoing.topic)
            number = outgoing.partition
            if number is None:
                number = zlib.crc32(outgoing.key) % len(partitions)
            log = partitions[number]
            log.append(
                Record(
                    outgoing.topic,
                    number,
                    len(log),
                    outgoing.key,
                    outgoing.value or b"",
                    now_ms,
                )
            )
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, timeout_ms: int) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_ms / 1000)

    def producer(self) -> Producer:
        return _MemoryProducer(self)

    def processor(
        self, group_id: str, topics: Sequence[str], listener: PartitionListener, instance_id: str
    ) -> Processor:
        return _MemoryProcessor(self, group_id, topics, listener)

    def group_consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        since_ms: int | None = None,
        max_delay_ms: int | None = None,  # memory delivers at once
        listener: PartitionListener | None = None,
    ) -> GroupConsumer:
        return _MemoryGroupConsumer(self, group_id, topics, since_ms, listener)

    def reader(
        self, topics: Sequence[str], since_ms: int | None = None, max_delay_ms: int | None = None
    ) -> Reader:
        return _MemoryReader(self, topics, since_ms)

    async def read_to_end(self, topic: str, partition: int) -> list[Record]:
        return list(self.partitions(topic)[partition])


class _MemoryProducer:
    def __init__(self, log: MemoryLog) -> None:
        self._log = log

    async def send(self, records: Sequence[Outgoing]) -> None:
        await self._log.append(records)


class _MemoryGroupConsumer:
    def __init__(
        self,
        log: MemoryLog,
        group_id: str,
        topics: Sequence[str],
        since_ms: int | None,
        listener: PartitionListener | None = None,
    ) -> None:
        self._log = log
        self._listener = listener
        self._group_id = group_id
        self._topics = list(topics)
        self._since_ms = since_ms
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()

    async def start(self) -> None:
        for topic in self._topics:
            for number, records in enumerate(self._log.partitions(topic)):
                self._positions[(topic, number)] = self._log.committed.get(
                    (self._group_id, (topic, number)), _first_since(records, self._since_ms)
                )
        if self._listener is not None:  # one member: every partition is its own
            await self._listener.on_assigned(set(self._positions))

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        batch = self._take(max_records)
        if not batch and timeout_ms > 0:
            await self._log.wait_for_change(timeout_ms)
            batch = self._take(max_records)
        return batch

    def _take(self, max_records: int) -> list[Record]:
        batch: list[Record] = []
        for (topic, number), position in self._positions.items():
            if (topic, number) in self._paused:
                continue
            records = self._log.partitions(topic)[number][position : position + max_records]
            batch.extend(records)
            self._positions[(topic, number)] = position + len(records)
            max_records -= len(records)
            if max_records <= 0:
                break
        return batch

    async def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        for partition, offset in positions.items():
            self._log.committed[(self._group_id, partition)] = offset

    async def caught_up(self, partition: TopicPartition) -> bool:
        topic, number = partition
        return self._positions.get(partition, 0) >= len(self._log.partitions(topic)[number])

    def pause(self, partitions: set[TopicPartition]) -> None:
        self._paused |= partitions

    async def lag(self) -> int:
        return sum(
            len(self._log.partitions(topic)[number]) - position
            for (topic, number), position in self._positions.items()
        )

    def resume(self, partitions: set[TopicPartition]) -> None:
        self._paused -= partitions

    async def seek(self, positions: Mapping[TopicPartition, int]) -> None:
        for partition, offset in positions.items():
            if partition in self._positions:
                self._positions[partition] = offset

    async def rewind(self) -> None:
        for partition in self._positions:
            self._positions[partition] = self._log.committed.get((self._group_id, partition), 0)


def _first_since(records: list[Record], since_ms: int | None) -> int:
    if since_ms is None:
        return 0
    return next((r.offset for r in records if r.timestamp_ms >= since_ms), len(records))


class _MemoryReader(_MemoryGroupConsumer):
    """No group: nothing committed is read or written."""

    def __init__(self, log: MemoryLog, topics: Sequence[str], since_ms: int | None) -> None:
        super().__init__(log, "", topics, since_ms)
        self._ends: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        for topic in self._topics:
            for number, records in enumerate(self._log.partitions(topic)):
                self._positions[(topic, number)] = _first_since(records, self._since_ms)
                self._ends[(topic, number)] = len(records)

    async def caught_up(self) -> bool:  # type: ignore[override]
        return all(self._positions[where] >= end for where, end in self._ends.items())


class _MemoryProcessor(_MemoryGroupConsumer):
    def __init__(
        self,
        log: MemoryLog,
        group_id: str,
        topics: Sequence[str],
        listener: PartitionListener,
    ) -> None:
        super().__init__(log, group_id, topics, since_ms=None, listener=listener)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.on_revoked(set(self._positions))

    async def claim(self, partitions: set[TopicPartition]) -> None:
        """One process owns everything: there is no one to fence."""

    async def release(self, partitions: set[TopicPartition]) -> None:
        pass

    async def commit(  # type: ignore[override]
        self, outputs: Sequence[Outgoing], positions: Mapping[TopicPartition, int]
    ) -> None:
        await self._log.append(outputs)
        for partition, offset in positions.items():
            self._log.committed[(self._group_id, partition)] = offset
