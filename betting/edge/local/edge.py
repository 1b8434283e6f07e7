"""LocalEdge: the Ably-compatible edge served in-process, and the edge port's local adapter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import orjson

from betting.edge.local.auth import now_ms
from betting.edge.local.hub import Hub
from betting.edge.local.messages import ChannelMessage, decoded_data
from betting.edge.local.protocol import EdgeError, invariant
from betting.edge.local.realtime import RealtimeSocket
from betting.edge.local.server import EdgeServer
from betting.edge.local.settings import LocalEdgeSettings
from betting.edge.port import (
    InboundMessage,
    MessageData,
    MessageHandler,
    OutboundMessage,
    PublishRefused,
    PublishUnavailable,
    PushNotice,
)

log = logging.getLogger(__name__)


class LocalEdge:
    """`hold_clients`: bind the port at `start` but let clients in only at `admit_clients`,
    so that `serve` can first rebuild channel history from the log (see the edge port)."""

    def __init__(
        self, settings: LocalEdgeSettings | None = None, *, hold_clients: bool = False
    ) -> None:
        self.settings = settings or LocalEdgeSettings()
        self.hub = Hub(self.settings)
        self._server = EdgeServer(self.hub)
        self._hold_clients = hold_clients
        self._started = False
        self._published = 0

    @property
    def port(self) -> int:
        """The bound port: useful when settings asked for port 0."""
        return self._server.port

    async def start(self) -> None:
        invariant(not self._started, "LocalEdge started twice")
        await self._server.start(admit=not self._hold_clients)
        self._started = True

    async def admit_clients(self) -> None:
        await self._server.admit()

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._server.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, channel: str, messages: Sequence[OutboundMessage]) -> None:
        timestamp = now_ms()
        channel_messages = [self._channel_message(message, timestamp) for message in messages]
        await self.hub.channels.publish(channel, channel_messages, None)

    async def push_to_user(self, user_id: str, notice: PushNotice) -> None:
        """As Ably would: to the devices registered for the user (kept, not sent: see push)."""
        self.hub.push.publish({"recipient": {"clientId": user_id}, **notice.as_push()})

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        async def on_publish(_channel: str, messages: Sequence[ChannelMessage]) -> None:
            try:
                await handler([inbound_message(message) for message in messages])
            except PublishRefused as refused:
                raise EdgeError(refused.code, 400, str(refused)) from None
            except PublishUnavailable as unavailable:
                raise EdgeError(unavailable.code, 500, str(unavailable)) from None

        self.hub.channels.set_handler(channel, on_publish)

    def drop_connection(self, connection_id: str) -> int:
        """Abort a connection's socket as a network failure would, keeping the connection
        resumable. For tests and fault injection; answers how many sockets were dropped."""
        dropped = 0
        for socket in list(self.hub.sockets):
            connection = socket.connection if isinstance(socket, RealtimeSocket) else None
            if isinstance(socket, RealtimeSocket) and connection and connection.id == connection_id:
                socket.abort_transport()
                dropped += 1
        return dropped

    def _channel_message(self, message: OutboundMessage, timestamp: int) -> ChannelMessage:
        self._published += 1
        data, encoding = outbound_data(message.data)
        return ChannelMessage(
            id=message.id or f"edge-{self.hub.channels.instance}:{self._published}",
            name=message.name,
            data=data,
            encoding=encoding,
            client_id=None,
            connection_id=None,
            timestamp=timestamp,
            extras=dict(message.extras) if message.extras else None,
        )


def outbound_data(data: MessageData) -> tuple[str | bytes | None, str]:
    if data is None or isinstance(data, str | bytes):
        return data, ""
    return orjson.dumps(data).decode(), "json"


def inbound_message(message: ChannelMessage) -> InboundMessage:
    data, encoding = decoded_data(message)
    return InboundMessage(
        id=message.id,
        name=message.name,
        data=data,
        client_id=message.client_id,
        connection_id=message.connection_id,
        timestamp_ms=message.timestamp,
        encoding=encoding,
        extras=message.extras,
    )
