"""aiokafka 0.14 against the real Apache Kafka broker: keys, idempotence, transactions
(exactly-once consume-transform-produce) and durability across a broker restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from betting.devtools.kafka_broker import KafkaBroker

pytestmark = pytest.mark.kafka

# Small group timeouts: joins and rebalances take well under a second on the test broker.
SESSION_TIMEOUT_MS = 2_000
HEARTBEAT_INTERVAL_MS = 300
CONSUME_TIMEOUT_S = 15.0


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
    finally:
        await admin.close()


@asynccontextmanager
async def started(client: Any) -> AsyncIterator[Any]:
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


def new_consumer(bootstrap: str, *topics: str, **settings: Any) -> AIOKafkaConsumer:
    defaults: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
    }
    return AIOKafkaConsumer(*topics, **(defaults | settings))


async def consume(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord[Any, Any]]:
    """Read until `count` records arrived, then once more to catch any that should not exist."""
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        records.extend(record for batch in batches.values() for record in batch)
    extra = await consumer.getmany(timeout_ms=300)
    records.extend(record for batch in extra.values() for record in batch)
    return records


async def send_all(producer: AIOKafkaProducer, topic: str, values: Iterable[bytes]) -> None:
    # Batched: every send is queued before any is awaited, as the pipeline does.
    deliveries = [await producer.send(topic, value) for value in values]
    await asyncio.gather(*deliveries)


async def committed_offset(
    consumer: AIOKafkaConsumer, partition: TopicPartition, expected: int
) -> int | None:
    """The group's committed offset, polled until it is `expected` or the time is up.

    A committed offset can read as absent for a moment: commit_transaction returns once the
    coordinator has decided and the marker reaches the offsets topic just after; a restarted
    coordinator answers before it has loaded the offsets topic.
    """
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    offset: int | None = await consumer.committed(partition)
    while offset != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        offset = await consumer.committed(partition)
    return offset


def values(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{index}".encode() for index in range(count)]


async def test_keys_choose_partitions_and_keep_order(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await create_topic(kafka_bootstrap, unique_name, partitions=3)
    keys = [b"race-1", b"race-2", b"race-3", b"race-4"]
    async with started(AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)) as producer:
        for index in range(40):
            key = keys[index % len(keys)]
            await producer.send(unique_name, f"{index}".encode(), key=key)
        await producer.flush()
    consumer = new_consumer(kafka_bootstrap, unique_name, group_id=unique_name)
    async with started(consumer):
        records = await consume(consumer, 40)

    assert len(records) == 40
    partitions_by_key: dict[bytes, set[int]] = {}
    for record in records:
        partitions_by_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    for key in keys:
        indexes = [int(record.value) for record in records if record.key == key]
        assert indexes == sorted(indexes)  # one key, one partition, one order


async def test_idempotent_producer_writes_each_record_once(
    kafka_bootstrap: str, unique_name: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, linger_ms=5
    )
    async with started(producer):
        await send_all(producer, unique_name, values("bet", 1_000))
    async with started(new_consumer(kafka_bootstrap, unique_name)) as consumer:
        records = await consume(consumer, 1_000)

    assert [record.value for record in records] == values("bet", 1_000)
    assert [record.offset for record in records] == list(range(1_000))


async def transform_in_transaction(
    producer: AIOKafkaProducer,
    source: AIOKafkaConsumer,
    output_topic: str,
    group_id: str,
    finish: Callable[[], Any],
) -> None:
    """One consume-transform-produce step: outputs and consumed offsets in one transaction."""
    records = await consume(source, 10)
    await producer.begin_transaction()
    await send_all(producer, output_topic, [b"out-" + record.value for record in records])
    last = records[-1]
    offsets = {TopicPartition(last.topic, last.partition): last.offset + 1}
    await producer.send_offsets_to_transaction(offsets, group_id)
    await finish()


async def test_transaction_commits_outputs_and_offsets_together(
    kafka_bootstrap: str, unique_name: str
) -> None:
    input_topic, output_topic = f"{unique_name}-in", f"{unique_name}-out"
    async with started(AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)) as plain:
        await send_all(plain, input_topic, values("bet", 10))
    source = new_consumer(kafka_bootstrap, group_id=unique_name, isolation_level="read_committed")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_name)
    input_partition = TopicPartition(input_topic, 0)
    async with started(source), started(producer):
        source.assign([input_partition])
        await transform_in_transaction(
            producer, source, output_topic, unique_name, producer.abort_transaction
        )
        assert await source.committed(input_partition) is None  # aborted: no offset either
        source.seek(input_partition, 0)  # as a restarted worker would: from the committed offset
        await transform_in_transaction(
            producer, source, output_topic, unique_name, producer.commit_transaction
        )
        assert await committed_offset(source, input_partition, expected=10) == 10

    committed_reader = new_consumer(kafka_bootstrap, output_topic, isolation_level="read_committed")
    async with started(committed_reader):
        committed = await consume(committed_reader, 10)
    async with started(new_consumer(kafka_bootstrap, output_topic)) as uncommitted_reader:
        everything = await consume(uncommitted_reader, 20)

    expected = [b"out-" + value for value in values("bet", 10)]
    assert [record.value for record in committed] == expected
    # The aborted records are in the log (an uncommitted reader sees both copies) ...
    assert [record.value for record in everything] == expected + expected
    # ... but read_committed skipped them: the committed copy sits at the later offsets.
    assert min(record.offset for record in committed) > max(
        record.offset for record in everything[:10]
    )


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "killed"])
async def test_restart_keeps_acknowledged_records_and_group_offsets(
    kafka_broker: KafkaBroker, kafka_bootstrap: str, unique_name: str, crash: bool
) -> None:
    async with started(AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")) as sent:
        await send_all(sent, unique_name, values("odds", 100))
    partition = TopicPartition(unique_name, 0)
    async with started(new_consumer(kafka_bootstrap, group_id=unique_name)) as consumer:
        consumer.assign([partition])
        await consumer.commit({partition: 50})

    if crash:
        kafka_broker.kill()
    assert kafka_broker.restart() == kafka_bootstrap  # same port: clients reconnect as they were

    async with started(new_consumer(kafka_bootstrap, group_id=unique_name)) as consumer:
        consumer.assign([partition])
        # Polled: while the restarted coordinator loads the offsets topic, aiokafka 0.14 reads
        # "no committed offset" (it ignores OffsetFetch's top-level COORDINATOR_LOAD_IN_PROGRESS).
        assert await committed_offset(consumer, partition, expected=50) == 50
        consumer.seek(partition, 0)
        records = await consume(consumer, 100)
    assert [record.value for record in records] == values("odds", 100)
