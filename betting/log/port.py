"""The event-log port: what the tasks need from a log, whether Kafka or memory.

Records are keyed by race id. The engine reads and writes through a `Processor`, whose
`commit` writes outputs and the consumed positions as one atomic step (a Kafka transaction);
everything else produces with a `Producer` (acknowledged writes) and reads with a
`GroupConsumer` (at-least-once, positions committed after the work is done).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes | None  # None is a tombstone, for compacted topics
    partition: int | None = None  # None: chosen from the key


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


class LogUnavailable(Exception):
    """The log cannot be reached now; the caller retries with backoff."""


class PartitionListener(Protocol):
    async def on_assigned(self, partitions: set[TopicPartition]) -> None: ...

    async def on_revoked(self, partitions: set[TopicPartition]) -> None: ...


class Producer(Protocol):
    async def send(self, records: Sequence[Outgoing]) -> None:
        """Returns once every record is durably written, in order per partition."""
        ...


class Processor(Protocol):
    """A consumer-group member that consumes, and commits outputs with its positions."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    async def commit(
        self, outputs: Sequence[Outgoing], positions: Mapping[TopicPartition, int]
    ) -> None:
        """Write outputs and consumed positions (next offsets) atomically: all or nothing."""
        ...

    async def rewind(self) -> None:
        """Go back to the last committed positions of the assigned partitions."""
        ...

    async def claim(self, partitions: set[TopicPartition]) -> None:
        """Take newly assigned partitions as this member's own, before their state is
        restored: on Kafka this fences every earlier owner (see `KafkaProcessor`)."""
        ...

    async def release(self, partitions: set[TopicPartition]) -> None:
        """Let revoked partitions go, once their last batch is committed."""
        ...

    async def seek(self, positions: Mapping[TopicPartition, int]) -> None:
        """Continue the given partitions from these offsets."""
        ...

    def assignment(self) -> set[TopicPartition]: ...

    async def caught_up(self, partition: TopicPartition) -> bool:
        """Whether everything committed to the partition so far has been fetched."""
        ...

    def pause(self, partitions: set[TopicPartition]) -> None: ...

    def resume(self, partitions: set[TopicPartition]) -> None: ...

    async def lag(self) -> int:
        """Records in the assigned partitions not consumed yet, as of the last fetch."""
        ...


class GroupConsumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    async def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Commit next offsets; partitions no longer assigned are skipped (their new owner
        reads on from their last commit)."""
        ...

    async def seek(self, positions: Mapping[TopicPartition, int]) -> None:
        """Continue the given partitions from these offsets (from a listener's `on_assigned`:
        a reader that keeps its positions elsewhere than in the group)."""
        ...


class Reader(Protocol):
    """Every partition of its topics, assigned by hand (no group, nothing committed): a
    reader each instance runs for itself, such as the read model or a local edge's feed."""

    async def start(self) -> None:
        """Assign every partition and take their ends: what `caught_up` is judged against."""
        ...

    async def stop(self) -> None: ...

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    async def caught_up(self) -> bool:
        """Whether everything the log held when `start` returned has been read."""
        ...


class EventLog(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def check(self) -> None:
        """Raise `LogUnavailable` if the log cannot be reached now."""
        ...

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None: ...

    def producer(self) -> Producer: ...

    def processor(
        self, group_id: str, topics: Sequence[str], listener: PartitionListener, instance_id: str
    ) -> Processor: ...

    def group_consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        since_ms: int | None = None,
        max_delay_ms: int | None = None,
        listener: PartitionListener | None = None,
    ) -> GroupConsumer:
        """A reader in a group. A partition the group never committed is read from its first
        record stamped at or after `since_ms` (None: from its beginning). `max_delay_ms` lets
        a reader that is in no hurry (notices) take records in fewer, larger fetches; None is
        as soon as the log can. A `listener` hears of every assignment before the partitions
        are read, and may `seek` them (then `since_ms` is not used)."""
        ...

    def reader(
        self, topics: Sequence[str], since_ms: int | None = None, max_delay_ms: int | None = None
    ) -> Reader:
        """Every partition of `topics`, from the first record stamped at or after `since_ms`
        (None: from the beginning)."""
        ...

    async def read_to_end(self, topic: str, partition: int) -> list[Record]:
        """Every committed record of a partition, from the start to its end now."""
        ...
