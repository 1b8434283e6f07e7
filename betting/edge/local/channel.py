"""Channels: bounded history, id de-duplication, deltas computed once, fan-out of frames."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int
from betting.edge.local.auth import now_ms
from betting.edge.local.delta import vcdiff_encode
from betting.edge.local.messages import ChannelMessage, join_encoding, render
from betting.edge.local.protocol import (
    Action,
    EdgeError,
    FrameCache,
    ProtocolMessage,
    WireFormat,
    encoded_frame,
    invalid_parameter,
    invariant,
)
from betting.edge.local.settings import LocalEdgeSettings

log = logging.getLogger(__name__)

ChannelHandler = Callable[[str, Sequence[ChannelMessage]], Awaitable[None]]


class FrameSink(Protocol):
    """Where a subscriber's frames go: written in order, synchronously."""

    def send_frame(self, frame: bytes) -> None: ...


class SubscriptionState(enum.Enum):
    ATTACHED = "attached"
    DETACHED = "detached"
    FAILED = "failed"


SUBSCRIPTION_TRANSITIONS = {
    SubscriptionState.ATTACHED: frozenset({SubscriptionState.DETACHED, SubscriptionState.FAILED}),
    SubscriptionState.DETACHED: frozenset(),
    SubscriptionState.FAILED: frozenset(),
}


class Subscription:
    """One socket attached to one channel."""

    __slots__ = (
        "connection_id",
        "echo",
        "last_serial",
        "params",
        "sink",
        "state",
        "wants_delta",
        "wire_format",
    )

    def __init__(
        self,
        sink: FrameSink,
        wire_format: WireFormat,
        connection_id: str,
        *,
        echo: bool,
        params: dict[str, str],
    ) -> None:
        self.sink = sink
        self.wire_format = wire_format
        self.connection_id = connection_id
        self.echo = echo
        self.params = params
        self.wants_delta = params.get("delta") == "vcdiff"
        # The serial of the last entry sent here; a delta needs the entry just before it.
        self.last_serial = -1
        self.state = SubscriptionState.ATTACHED

    def move_to(self, state: SubscriptionState) -> None:
        invariant(
            state in SUBSCRIPTION_TRANSITIONS[self.state],
            f"subscription cannot go from {self.state.value} to {state.value}",
        )
        self.state = state


EPOCH_MAX_CHARS = 64


@dataclass(frozen=True, slots=True)
class ChannelPosition:
    """A channelSerial a client sent back: the channel's epoch and the last serial seen."""

    epoch: str
    serial: int


def parse_channel_serial(text: str | None) -> ChannelPosition | None:
    """None for no serial; 40003 for one this edge could never have issued."""
    if not text:
        return None
    epoch, separator, serial_text = text.partition(":")
    try:
        if not separator or not 0 < len(epoch) <= EPOCH_MAX_CHARS:
            raise InvalidValue("channelSerial: expected <epoch>:<serial>")
        serial = parse_int(serial_text, "channelSerial", low=-1)
    except InvalidValue as error:
        raise invalid_parameter(f"Invalid channelSerial: {error}") from None
    return ChannelPosition(epoch, serial)


def entry_bytes(messages: Sequence[ChannelMessage]) -> int:
    """What an entry costs to keep, roughly: its messages' text and data, and their ids."""
    return sum(
        message.size or len(message.payload_bytes() or b"") + len(message.name or "")
        for message in messages
    ) + sum(len(message.id) for message in messages)


@dataclass(slots=True)
class HistoryEntry:
    """What one publish added to a channel, with its frames built lazily and shared.
    `received_ms` is the edge's clock, not the publisher's, so rewind by time can trust it."""

    serial: int
    channel_serial: str
    received_ms: int
    connection_id: str | None
    messages: list[ChannelMessage]
    base: ChannelMessage | None
    full: FrameCache
    delta: FrameCache | None = None
    delta_checked: bool = False
    size: int = 0


GROUP_MESSAGES_MAX = 1_000  # messages per handler call, from however many publishes


class _Waiting:
    """A publish waiting for its channel's handler, and how it went."""

    __slots__ = ("connection_id", "done", "error", "messages")

    def __init__(self, messages: Sequence[ChannelMessage], connection_id: str | None) -> None:
        self.messages = messages
        self.connection_id = connection_id
        self.done = asyncio.Event()
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()


def _take_group(channel: Channel) -> list[_Waiting]:
    """The waiting publishes, oldest first, up to `GROUP_MESSAGES_MAX` messages (at least one
    publish, however large)."""
    taken, count = 0, 0
    for waiting in channel.waiting:
        if taken and count + len(waiting.messages) > GROUP_MESSAGES_MAX:
            break
        taken += 1
        count += len(waiting.messages)
    group = channel.waiting[:taken]
    del channel.waiting[:taken]
    return group


class Channel:
    """History is bounded three ways: `history_per_channel` entries, `history_bytes_max`
    bytes, and `history_retention_ms` of age (Ably keeps 2 minutes without persistence)."""

    def __init__(self, name: str, settings: LocalEdgeSettings) -> None:
        self.name = name
        self.epoch = secrets.token_hex(4)
        self.history: deque[HistoryEntry] = deque()
        self.history_bytes = 0
        self._history_max = settings.history_per_channel
        self._history_bytes_max = settings.history_bytes_per_channel
        self._retention_ms = settings.history_retention_ms
        self.subscribers: dict[int, Subscription] = {}
        self.last_serial = -1
        # When the newest entry the bounded history dropped was received: a rewind reaching
        # back past it is missing messages.
        self.evicted_received_ms: int | None = None
        self.waiting: list[_Waiting] = []  # publishes for the handler's next call
        self.runner: asyncio.Task[None] | None = None
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self._seen_ids_max = settings.dedupe_ids_per_channel

    @property
    def channel_serial(self) -> str:
        return f"{self.epoch}:{self.last_serial}"

    def fresh(self, messages: Sequence[ChannelMessage]) -> list[ChannelMessage]:
        """Messages whose client-chosen id was not seen within the de-duplication window."""
        fresh: list[ChannelMessage] = []
        ids_in_batch: set[str] = set()
        for message in messages:
            if message.id in self._seen_ids or message.id in ids_in_batch:
                continue
            ids_in_batch.add(message.id)
            fresh.append(message)
        return fresh

    def commit(self, messages: Sequence[ChannelMessage], connection_id: str | None) -> None:
        """Record, keep in history and fan out, all synchronously so order is the log's."""
        fresh = self.fresh(messages)
        if not fresh:
            return
        for message in fresh:
            self._seen_ids[message.id] = None
        while len(self._seen_ids) > self._seen_ids_max:
            self._seen_ids.popitem(last=False)
        entry = self._append(fresh, connection_id)
        self._fan_out(entry)

    def _append(self, messages: list[ChannelMessage], connection_id: str | None) -> HistoryEntry:
        base = self.history[-1].messages[-1] if self.history else None
        self.last_serial += 1
        serial, channel_serial = self.last_serial, self.channel_serial
        full = FrameCache(
            lambda wire_format: self._message_frame(channel_serial, messages, wire_format)
        )
        entry = HistoryEntry(serial, channel_serial, now_ms(), connection_id, messages, base, full)
        entry.size = entry_bytes(messages)
        self.history.append(entry)
        self.history_bytes += entry.size
        while len(self.history) > 1 and (
            len(self.history) > self._history_max or self.history_bytes > self._history_bytes_max
        ):
            self._evict_oldest()
        return entry

    def _evict_oldest(self) -> None:
        evicted = self.history.popleft()
        self.history_bytes -= evicted.size
        self.evicted_received_ms = evicted.received_ms

    def expire(self, now: int) -> None:
        """Forget entries older than the retention period."""
        oldest_kept_ms = now - self._retention_ms
        while self.history and self.history[0].received_ms < oldest_kept_ms:
            self._evict_oldest()

    @property
    def idle(self) -> bool:
        """Nothing to keep: no subscriber and no history (a handler is the registry's)."""
        return not self.subscribers and not self.history

    def _message_frame(
        self, channel_serial: str, messages: list[ChannelMessage], wire_format: WireFormat
    ) -> ProtocolMessage:
        return self._protocol_message(
            channel_serial, [render(message, wire_format) for message in messages]
        )

    def _protocol_message(
        self, channel_serial: str, wire_messages: list[dict[str, Any]]
    ) -> ProtocolMessage:
        return {
            "action": Action.MESSAGE,
            "channel": self.name,
            "channelSerial": channel_serial,
            "messages": wire_messages,
        }

    def _fan_out(self, entry: HistoryEntry) -> None:
        # Copy: a send may disconnect a slow subscriber, which unsubscribes it.
        for subscription in list(self.subscribers.values()):
            self.deliver(subscription, entry)

    def deliver(self, subscription: Subscription, entry: HistoryEntry, first: int = 0) -> None:
        """Send an entry, or (for a rewind by count) its messages from index `first` on."""
        if not subscription.echo and subscription.connection_id == entry.connection_id:
            return
        wire_format = subscription.wire_format
        if first:
            # Built per rewind, not cached: only the start of a rewind cuts an entry.
            rendered = [render(message, wire_format) for message in entry.messages[first:]]
            frame = encoded_frame(
                self._protocol_message(entry.channel_serial, rendered), wire_format
            )
        else:
            frames = entry.full
            if subscription.wants_delta and subscription.last_serial == entry.serial - 1:
                frames = self._delta_frames(entry) or entry.full
            frame = frames.frame(wire_format)
        subscription.last_serial = entry.serial
        subscription.sink.send_frame(frame)

    def _delta_frames(self, entry: HistoryEntry) -> FrameCache | None:
        """Computed once per entry, on first need, then shared by every delta subscriber."""
        if not entry.delta_checked:
            entry.delta_checked = True
            entry.delta = delta_frame_cache(self, entry)
        return entry.delta

    def subscribe(self, subscription: Subscription) -> None:
        self.subscribers[id(subscription)] = subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.pop(id(subscription), None)

    def entries_after(self, position: ChannelPosition | None) -> list[HistoryEntry] | None:
        """Entries a re-attaching subscriber missed, or None when continuity is lost."""
        if position is None or position.epoch != self.epoch:
            return None
        serial = position.serial
        if serial > self.last_serial:
            return None
        first_kept = self.history[0].serial if self.history else self.last_serial + 1
        if serial + 1 < first_kept:
            return None
        return list(self.history)[serial + 1 - first_kept :]

    def history_page(self, limit: int, *, backwards: bool) -> list[ChannelMessage]:
        messages = [message for entry in self.history for message in entry.messages]
        if backwards:
            messages.reverse()
        return messages[:limit]


def delta_frame_cache(channel: Channel, entry: HistoryEntry) -> FrameCache | None:
    """Each message as a VCDIFF against the one before it; None when nothing would be saved."""
    base = entry.base
    deltas: list[tuple[ChannelMessage, bytes, str, dict[str, Any]]] = []
    for message in entry.messages:
        source = base.payload_bytes() if base is not None else None
        target = message.payload_bytes()
        if base is None or source is None or target is None:
            return None
        delta = vcdiff_encode(source, target)
        if len(delta) >= len(target):
            return None
        step = "utf-8/vcdiff" if isinstance(message.data, str) else "vcdiff"
        extras = {"delta": {"from": base.id, "format": "vcdiff"}}
        deltas.append((message, delta, join_encoding(message.encoding, step), extras))
        base = message

    def build(wire_format: WireFormat) -> ProtocolMessage:
        wire_messages = [
            render(message, wire_format, data=delta, encoding=encoding, extras=extras)
            for message, delta, encoding, extras in deltas
        ]
        return channel._protocol_message(entry.channel_serial, wire_messages)

    return FrameCache(build)


class ChannelRegistry:
    """All channels by name, and the in-process handlers that see client publishes first."""

    def __init__(self, settings: LocalEdgeSettings) -> None:
        self._settings = settings
        self.instance = secrets.token_hex(4)
        self._channels: dict[str, Channel] = {}
        self._handlers: dict[str, ChannelHandler] = {}
        self._runners: set[asyncio.Task[None]] = set()

    def get(self, name: str) -> Channel:
        """The channel, made if need be; callers check the name and capability first."""
        channel = self._channels.get(name)
        if channel is None:
            channel = Channel(name, self._settings)
            self._channels[name] = channel
        return channel

    def peek(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def __len__(self) -> int:
        return len(self._channels)

    def unsubscribe(self, name: str, subscription: Subscription, *, release: bool = True) -> None:
        channel = self._channels.get(name)
        if channel is not None:
            channel.unsubscribe(subscription)
            if release:
                self.release_if_idle(name)

    def release_if_idle(self, name: str) -> None:
        """Forget a channel nobody holds. Its next use starts a new epoch; a client that
        re-attaches with an old serial then attaches afresh, having missed nothing, since a
        channel with anything published within the retention period is kept."""
        channel = self._channels.get(name)
        if channel is not None and channel.idle and name not in self._handlers:
            del self._channels[name]

    def sweep(self, now: int) -> None:
        """Expire old history everywhere and release what is left idle (the edge's timer)."""
        for name, channel in list(self._channels.items()):
            channel.expire(now)
            if channel.idle and name not in self._handlers:
                del self._channels[name]

    def set_handler(self, name: str, handler: ChannelHandler) -> None:
        invariant(name not in self._handlers, f"channel {name!r} already has a handler")
        self._handlers[name] = handler

    async def publish(
        self, name: str, messages: Sequence[ChannelMessage], connection_id: str | None
    ) -> None:
        """Run the channel's handler (if any) before anyone sees or is told of the messages.

        Publishes from many connections that arrive while the handler is busy go to it
        together in its next call (a group commit: one log round trip for all of them rather
        than one each), in arrival order, which is also their history and fan-out order. A
        refusal (a 400-class error) of a group's call is one client's mistake: each publish
        of the group is then handled alone, so it fails only its own. A publisher that stops
        waiting (its deadline passed) leaves its messages in the group: they may still be
        kept, as before."""
        channel = self.get(name)
        handler = self._handlers.get(name)
        if handler is None:
            channel.commit(messages, connection_id)
            self.release_if_idle(name)  # when every message was a repeat
            return
        waiting = _Waiting(messages, connection_id)
        channel.waiting.append(waiting)
        if channel.runner is None or channel.runner.done():
            channel.runner = asyncio.create_task(self._drain(name, channel, handler))
            self._runners.add(channel.runner)
            channel.runner.add_done_callback(self._runners.discard)
        await waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error

    async def _drain(self, name: str, channel: Channel, handler: ChannelHandler) -> None:
        try:
            while channel.waiting:
                await self._handle_group(name, channel, handler, _take_group(channel))
        except asyncio.CancelledError:
            for waiting in channel.waiting:  # the edge is stopping
                waiting.finish(EdgeError(50000, 500, "Edge stopping; message not accepted"))
            channel.waiting.clear()
            raise

    async def _handle_group(
        self, name: str, channel: Channel, handler: ChannelHandler, group: list[_Waiting]
    ) -> None:
        fresh = channel.fresh([message for waiting in group for message in waiting.messages])
        try:
            if fresh:
                await handler(name, fresh)
        except EdgeError as error:
            if len(group) > 1 and 400 <= error.info.status_code < 500:
                for waiting in group:
                    await self._handle_group(name, channel, handler, [waiting])
                return
            for waiting in group:
                waiting.finish(error)
            return
        except asyncio.CancelledError:
            for waiting in group:
                waiting.finish(EdgeError(50000, 500, "Edge stopping; message not accepted"))
            raise
        except Exception as error:
            for waiting in group:
                waiting.finish(error)
            return
        for waiting in group:
            channel.commit(waiting.messages, waiting.connection_id)
            waiting.finish(None)

    async def stop(self) -> None:
        """Cancel the handler runs in flight: their publishers are told it failed."""
        runners = list(self._runners)
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
