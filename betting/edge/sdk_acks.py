"""Exact ACK bookkeeping for ably-python 3.1.4's realtime client.

The SDK can report a publish as ACKed that the server never acknowledged:
- After a new (not resumed) connection it resends its queued publishes under their old
  msgSerials and numbers new publishes from 0 again, against RTN19a2, which gives the
  resends fresh serials on the new connection.
- `PendingMessageQueue.complete_messages` assumes the queue holds contiguous serials in
  order, and completes as many messages from its head as the ACK's serial range ends past
  the head's serial. With serials 55 and 0 both pending, an ACK for 55 completes the new
  publish 0 as well, before the server has processed it.

`make_acks_exact` fixes these on one client: resends on a new connection are renumbered from
0 in the order they go out, and an ACK or NACK completes exactly the publishes whose serials
it names. It also sends each queued publish once: the SDK queues a publish made while
disconnected a second time at every failed reconnect attempt. Drop it once the SDK does all
three.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ably import AblyRealtime
from ably.realtime.connectionmanager import ConnectionManager, PendingMessageQueue
from ably.types.operations import PublishResult
from ably.util.exceptions import AblyException


class SerialExactQueue(PendingMessageQueue):  # type: ignore[misc]  # the SDK is untyped
    """Completes the pending publishes an ACK or NACK names by serial, wherever they are."""

    messages: list[Any]

    def complete_messages(
        self,
        serial: int,
        count: int,
        res: list[PublishResult] | None,
        err: AblyException | None = None,
    ) -> None:
        named = range(serial, serial + count)
        answered = sorted(
            (m for m in self.messages if m.message.get("msgSerial") in named),
            key=lambda m: m.message["msgSerial"],
        )
        self.messages = [m for m in self.messages if m.message.get("msgSerial") not in named]
        results = res or []
        for pending in answered:
            future = pending.future
            if future is None or future.done():
                continue
            if err is not None:
                future.set_exception(err)
            else:
                index = pending.message["msgSerial"] - serial
                future.set_result(results[index] if index < len(results) else PublishResult())


def make_acks_exact(realtime: AblyRealtime) -> AblyRealtime:
    manager: ConnectionManager = realtime.connection.connection_manager
    if type(manager.pending_message_queue) is not PendingMessageQueue or manager.msg_serial:
        raise RuntimeError("make_acks_exact: the SDK's ACK queue is not the one this fixes")
    manager.pending_message_queue = SerialExactQueue()
    resumed_or_new = manager.on_connected

    def on_connected(details: Any, connection_id: str, reason: Any = None) -> None:
        previous = manager.connection_id
        outgoing = _each_once(manager)
        if previous is not None and previous != connection_id:
            serial = _renumber(outgoing)
            resumed_or_new(details, connection_id, reason)
            manager.msg_serial = serial  # the SDK reset it to 0; the resends hold 0..n-1
        else:
            resumed_or_new(details, connection_id, reason)

    manager.on_connected = on_connected
    return realtime


def _each_once(manager: ConnectionManager) -> list[Any]:
    """The publishes waiting to go out, in the order they will be sent (the SDK pops
    `queued_messages` from the right), each once. A publish made while disconnected is
    queued, and queued again by the requeue of every later failed reconnect attempt."""
    seen: set[int] = set()
    outgoing = []
    for pending in reversed(manager.queued_messages):
        if id(pending) not in seen:
            seen.add(id(pending))
            outgoing.append(pending)
    manager.queued_messages = deque(reversed(outgoing))
    return outgoing


def _renumber(outgoing: list[Any]) -> int:
    serial = 0
    for pending in outgoing:
        if pending.ack_required:
            pending.message["msgSerial"] = serial
            serial += 1
    return serial
