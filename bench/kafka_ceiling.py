"""The raw Kafka ceilings, with no application code in between.

- Throughput: how many messages per second aiokafka moves through the broker, produced with
  batching and consumed at once. The pipeline's own figures are read against this number.
- Transactional round trip (`transactional_round_trip`): a message's latency through
  produce, then consume-transform-produce in a Kafka transaction, then a read_committed
  consume; the floor under the engine's loop of fetch, decide, commit.

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
from dataclasses import dataclass

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


# The transactional round trip: the producers and consumers set up as the pipeline's own.
ROUND_TRIP_PAYLOAD_BYTES = 300  # about a bet's record
ROUND_TRIP_TICK_S = 0.01  # messages go out in 10 ms ticks, as the benchmarks' bettors pace


@dataclass(frozen=True, slots=True)
class RoundTrip:
    latencies_us: list[int]  # one per message sent in the measured span, sorted
    transactions: int


async def transactional_round_trip(
    bootstrap: str, rate: int, seconds: float, warm_seconds: float
) -> RoundTrip:
    """`rate` messages a second for `warm_seconds` unmeasured and `seconds` measured: each
    one produced (idempotent, acks=all, as bets-in), read by a transformer that writes it on
    in a transaction per fetched batch (begin, produce, commit: the round trips every engine
    batch makes), and timed when a read_committed consumer reads it from the output topic."""
    source, sink = (f"bench-txn-{side}-{uuid.uuid4().hex[:12]}" for side in ("in", "out"))
    await create_topic(bootstrap, source)
    await create_topic(bootstrap, sink)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2
    )
    transformer = Transformer(bootstrap, source, sink)
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", fetch_max_wait_ms=10
    )
    await producer.start()
    await transformer.start()
    await reader.start()
    reader.assign([TopicPartition(sink, 0)])
    await reader.seek_to_beginning(TopicPartition(sink, 0))
    received: dict[int, int] = {}  # message number -> arrival, perf_counter ns
    tasks = [asyncio.create_task(transformer.run()), asyncio.create_task(read(reader, received))]
    try:
        await producer.send_and_wait(source, b"warm-up")  # the new topic's leader, unmeasured
        sent = await paced_send(producer, source, rate, warm_seconds + seconds)
        await wait_received(received, len(sent), tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await reader.stop()
        await transformer.stop()
        await producer.stop()
    measured_from = int(rate * warm_seconds)
    latencies = sorted(
        (received[n] - sent_ns) // 1000 for n, sent_ns in enumerate(sent) if n >= measured_from
    )
    return RoundTrip(latencies, transformer.transactions)


class Transformer:
    """Consume, then in one transaction per batch produce each record on unchanged."""

    def __init__(self, bootstrap: str, source: str, sink: str) -> None:
        self._source, self._sink = source, sink
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", fetch_max_wait_ms=10
        )
        self._producer = AIOKafkaProducer(  # as the engine's transactional producers
            bootstrap_servers=bootstrap,
            transactional_id=f"bench-txn-{uuid.uuid4().hex[:12]}",
            enable_idempotence=True,
            linger_ms=0,
            retry_backoff_ms=5,
        )
        self.transactions = 0

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        self._consumer.assign([TopicPartition(self._source, 0)])
        await self._consumer.seek_to_beginning(TopicPartition(self._source, 0))

    async def run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=2_000)
            records = [record for records in batches.values() for record in records]
            if not records:
                continue
            async with self._producer.transaction():
                sends = [await self._producer.send(self._sink, r.value) for r in records]
                await asyncio.gather(*sends)
            self.transactions += 1

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()


async def paced_send(
    producer: AIOKafkaProducer, topic: str, rate: int, seconds: float
) -> list[int]:
    """Messages numbered from 0, sent in ticks on absolute times; their send times."""
    per_tick = max(1, round(rate * ROUND_TRIP_TICK_S))
    padding = b"x" * ROUND_TRIP_PAYLOAD_BYTES
    sent: list[int] = []
    deliveries = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(per_tick):
            value = len(sent).to_bytes(8) + padding
            sent.append(time.perf_counter_ns())
            deliveries.append(await producer.send(topic, value))
        next_tick = started + len(sent) / per_tick * ROUND_TRIP_TICK_S
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    await asyncio.gather(*deliveries)
    return sent


async def read(consumer: AIOKafkaConsumer, received: dict[int, int]) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=100, max_records=10_000)
        now = time.perf_counter_ns()
        for records in batches.values():
            for record in records:
                if len(record.value) > 8:  # the warm-up record is not numbered
                    received.setdefault(int.from_bytes(record.value[:8]), now)


async def wait_received(
    received: dict[int, int], count: int, tasks: list[asyncio.Task[None]]
) -> None:
    deadline = time.monotonic() + CEILING_TIMEOUT_S
    while len(received) < count:
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()  # raises what stopped it
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - len(received)} round trips did not come back")
        await asyncio.sleep(0.05)


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
