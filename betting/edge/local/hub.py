"""The edge's shared state: keys, channels, connections, and the timers that keep them."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from betting.edge.local.auth import Authority, Credentials, now_ms
from betting.edge.local.channel import ChannelRegistry
from betting.edge.local.connection import Connection, ConnectionState, ProtocolSink
from betting.edge.local.protocol import Action, ClientErrors, ErrorInfo, WireFormat, encoded_frame
from betting.edge.local.push import PushRegistry
from betting.edge.local.settings import LocalEdgeSettings

log = logging.getLogger(__name__)

# A failed resume gets a new connection with one of these in its CONNECTED (RTN15c7): 80008
# when the connection is gone, 80018 when the key is not valid for the credentials presented.
# A key works only with credentials of the same key and clientId it was issued to.
RESUME_EXPIRED = ErrorInfo(80008, 400, "Unable to recover connection (connection expired)")
RESUME_KEY_INVALID = ErrorInfo(80018, 400, "Invalid connection key")
CONNECTION_KEY_MAX = 256

HEARTBEAT_FRAMES = {
    wire_format: encoded_frame({"action": Action.HEARTBEAT}, wire_format)
    for wire_format in WireFormat
}


class HeartbeatTarget(Protocol):
    """What the heartbeat timer needs from an open realtime socket."""

    @property
    def wire_format(self) -> WireFormat: ...

    def send_frame(self, frame: bytes) -> None: ...


class Hub:
    def __init__(self, settings: LocalEdgeSettings) -> None:
        self.settings = settings
        self.authority = Authority(settings)
        self.channels = ChannelRegistry(settings)
        self.push = PushRegistry()
        self.client_errors = ClientErrors()
        self.connections: dict[str, Connection] = {}
        # Disconnected connections, oldest first, for expiry and for the bound on their number.
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self.sockets: set[HeartbeatTarget] = set()
        self._timer: asyncio.Task[None] | None = None

    def open_connection(self, credentials: Credentials) -> Connection:
        connection = Connection(credentials, self.channels, self.settings)
        self.connections[connection.id] = connection
        return connection

    def resumable(self, connection_key: str, credentials: Credentials) -> Connection | ErrorInfo:
        """The connection `connection_key` names, if these credentials may take it over."""
        connection_id, separator, secret = connection_key.partition("!")
        well_formed = len(connection_key) <= CONNECTION_KEY_MAX and connection_key.isascii()
        if not (well_formed and separator and connection_id and secret):
            return RESUME_KEY_INVALID
        connection = self.connections.get(connection_id)
        if connection is None or connection.state not in (
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
        ):
            return RESUME_EXPIRED
        same_key = hmac.compare_digest(connection.key.encode(), connection_key.encode())
        held = connection.credentials
        if not (
            same_key
            and held.key_name == credentials.key_name
            and held.client_id == credentials.client_id
        ):
            return RESUME_KEY_INVALID
        return connection

    def resume(
        self, connection: Connection, sink: ProtocolSink, on_takeover: Callable[[], None]
    ) -> None:
        """Resume, first parting a still-open older socket from the connection."""
        if connection.state is ConnectionState.CONNECTED:
            on_takeover()
        self._waiting.pop(connection.id, None)
        connection.resume(sink)

    def connection_dropped(self, connection: Connection) -> None:
        if connection.state is not ConnectionState.CONNECTED:
            return
        connection.move_to(ConnectionState.DISCONNECTED)
        self._waiting[connection.id] = None
        while len(self._waiting) > self.settings.disconnected_connections_max:
            oldest, _ = self._waiting.popitem(last=False)
            self._forget(oldest)

    def connection_ended(self, connection: Connection, state: ConnectionState) -> None:
        if connection.state is ConnectionState.CONNECTED:
            connection.move_to(state)
        self.connections.pop(connection.id, None)

    def _forget(self, connection_id: str) -> None:
        connection = self.connections.pop(connection_id, None)
        if connection is not None and connection.state is ConnectionState.DISCONNECTED:
            connection.move_to(ConnectionState.CLOSED)

    def expire_connections(self, now: float) -> None:
        ttl_s = self.settings.connection_state_ttl_ms / 1000
        while self._waiting:
            connection_id = next(iter(self._waiting))
            connection = self.connections.get(connection_id)
            if connection is not None and now - connection.disconnected_at < ttl_s:
                return
            self._waiting.popitem(last=False)
            self._forget(connection_id)

    def send_heartbeats(self) -> None:
        for socket in list(self.sockets):
            socket.send_frame(HEARTBEAT_FRAMES[socket.wire_format])

    def start(self) -> None:
        self._timer = asyncio.create_task(self._tick(), name="edge-heartbeat")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.channels.stop()

    async def _tick(self) -> None:
        """Unsolicited heartbeats: the Python SDK counts only protocol messages as activity."""
        interval_s = self.settings.heartbeat_interval_ms / 1000
        while True:
            await asyncio.sleep(interval_s)
            self.send_heartbeats()
            self.expire_connections(time.monotonic())
            self.channels.sweep(now_ms())
