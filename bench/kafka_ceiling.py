"""The raw Kafka ceiling: how many messages per second aiokafka moves through the broker,
produced with batching and consumed at once, with no application code in between. The
pipeline's own figures are read against this number.

    python -m betting bench kafka_ceiling [--messages N] [--size BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from betting.devtools.kafka_broker import KafkaBroker

# Batching, as the note on this machine says: per-send awaits cap out near 4k msgs/s.
PRODUCER_LINGER_MS = 10
PRODUCER_BATCH_BYTES = 256 * 1024
CONSUMER_FETCH_BYTES = 8 * 1024 * 1024
CONSUMER_RECORDS_PER_POLL = 10_000
CEILING_TIMEOUT_S = 120.0


async def raw_kafka_ceiling(bootstrap: str, messages: int = 100_000, size: int = 100) -> float:
    """Messages per second from the first send to the last record consumed, on a fresh topic."""
    topic = f"bench-kafka-ceiling-{uuid.uuid4().hex[:12]}"
    partition = TopicPartition(topic, 0)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=PRODUCER_LINGER_MS,
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        fetch_max_bytes=CONSUMER_FETCH_BYTES,
        max_partition_fetch_bytes=CONSUMER_FETCH_BYTES,
    )
    await create_topic(bootstrap, topic)
    await producer.start()
    await consumer.start()
    try:
        # Outside the timed span: the first send waits for the new topic's leader.
        await producer.send_and_wait(topic, b"warm-up")
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)  # resolve the end now, so warm-up is never counted
        started = time.perf_counter()
        consumed, _ = await asyncio.wait_for(
            asyncio.gather(consume(consumer, messages), produce(producer, topic, messages, size)),
            timeout=CEILING_TIMEOUT_S,
        )
        elapsed_s = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return consumed / elapsed_s


async def create_topic(bootstrap: str, topic: str) -> None:
    # Created explicitly: an auto-created topic makes aiokafka log a warning on the first send.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def produce(producer: AIOKafkaProducer, topic: str, messages: int, size: int) -> None:
    payload = b"x" * size
    deliveries = [await producer.send(topic, payload) for _ in range(messages)]
    await asyncio.gather(*deliveries)


async def consume(consumer: AIOKafkaConsumer, messages: int) -> int:
    consumed = 0
    while consumed < messages:
        batches = await consumer.getmany(timeout_ms=500, max_records=CONSUMER_RECORDS_PER_POLL)
        consumed += sum(len(records) for records in batches.values())
    return consumed


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m betting bench kafka_ceiling")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100, help="payload bytes per message")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        rate = asyncio.run(raw_kafka_ceiling(external, arguments.messages, arguments.size))
    else:
        with KafkaBroker() as broker:
            rate = asyncio.run(
                raw_kafka_ceiling(broker.bootstrap, arguments.messages, arguments.size)
            )
    print(f"kafka ceiling: {rate / 1000:.0f}K msgs/s", flush=True)
    print(
        f"({arguments.messages} messages of {arguments.size} B, produce -> consume)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
