"""Forwarders from a log topic to edge channels: the Ably Kafka Connector's role.

`odds` goes to `outbound:odds:<race>`, `bet-results` to `outbound:user:<user>`. Each message id
is derived from topic, partition and offset, so a restart that republishes records it had
already sent (offsets are committed after the publish) is de-duplicated by the edge. Records of
one channel are published in topic order, in one call; channels go in parallel.

Two ways to read, by edge:
- Real Ably fans every message out to every client, so the forwarders of all instances share
  each topic in one consumer group. Offsets are committed about once a second (as Kafka Connect
  flushes them on an interval): a crash republishes up to a second of records, which their ids
  de-duplicate. A partition the group never committed starts `REPLAY_WINDOW_MS` back, not at
  its end (a crash before the first commit skipped everything in between) and not at its
  beginning (a new group would republish the whole retained topic, past Ably's de-duplication).
- A local edge serves only the clients connected to its own instance, so each instance reads
  every partition itself (no group, nothing committed) and every edge gets every race's odds
  and every user's outcomes. It starts `REPLAY_WINDOW_MS` back: the replay rebuilds the
  channel history a restarted edge lost, as far back as the edge keeps history at all;
  `replayed` is set, and readiness given, once it holds what the log held at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from betting import codec
from betting.edge.port import EdgePort, OutboundMessage
from betting.health import Readiness
from betting.log.port import EventLog, GroupConsumer, LogUnavailable, Reader, Record, TopicPartition
from betting.tasks.skipped import Skipped

log = logging.getLogger("betting.forward")
RETRY_MAX_S = 5.0
COMMIT_INTERVAL_S = 1.0
# How far back a forwarder starts without a committed offset: the local edge's history and
# resume window, and Ably's window for de-duplicating message ids (both 2 minutes).
REPLAY_WINDOW_MS = 120_000
T = TypeVar("T")

# Where a record goes: (channel, message name, data) for each message it makes; an empty list
# skips it. A route decodes the record itself, raising `CodecError` for a malformed one.
Route = Callable[[bytes], list[tuple[str, str, dict[str, Any]]]]


@dataclass
class ForwardStats:
    published: int = 0
    skipped: int = 0


class Forwarder:
    """Forwards one topic. `group_id` None reads every partition (for a local edge); a group
    shares the partitions among the instances (for real Ably)."""

    def __init__(
        self,
        name: str,
        event_log: EventLog,
        edge: EdgePort,
        topic: str,
        group_id: str | None,
        route: Route,
        batch_max: int = 1_000,
        max_delay_ms: int | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.name = name
        self._log = event_log
        self._edge = edge
        self._topic = topic
        self._group_id = group_id
        self._route = route
        self._batch_max = batch_max
        self._max_delay_ms = max_delay_ms
        self._clock_ms = clock_ms
        self.stats = ForwardStats()
        self.skipped = Skipped(name)
        self.replayed = asyncio.Event()  # the edge has what the log held at start

    async def run(self, readiness: Readiness | None = None) -> None:
        since_ms = self._clock_ms() - REPLAY_WINDOW_MS
        if self._group_id is None:
            if readiness is not None:
                readiness.not_ready(self.name, "replaying the log into the edge")
            reader = self._log.reader([self._topic], since_ms, self._max_delay_ms)
            await _retrying(reader.start)
            await self._read_all(reader, readiness)
        else:
            consumer = self._log.group_consumer(
                self._group_id, [self._topic], since_ms=since_ms, max_delay_ms=self._max_delay_ms
            )
            await _retrying(consumer.start)
            self.replayed.set()  # the group's share is not ours to judge: nothing to wait for
            await self._read_share(consumer)

    async def _read_all(self, reader: Reader, readiness: Readiness | None) -> None:
        try:
            while True:
                records = await _retrying(lambda: reader.poll(self._batch_max, 100))
                if records:
                    await self._forward(records)
                if not self.replayed.is_set() and await reader.caught_up():
                    self.replayed.set()
                    if readiness is not None:
                        readiness.ready(self.name)
        finally:
            await reader.stop()

    async def _read_share(self, consumer: GroupConsumer) -> None:
        positions: dict[TopicPartition, int] = {}
        committed_at = time.monotonic()
        try:
            while True:
                records = await _retrying(lambda: consumer.poll(self._batch_max, 100))
                if records:
                    await self._forward(records)
                    positions.update(next_positions(records))
                if positions and time.monotonic() - committed_at >= COMMIT_INTERVAL_S:
                    await _retrying(lambda: consumer.commit(positions))  # noqa: B023
                    positions, committed_at = {}, time.monotonic()
        finally:
            if positions:  # best effort: what is not committed is republished, de-duplicated
                with contextlib.suppress(LogUnavailable):
                    await consumer.commit(positions)
            await consumer.stop()

    async def _forward(self, records: list[Record]) -> None:
        by_channel: dict[str, list[OutboundMessage]] = {}
        for record in records:
            for channel, outbound in self._messages(record):
                by_channel.setdefault(channel, []).append(outbound)
        await asyncio.gather(
            *(self._publish(channel, messages) for channel, messages in by_channel.items())
        )

    def _messages(self, record: Record) -> list[tuple[str, OutboundMessage]]:
        try:
            targets = self._route(record.value)
        except codec.CodecError as error:  # skipped and counted: the forwarder moves on
            self.skipped.skip(record.topic, error)
            targets = []
        if not targets:
            self.stats.skipped += 1
        position = f"{record.topic}:{record.partition}:{record.offset}"
        return [
            # The id comes from the record's position: a republish is de-duplicated.
            (channel, OutboundMessage(name=name, data=data, id=f"{position}:{n}"))
            for n, (channel, name, data) in enumerate(targets)
        ]

    async def _publish(self, channel: str, messages: list[OutboundMessage]) -> None:
        delay_s = 0.05
        while True:
            try:
                await self._edge.publish(channel, messages)
                self.stats.published += len(messages)
                return
            except Exception as error:  # the edge's SDK raises its own errors; retry them all
                log.warning(
                    "publish failed; retrying",
                    extra={"fields": {"task": self.name, "channel": channel, "error": str(error)}},
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)


def next_positions(records: list[Record]) -> dict[TopicPartition, int]:
    positions: dict[TopicPartition, int] = {}
    for record in records:
        positions[(record.topic, record.partition)] = record.offset + 1
    return positions


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    delay_s = 0.1
    while True:
        try:
            return await call()
        except LogUnavailable as error:
            log.warning("event log unavailable", extra={"fields": {"error": str(error)}})
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)
