"""A realtime connection: its state machine, resume key, and ordered publish pipeline.

A connection outlives its socket: after a drop it waits `connection_state_ttl_ms` for a resume.
Publishes go through one ordered queue per connection, so ACKs and NACKs leave in msgSerial
order (the SDKs complete every pending publish up to the serial they are told about).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from betting.edge.local.auth import Credentials
from betting.edge.local.channel import ChannelRegistry
from betting.edge.local.messages import ChannelMessage
from betting.edge.local.protocol import (
    Action,
    EdgeError,
    ErrorInfo,
    ProtocolMessage,
    invariant,
)
from betting.edge.local.settings import LocalEdgeSettings

log = logging.getLogger(__name__)

PUBLISH_BATCH_MAX = 64
OUTCOMES_KEPT = 1024


class ConnectionState(enum.Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"
    FAILED = "failed"


CONNECTION_TRANSITIONS = {
    ConnectionState.CONNECTED: frozenset(
        {ConnectionState.DISCONNECTED, ConnectionState.CLOSED, ConnectionState.FAILED}
    ),
    ConnectionState.DISCONNECTED: frozenset({ConnectionState.CONNECTED, ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
    ConnectionState.FAILED: frozenset(),
}


class ProtocolSink(Protocol):
    def send(self, message: ProtocolMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class PublishRequest:
    msg_serial: int
    channel: str
    messages: Sequence[ChannelMessage]
    rejection: ErrorInfo | None = None
    duplicate: bool = False


class PublishRate:
    """A token bucket: `rate` messages per second, bursting up to one second's worth."""

    def __init__(self, rate_per_second: float) -> None:
        self._rate = rate_per_second
        self._tokens = rate_per_second
        self._updated = time.monotonic()

    def take(self, count: int) -> bool:
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if count > self._tokens:
            return False
        self._tokens -= count
        return True


class Connection:
    def __init__(
        self, credentials: Credentials, registry: ChannelRegistry, settings: LocalEdgeSettings
    ) -> None:
        self.id = secrets.token_urlsafe(9)
        self.key = self._new_key()
        self.credentials = credentials
        self.state = ConnectionState.CONNECTED
        self.sink: ProtocolSink | None = None
        self.disconnected_at = 0.0
        self.next_msg_serial = 0
        self.rate = PublishRate(settings.publish_rate_per_second)
        self._registry = registry
        self._outcomes: OrderedDict[int, ErrorInfo | None] = OrderedDict()
        self._queue: asyncio.Queue[PublishRequest] = asyncio.Queue(settings.inbound_queue_max)
        self._worker: asyncio.Task[None] | None = None

    @property
    def client_id(self) -> str | None:
        return self.credentials.client_id

    def _new_key(self) -> str:
        return f"{self.id}!{secrets.token_urlsafe(12)}"

    def move_to(self, state: ConnectionState) -> None:
        invariant(
            state in CONNECTION_TRANSITIONS[self.state],
            f"connection cannot go from {self.state.value} to {state.value}",
        )
        self.state = state
        if state is ConnectionState.DISCONNECTED:
            self.sink = None
            self.disconnected_at = time.monotonic()
        elif state in (ConnectionState.CLOSED, ConnectionState.FAILED):
            self.sink = None
            if self._worker is not None:
                self._worker.cancel()

    def resume(self, sink: ProtocolSink) -> None:
        """Take over from a socket that dropped; a new key, so a stale resume cannot race."""
        self.move_to(ConnectionState.CONNECTED)
        self.key = self._new_key()
        self.sink = sink

    def is_duplicate_serial(self, msg_serial: int) -> bool:
        if msg_serial < self.next_msg_serial:
            return True
        self.next_msg_serial = msg_serial + 1
        return False

    def enqueue(self, request: PublishRequest) -> bool:
        """False when the connection's queue is full: the client publishes faster than the
        handlers drain, and the caller disconnects it (it resumes and re-sends)."""
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            return False
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name=f"edge-publish-{self.id}")
        return True

    async def _drain(self) -> None:
        while not self._queue.empty():
            batch = [self._queue.get_nowait()]
            while len(batch) < PUBLISH_BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            outcomes = await self._publish_batch(batch)
            self._reply(outcomes)

    async def _publish_batch(
        self, batch: list[PublishRequest]
    ) -> list[tuple[int, ErrorInfo | None]]:
        outcomes: list[tuple[int, ErrorInfo | None]] = []
        for group in _groups(batch):
            first = group[0]
            if first.duplicate:
                outcomes.append((first.msg_serial, self._outcomes.get(first.msg_serial)))
                continue
            if first.rejection is not None:
                outcomes.append((first.msg_serial, first.rejection))
                continue
            error = await self._publish_group(group)
            if error is not None and len(group) > 1 and is_client_error(error):
                # One refused message refuses the whole call; each publish of the group
                # then gets its own answer, so that one bad bet fails only its own.
                for request in group:
                    outcomes.append((request.msg_serial, await self._publish_group([request])))
                continue
            outcomes.extend((request.msg_serial, error) for request in group)
        for msg_serial, error in outcomes:
            self._outcomes[msg_serial] = error
        while len(self._outcomes) > OUTCOMES_KEPT:
            self._outcomes.popitem(last=False)
        return outcomes

    async def _publish_group(self, group: list[PublishRequest]) -> ErrorInfo | None:
        messages = [message for request in group for message in request.messages]
        try:
            await self._registry.publish(group[0].channel, messages, self.id)
        except EdgeError as error:
            return error.info
        except Exception:
            log.exception("edge publish handler failed", extra={"channel": group[0].channel})
            return ErrorInfo(50000, 500, "Publish handler failed; message not accepted")
        return None

    def _reply(self, outcomes: list[tuple[int, ErrorInfo | None]]) -> None:
        if self.sink is None:
            return  # The client re-sends after resuming and gets the remembered outcome.
        for first, count, error in _runs(outcomes):
            if error is None:
                self.sink.send({"action": Action.ACK, "msgSerial": first, "count": count})
            else:
                self.sink.send(
                    {
                        "action": Action.NACK,
                        "msgSerial": first,
                        "count": count,
                        "error": error.as_wire(),
                    }
                )


def is_client_error(error: ErrorInfo) -> bool:
    return 400 <= error.status_code < 500


def _groups(batch: list[PublishRequest]) -> list[list[PublishRequest]]:
    """Consecutive clean publishes to one channel share one handler call."""
    groups: list[list[PublishRequest]] = []
    for request in batch:
        previous = groups[-1][-1] if groups else None
        joinable = (
            previous is not None
            and not (request.duplicate or previous.duplicate)
            and request.rejection is None
            and previous.rejection is None
            and request.channel == previous.channel
        )
        if joinable:
            groups[-1].append(request)
        else:
            groups.append([request])
    return groups


def _runs(
    outcomes: list[tuple[int, ErrorInfo | None]],
) -> list[tuple[int, int, ErrorInfo | None]]:
    """Coalesce consecutive serials with the same outcome into one ACK or NACK."""
    runs: list[tuple[int, int, ErrorInfo | None]] = []
    for msg_serial, error in outcomes:
        if runs:
            first, count, run_error = runs[-1]
            if run_error == error and first + count == msg_serial:
                runs[-1] = (first, count + 1, run_error)
                continue
        runs.append((msg_serial, 1, error))
    return runs
