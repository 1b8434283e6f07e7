"""A realtime connection: its state machine, resume key, and ordered publish pipeline.

A connection outlives its socket: after a drop it waits `connection_state_ttl_ms` for a resume.
Publishes go through one ordered queue per connection, so ACKs and NACKs leave in msgSerial
order (the SDKs complete every pending publish up to the serial they are told about).

msgSerials are the client's, per connection (RTN7, RTN19a): an ACK answers a serial, it never
stands for one. A client resends what was not yet answered on its next transport: after a
resume with the same serials, and (ably-python 3.1) after a failed resume with the old serials
before numbering new publishes from 0 again. So a serial seen before proves nothing; a publish
is skipped only when this connection already answered the same serial with the same messages on
an earlier transport, and is otherwise processed. Repeats of one message are recognised by its
id, in the channel (and, for bets, by bet id in the engine).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
ANSWERS_KEPT = 1024
# Ably's timeout error: the publish may be retried (the SDKs treat a 5xx as not the client's).
PUBLISH_TIMED_OUT = ErrorInfo(
    50003, 500, "Timed out before the publish was kept; it may be retried with the same ids"
)


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
    """One MESSAGE a client sent: `transport` counts the connection's sockets (0 for the
    first), `deadline` is the event loop's time by which it is answered, and `fingerprint`
    tells a resend of this publish from another publish that reuses its serial."""

    msg_serial: int
    channel: str
    messages: Sequence[ChannelMessage]
    rejection: ErrorInfo | None = None
    transport: int = 0
    deadline: float = math.inf
    fingerprint: int | None = None


@dataclass(slots=True)
class Answer:
    """How a serial was answered, kept so that a resend on a later transport gets the same
    answer without running the handler again. Only ACKs and refusals are kept: a 5xx is
    worth retrying, so its resend is processed afresh."""

    transport: int
    fingerprint: int
    error: ErrorInfo | None


def fingerprint(messages: Sequence[ChannelMessage], client_ids: Sequence[str | None]) -> int:
    """The same for a resend of a publish; different, but for a 2**-64 chance, for a new
    publish with other content or other client-chosen message ids."""
    return hash(
        tuple(
            (given, message.name, message.data, message.encoding, message.client_id)
            for given, message in zip(client_ids, messages, strict=True)
        )
    )


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
        self.transport = 0
        self.received = 0
        self.rate = PublishRate(settings.publish_rate_per_second)
        self._registry = registry
        self._timeout_s = settings.publish_timeout_ms / 1000
        self._answers: OrderedDict[int, Answer] = OrderedDict()
        self._queue: asyncio.Queue[PublishRequest] = asyncio.Queue(settings.inbound_queue_max)
        self._waiting_for_room: list[Callable[[], None]] = []
        self.held_back = 0  # times its socket stopped reading for a full queue
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
        self.transport += 1

    def next_receipt(self) -> int:
        """Numbers the publishes received, for the ids of messages sent without one: unlike
        the msgSerial, never the same for two different publishes on one connection."""
        self.received += 1
        return self.received

    def deadline(self) -> float:
        """When a publish received now must be answered, kept or not (`publish_timeout_ms`)."""
        return asyncio.get_running_loop().time() + self._timeout_s

    @property
    def full(self) -> bool:
        return self._queue.full()

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call back once the queue has room: the socket stops reading until then (TCP
        pushes back on the client), rather than drop a publish it has read."""
        self.held_back += 1
        self._waiting_for_room.append(callback)

    def _announce_room(self) -> None:
        waiting, self._waiting_for_room = self._waiting_for_room, []
        for callback in waiting:
            callback()

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
            self._announce_room()
            outcomes = await self._publish_batch(batch)
            self._reply(outcomes)

    async def _publish_batch(
        self, batch: list[PublishRequest]
    ) -> list[tuple[int, ErrorInfo | None]]:
        """Publishes from one transport at a time: a resend is judged only once what its
        original (received on an earlier transport, so earlier in the queue) got is known."""
        outcomes: list[tuple[int, ErrorInfo | None]] = []
        for _, same_transport in itertools.groupby(batch, key=lambda request: request.transport):
            outcomes.extend(await self._publish_transport_batch(list(same_transport)))
        return outcomes

    async def _publish_transport_batch(
        self, batch: list[PublishRequest]
    ) -> list[tuple[int, ErrorInfo | None]]:
        outcomes: list[tuple[int, ErrorInfo | None]] = []
        for group in _groups([self._answered(request) or request for request in batch]):
            first = group[0]
            if isinstance(first, Answered):
                outcomes.append((first.msg_serial, first.error))
                continue
            requests = [request for request in group if isinstance(request, PublishRequest)]
            if first.rejection is not None:
                outcomes.append((first.msg_serial, first.rejection))
                continue
            error = await self._publish_group(requests)
            if error is not None and len(requests) > 1 and is_client_error(error):
                # One refused message refuses the whole call; each publish of the group
                # then gets its own answer, so that one bad bet fails only its own.
                for request in requests:
                    outcome = await self._publish_group([request])
                    self._remember(request, outcome)
                    outcomes.append((request.msg_serial, outcome))
                continue
            for request in requests:
                self._remember(request, error)
                outcomes.append((request.msg_serial, error))
        return outcomes

    def _answered(self, request: PublishRequest) -> Answered | None:
        """The answer to give again, when this is a resend from an earlier transport. Used
        once per transport: a second publish with that serial on one socket is a new one."""
        answer = self._answers.get(request.msg_serial)
        if (
            answer is None
            or request.fingerprint is None
            or answer.fingerprint != request.fingerprint
            or answer.transport >= request.transport
        ):
            return None
        answer.transport = request.transport
        return Answered(request.msg_serial, answer.error)

    def _remember(self, request: PublishRequest, error: ErrorInfo | None) -> None:
        if request.fingerprint is None or (error is not None and not is_client_error(error)):
            self._answers.pop(request.msg_serial, None)
            return
        self._answers[request.msg_serial] = Answer(request.transport, request.fingerprint, error)
        self._answers.move_to_end(request.msg_serial)
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)

    async def _publish_group(self, group: list[PublishRequest]) -> ErrorInfo | None:
        """The group's first publish sets the deadline: it was received first. A publish
        not kept by then is NACKed, so a stalled handler (the log unreachable) never holds
        a client past its own request timeout; the handler may still complete later."""
        messages = [message for request in group for message in request.messages]
        deadline = group[0].deadline
        if asyncio.get_running_loop().time() >= deadline:
            return PUBLISH_TIMED_OUT
        try:
            async with asyncio.timeout_at(deadline):
                await self._registry.publish(group[0].channel, messages, self.id)
        except EdgeError as error:
            return error.info
        except TimeoutError:
            return PUBLISH_TIMED_OUT
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


@dataclass(frozen=True, slots=True)
class Answered:
    """A resend answered from memory, in its place in the batch."""

    msg_serial: int
    error: ErrorInfo | None


def _groups(
    batch: list[PublishRequest | Answered],
) -> list[list[PublishRequest | Answered]]:
    """Consecutive clean publishes to one channel share one handler call."""
    groups: list[list[PublishRequest | Answered]] = []
    for request in batch:
        previous = groups[-1][-1] if groups else None
        joinable = (
            isinstance(previous, PublishRequest)
            and isinstance(request, PublishRequest)
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
