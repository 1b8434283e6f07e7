"""The event log on Apache Kafka (or Confluent Cloud), through aiokafka.

- `send` goes through one idempotent producer (acks=all): a returned call is durable.
- The engine's `Processor` pairs a read_committed group consumer with a transactional
  producer: outputs and consumed offsets commit in one transaction
  (`send_offsets_to_transaction`), so each input has exactly one effect. Partitions are
  assigned with the range assignor, so partition N of `bets` and of `races` land together.
- Each input partition has its own transactional id (`<prefix>-p<N>`), claimed by whoever
  the group assigns it to, so a zombie owner is fenced (see `KafkaProcessor`). A fenced
  partition, and anything else a broker outage can raise, becomes `LogUnavailable`, which
  the caller answers by rewinding and rebuilding what it still owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiokafka.producer.sender
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from betting.config import KafkaSettings
from betting.log.port import (
    GroupConsumer,
    LogUnavailable,
    Outgoing,
    PartitionListener,
    Processor,
    Producer,
    Reader,
    Record,
    TopicSpec,
)
from betting.log.port import TopicPartition as TopicPartitionKey

log = logging.getLogger("betting.log.kafka")
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
TRANSACTION_TIMEOUT_MS = 15_000  # how long a crashed instance's open transaction blocks readers
TRANSACTION_BATCH_BYTES = 512 * 1024
CHECK_TIMEOUT_S = 2.0
TOPICS_READY_TIMEOUT_S = 30.0
METADATA_MAX_AGE_MS = 5_000  # a topic that appears later is found within seconds
CONCURRENT_TRANSACTIONS_BACKOFF_S = 0.002
RELAXED_FETCH_BYTES = 64 * 1024


def _shorten_concurrent_transactions_backoff() -> None:
    """Retry a new transaction's first AddPartitionsToTxn after 2 ms, not aiokafka's fixed 20 ms.

    The broker answers CONCURRENT_TRANSACTIONS until the previous commit's markers are
    written, a few milliseconds after EndTxn returns. The engine begins its next transaction
    at once, so most batches met that answer and waited 20 ms (a median commit of 15 ms
    here, 7 ms with this). aiokafka has no option for it (franz-go calls it
    ConcurrentTransactionBackoff), so the module constant is set here; the check fails loudly
    if an upgrade renames it.
    """
    if not hasattr(aiokafka.producer.sender, "BACKOFF_OVERRIDE"):
        raise RuntimeError("aiokafka.producer.sender.BACKOFF_OVERRIDE is gone: revisit this")
    aiokafka.producer.sender.BACKOFF_OVERRIDE = CONCURRENT_TRANSACTIONS_BACKOFF_S


_shorten_concurrent_transactions_backoff()


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    if settings.security_protocol.endswith("SSL"):
        # Verifies the broker's certificate and host name; a named CA file replaces the
        # system's trust store (a private CA; Confluent Cloud needs none).
        options["ssl_context"] = create_ssl_context(cafile=settings.ssl_ca_file or None)
    return options


async def bootstrap_failure(options: Mapping[str, Any]) -> str | None:
    """Why the first bootstrap server turns us away, or None if it now lets us in.

    aiokafka raises only "Unable to bootstrap", whether the port is closed, the certificate
    is not trusted or the broker refused the SASL credentials; one more connection names which.
    Its errors name the user at most, never the password.
    """
    host, port, _ = collect_hosts(options["bootstrap_servers"], randomize=False)[0]
    connection = {key: value for key, value in options.items() if key != "bootstrap_servers"}
    try:
        probe = await create_conn(host, port, **connection)
    except (OSError, KafkaError, TimeoutError) as error:
        text, kind = str(error), type(error).__name__
        return text if kind in text else f"{kind}: {text}"  # Kafka's errors name themselves
    probe.close()
    return None


class KafkaLog:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._options = connection_options(settings)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **self._options, enable_idempotence=True, acks="all", linger_ms=2
        )
        try:
            await producer.start()
        except KafkaError as error:
            await producer.stop()
            cause = await bootstrap_failure(self._options) or str(error)
            raise LogUnavailable(
                f"cannot connect to Kafka at {self.settings.bootstrap}: {cause}"
            ) from error
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def check(self) -> None:
        """A metadata round trip through the shared producer's connection."""
        if self._producer is None:
            raise LogUnavailable("not started")
        client = self._producer.client
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                ok = await client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError) as error:
            raise LogUnavailable(f"Kafka at {self.settings.bootstrap} does not answer") from error
        if not ok or not ok.brokers():
            raise LogUnavailable(f"Kafka at {self.settings.bootstrap} lists no brokers")

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        admin = AIOKafkaAdminClient(**self._options)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [spec for spec in topics if spec.name not in existing]
            if missing:
                await admin.create_topics([self._new_topic(spec) for spec in missing])
                log.info("created topics", extra={"fields": {"topics": [s.name for s in missing]}})
            await self._wait_for_partitions([spec.name for spec in topics])
        except TopicAlreadyExistsError:
            pass  # another instance created them first
        except KafkaError as error:
            raise LogUnavailable(f"cannot create topics: {error}") from error
        finally:
            await admin.close()

    async def _wait_for_partitions(self, names: list[str]) -> None:
        """Until the brokers list every topic's partitions: a consumer group joined before
        that is assigned nothing, and would not look again for minutes."""
        if self._producer is None:
            return
        deadline = asyncio.get_running_loop().time() + TOPICS_READY_TIMEOUT_S
        while True:
            metadata = await self._producer.client.fetch_all_metadata()
            if all(metadata.partitions_for_topic(name) for name in names):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise LogUnavailable(f"topics have no partitions yet: {names}")
            await asyncio.sleep(0.1)

    def _new_topic(self, spec: TopicSpec) -> NewTopic:
        configs = {"cleanup.policy": "compact"} if spec.compacted else {}
        return NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=self.settings.replication_factor,
            topic_configs=configs,
        )

    def producer(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("KafkaLog.start() was not awaited")
        return _KafkaProducer(self._producer)

    def processor(
        self, group_id: str, topics: Sequence[str], listener: PartitionListener, instance_id: str
    ) -> Processor:
        return KafkaProcessor(
            self._options,
            group_id,
            topics,
            listener,
            self.settings.transactional_id_prefix,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
        )

    def group_consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        since_ms: int | None = None,
        max_delay_ms: int | None = None,
        listener: PartitionListener | None = None,
    ) -> GroupConsumer:
        return _KafkaGroupConsumer(
            self._options,
            group_id,
            topics,
            listener=listener,
            since_ms=since_ms,
            **self._fetch_options(max_delay_ms),
        )

    def reader(
        self, topics: Sequence[str], since_ms: int | None = None, max_delay_ms: int | None = None
    ) -> Reader:
        return _KafkaReader(
            self._options, topics, since_ms, self._partitions, **self._fetch_options(max_delay_ms)
        )

    async def _partitions(self, topic: str) -> set[int]:
        if self._producer is None:
            raise LogUnavailable("not started")
        metadata = await self._producer.client.fetch_all_metadata()
        return set(metadata.partitions_for_topic(topic) or ())

    def _fetch_options(self, max_delay_ms: int | None) -> dict[str, int]:
        if max_delay_ms is None:
            return {"fetch_max_wait_ms": self.settings.fetch_max_wait_ms}
        # The broker holds the fetch until this much is there or the wait is over: under
        # load, a few large fetches a second instead of one per transaction.
        return {"fetch_max_wait_ms": max_delay_ms, "fetch_min_bytes": RELAXED_FETCH_BYTES}

    async def read_to_end(self, topic: str, partition: int) -> list[Record]:
        consumer = AIOKafkaConsumer(
            **self._options, isolation_level="read_committed", enable_auto_commit=False
        )
        try:
            await consumer.start()
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]  # the last stable offset
            records: list[Record] = []
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
                records.extend(_record(message) for message in batch.get(tp, []))
            return records
        except KafkaError as error:
            raise LogUnavailable(f"cannot read {topic}[{partition}]: {error}") from error
        finally:
            await consumer.stop()


class _KafkaProducer:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, records: Sequence[Outgoing]) -> None:
        try:
            await _send_all(self._producer, records)
        except KafkaError as error:
            raise LogUnavailable(f"produce failed: {error}") from error


async def _send_all(producer: AIOKafkaProducer, records: Sequence[Outgoing]) -> None:
    """Queue every record, then wait for all: one round trip per batch, not per record.

    Records with a set partition go in one record batch per partition (a future per batch,
    not per record: per-record futures were a fifth of the engine's time); the others are
    sent one by one so the producer's partitioner picks their partition from the key.
    """
    pending: list[asyncio.Future[Any]] = []
    batches: dict[tuple[str, int], Any] = {}
    for record in records:
        if record.partition is None:
            pending.append(
                await producer.send(record.topic, record.value, key=record.key, partition=None)
            )
            continue
        where = (record.topic, record.partition)
        batch = batches.get(where)
        if batch is None:
            batch = batches[where] = producer.create_batch()
        if batch.append(key=record.key, value=record.value, timestamp=None) is None:
            pending.append(
                await producer.send_batch(batch, record.topic, partition=record.partition)
            )
            batch = batches[where] = producer.create_batch()
            batch.append(key=record.key, value=record.value, timestamp=None)
    for (topic, partition), batch in batches.items():
        pending.append(await producer.send_batch(batch, topic, partition=partition))
    if pending:
        await asyncio.gather(*pending)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, listener: PartitionListener) -> None:
        self._listener = listener

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._listener.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._listener.on_assigned({(tp.topic, tp.partition) for tp in assigned})


async def _start_positions(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since_ms: int
) -> dict[TopicPartition, int]:
    """The first offset stamped at or after `since_ms` in each partition, else its end.

    The ends are taken first: a partition with no record that recent is read from where it
    ended then, so a record appended between the two look-ups is not skipped.
    """
    ends = await consumer.end_offsets(partitions)
    found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
    return {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in partitions}


class _StartSince(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition the group never committed starts at `since_ms`, not at its beginning."""

    def __init__(self, consumer: AIOKafkaConsumer, since_ms: int) -> None:
        self._consumer = consumer
        self._since_ms = since_ms

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        fresh = [tp for tp in assigned if await self._consumer.committed(tp) is None]
        if fresh:
            starts = await _start_positions(self._consumer, fresh, self._since_ms)
            for tp, offset in starts.items():
                self._consumer.seek(tp, offset)


class _KafkaGroupConsumer:
    def __init__(
        self,
        options: dict[str, Any],
        group_id: str,
        topics: Sequence[str],
        listener: PartitionListener | None = None,
        since_ms: int | None = None,
        **extra: Any,
    ) -> None:
        self._topics = list(topics)
        self._group_id = group_id
        self._listener = listener
        self._since_ms = since_ms
        self._consumer_options: dict[str, Any] = dict(
            **options,
            group_id=group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            # Never "latest": a crash before a group's first commit would skip what came in.
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **extra,
        )
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self._consumer_options)

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except KafkaError as error:
            # A stopped aiokafka consumer cannot start again: the retry gets a new one.
            await self._consumer.stop()
            self._consumer = self._new_consumer()
            raise LogUnavailable(f"cannot join group {self._group_id}: {error}") from error
        listener: ConsumerRebalanceListener | None = None
        if self._listener is not None:
            listener = _Rebalance(self._listener)
        elif self._since_ms is not None:
            listener = _StartSince(self._consumer, self._since_ms)
        self._consumer.subscribe(self._topics, listener=listener)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        return await _fetch(self._consumer, max_records, timeout_ms)

    async def commit(self, positions: Mapping[TopicPartitionKey, int]) -> None:
        # aiokafka refuses a commit naming a partition a rebalance took away; retrying that
        # would never succeed.
        assigned = self._consumer.assignment()
        offsets = {TopicPartition(t, p): offset for (t, p), offset in positions.items()}
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            raise LogUnavailable(f"offset commit failed: {error}") from error

    def assignment(self) -> set[TopicPartitionKey]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def caught_up(self, partition: TopicPartitionKey) -> bool:
        tp = TopicPartition(*partition)
        if tp not in self._consumer.assignment():
            return True
        stable_end = self._consumer.last_stable_offset(tp)  # from the latest fetch
        return stable_end is not None and await self._consumer.position(tp) >= stable_end

    async def lag(self) -> int:
        total = 0
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is not None:
                total += max(0, end - await self._consumer.position(tp))
        return total

    def pause(self, partitions: set[TopicPartitionKey]) -> None:
        self._consumer.pause(*(TopicPartition(*p) for p in partitions))

    def resume(self, partitions: set[TopicPartitionKey]) -> None:
        self._consumer.resume(*(TopicPartition(*p) for p in partitions))

    async def seek(self, positions: Mapping[TopicPartitionKey, int]) -> None:
        for (topic, number), offset in positions.items():
            self._consumer.seek(TopicPartition(topic, number), offset)

    async def rewind(self) -> None:
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)


class _KafkaReader:
    def __init__(
        self,
        options: dict[str, Any],
        topics: Sequence[str],
        since_ms: int | None,
        partitions_of: Callable[[str], Awaitable[set[int]]],
        **extra: Any,
    ) -> None:
        self._topics = list(topics)
        self._since_ms = since_ms
        self._partitions_of = partitions_of
        self._ends: dict[TopicPartition, int] = {}
        self._caught_up = False
        self._consumer_options: dict[str, Any] = dict(
            **options,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **extra,
        )
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self._consumer_options)

    async def start(self) -> None:
        try:
            await self._consumer.start()
            partitions = await self._partitions()
            self._consumer.assign(partitions)
            # read_committed: the ends are the last stable offsets, what a reader can reach.
            self._ends = await self._consumer.end_offsets(partitions)
            if self._since_ms is None:
                starts = await self._consumer.beginning_offsets(partitions)
            else:
                starts = await _start_positions(self._consumer, partitions, self._since_ms)
            for tp, offset in starts.items():  # explicit offsets: no reset policy to race
                self._consumer.seek(tp, offset)
        except (KafkaError, LogUnavailable) as error:
            # A stopped aiokafka consumer cannot start again (its fetches raise
            # ConsumerStoppedError, which stopped serve once): the retry gets a new one.
            await self._consumer.stop()
            self._consumer = self._new_consumer()
            if isinstance(error, LogUnavailable):
                raise
            raise LogUnavailable(f"cannot read {self._topics}: {error}") from error

    async def _partitions(self) -> list[TopicPartition]:
        partitions: list[TopicPartition] = []
        for topic in self._topics:
            numbers = await self._partitions_of(topic)
            if not numbers:
                raise LogUnavailable(f"topic {topic} has no partitions yet")
            partitions.extend(TopicPartition(topic, number) for number in sorted(numbers))
        return partitions

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        return await _fetch(self._consumer, max_records, timeout_ms)

    async def caught_up(self) -> bool:
        if not self._caught_up:
            positions = [(await self._consumer.position(tp), end) for tp, end in self._ends.items()]
            self._caught_up = all(position >= end for position, end in positions)
        return self._caught_up


class KafkaProcessor(_KafkaGroupConsumer):
    """A group member that owns input partitions and commits each one's outputs in a
    transaction of that partition's own transactional producer, `<prefix>-p<N>`.

    Why per partition: a partition can move to another instance while its last owner still
    runs, such as one the group evicted while it stalled, which has not heard yet. Kafka
    fences such a zombie by transactional id; KIP-447's fencing by group generation needs a
    TxnOffsetCommit that aiokafka does not send (v0), and the engine's positions ride in the
    changelog anyway. So the instance assigned partition N starts producer `<prefix>-pN`
    (`claim`, which the engine calls before it restores N's books): that fences every
    earlier owner of N and aborts its open transaction, and the restore reads what was
    committed. A zombie's next commit of N then fails as fenced: N leaves its
    `assignment()` until the group's next rebalance, and its commit raises
    `LogUnavailable`, so the engine rebuilds without N.

    Outputs name their partition (the input partition they came from: the topics are
    co-partitioned); one batch's partitions commit in parallel, each all or nothing.
    """

    def __init__(
        self,
        options: dict[str, Any],
        group_id: str,
        topics: Sequence[str],
        listener: PartitionListener,
        transactional_id_prefix: str,
        **extra: Any,
    ) -> None:
        super().__init__(options, group_id, topics, listener, **extra)
        self._options = options
        self._prefix = transactional_id_prefix
        self._producers: dict[int, AIOKafkaProducer] = {}  # claimed partitions
        self._fenced: set[int] = set()  # taken by a newer owner until the next assignment

    def _new_producer(self, number: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **self._options,
            transactional_id=f"{self._prefix}-p{number}",
            enable_idempotence=True,
            # A batch is sent whole at commit: no lingering, and room for a whole batch per
            # partition, since a full buffer waits for AddPartitionsToTxn before it drains.
            linger_ms=0,
            max_batch_size=TRANSACTION_BATCH_BYTES,
            # The broker answers CONCURRENT_TRANSACTIONS while the last commit's markers are
            # written; the default 100 ms backoff would add that to every batch.
            retry_backoff_ms=5,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        )

    async def claim(self, partitions: set[TopicPartitionKey]) -> None:
        """Start the producers of these partitions, fencing their earlier owners; retried
        while the log is away (the restore that follows could not run without it either)."""
        await self._claim({number for _, number in partitions})

    async def _claim(self, numbers: set[int]) -> None:
        await asyncio.gather(*(self._claim_one(number) for number in numbers))

    async def _claim_one(self, number: int) -> None:
        await self._release_one(number)
        self._fenced.discard(number)
        delay_s = 0.1
        while True:
            producer = self._new_producer(number)
            try:
                await producer.start()  # InitProducerId: fences and aborts earlier owners
                self._producers[number] = producer
                return
            except KafkaError as error:
                await producer.stop()
                log.warning(
                    "cannot claim partition; retrying",
                    extra={"fields": {"partition": number, "error": str(error)}},
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    async def release(self, partitions: set[TopicPartitionKey]) -> None:
        await self._release({number for _, number in partitions})

    async def _release(self, numbers: set[int]) -> None:
        await asyncio.gather(*(self._release_one(number) for number in numbers))
        self._fenced -= numbers

    async def _release_one(self, number: int) -> None:
        producer = self._producers.pop(number, None)
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()

    async def stop(self) -> None:
        await super().stop()
        await self._release(set(self._producers))

    def assignment(self) -> set[TopicPartitionKey]:
        """The assigned partitions this instance still owns: claimed, and not fenced."""
        return {(t, n) for t, n in super().assignment() if n in self._producers}

    def resume(self, partitions: set[TopicPartitionKey]) -> None:
        super().resume({(t, n) for t, n in partitions if n not in self._fenced})

    async def commit(  # type: ignore[override]
        self, outputs: Sequence[Outgoing], positions: Mapping[TopicPartitionKey, int]
    ) -> None:
        by_partition: dict[int, tuple[list[Outgoing], dict[TopicPartition, int]]] = {}
        for output in outputs:
            if output.partition is None:
                raise ValueError(f"an engine output to {output.topic} names no partition")
            by_partition.setdefault(output.partition, ([], {}))[0].append(output)
        for (topic, number), offset in positions.items():
            by_partition.setdefault(number, ([], {}))[1][TopicPartition(topic, number)] = offset
        unowned = sorted(set(by_partition) - set(self._producers))
        if unowned:
            raise LogUnavailable(f"partitions {unowned} are no longer owned")
        results = await asyncio.gather(
            *(self._commit_one(n, outs, offsets) for n, (outs, offsets) in by_partition.items()),
            return_exceptions=True,
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        fenced = sorted(n for n, r in zip(by_partition, results, strict=True)
                        if isinstance(r, ProducerFenced))  # fmt: skip
        if fenced:
            await self._lose(set(fenced))
            raise LogUnavailable(f"partitions {fenced} were taken by a newer owner")
        if failures:
            error = failures[0]
            if isinstance(error, KafkaError):
                raise LogUnavailable(f"transaction failed: {error}") from error
            raise error

    async def _commit_one(
        self, number: int, outputs: list[Outgoing], offsets: dict[TopicPartition, int]
    ) -> None:
        producer = self._producers[number]
        async with producer.transaction():
            await _send_all(producer, outputs)
            if offsets:
                await producer.send_offsets_to_transaction(offsets, self._group_id)

    async def _lose(self, numbers: set[int]) -> None:
        """Fenced: another instance owns these now. Stop reading them until the group's next
        assignment says otherwise; their books are rebuilt by whoever owns them."""
        for number in numbers:
            await self._release_one(number)
        self._fenced |= numbers
        log.warning(
            "partitions taken by a newer owner", extra={"fields": {"partitions": sorted(numbers)}}
        )
        self.pause({(t, n) for t, n in super().assignment() if n in numbers})

    async def rewind(self) -> None:
        """A failed transaction may leave a producer unusable: claim the owned partitions
        afresh (fenced ones wait for the group), then seek to the committed positions."""
        try:
            await self._claim(set(self._producers))
            await super().rewind()
        except KafkaError as error:
            raise LogUnavailable(f"cannot rewind: {error}") from error


async def _fetch(consumer: AIOKafkaConsumer, max_records: int, timeout_ms: int) -> list[Record]:
    try:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
    except KafkaError as error:
        raise LogUnavailable(f"fetch failed: {error}") from error
    return [_record(message) for messages in batches.values() for message in messages]


def _record(message: Any) -> Record:
    return Record(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        message.timestamp,
    )
