"""One asyncio.Protocol per TCP connection: REST over HTTP/1.1, or an Ably websocket.

The websocket side uses the `websockets` library's sans-I/O protocol for the handshake and
for reading frames, and writes the edge's pre-encoded frames straight to the transport.

Nothing is held for ever: a request (the websocket upgrade too) must arrive whole within
`http_request_timeout_ms`, an idle keep-alive connection is closed after it, a client that
pipelines requests is paused while one is answered, and a websocket is pinged every
heartbeat interval and dropped (as a network failure: the connection stays resumable) once
nothing at all, not even a pong, has come from it for `max_idle_interval_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.exceptions import InvalidState
from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from websockets.http11 import Request
from websockets.server import ServerProtocol

from betting.edge.local import rest
from betting.edge.local.http import (
    HEAD_MAX_BYTES,
    HttpError,
    HttpRequest,
    body_length,
    parse_head,
    response_bytes,
    split_head,
)
from betting.edge.local.hub import Hub
from betting.edge.local.protocol import ErrorInfo, WireFormat
from betting.edge.local.realtime import RealtimeSocket

log = logging.getLogger(__name__)


CLOSE_LINGER_MS = 2_000  # how long a closed websocket waits for the client's TCP close


class Phase(enum.Enum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    CLOSED = "closed"


class EdgeProtocol(asyncio.Protocol):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._transport: asyncio.Transport | None = None
        self._phase = Phase.HTTP
        self._buffer = bytearray()
        self._pending: HttpRequest | None = None
        self._busy = False
        self._websocket: ServerProtocol | None = None
        self._socket: RealtimeSocket | None = None
        self._fragments: list[bytes] = []
        self._held: list[object] = []  # frames read while the publish queue was full
        self._answering: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._heard_at = 0.0
        self._paused = False
        self._lingering = False  # a close frame was sent: the TCP close is due

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._await_request()

    def data_received(self, data: bytes) -> None:
        if self._phase is Phase.WEBSOCKET:
            self._heard_at = asyncio.get_running_loop().time()
            self._websocket_data(data)
        elif self._phase is Phase.HTTP:
            self._buffer += data
            if self._busy and len(self._buffer) > self._buffer_max() and self._transport:
                self._transport.pause_reading()
                self._paused = True
            self._http_data()

    def eof_received(self) -> bool | None:
        if self._websocket is not None:
            self._websocket.receive_eof()
            self._flush_websocket()
        if self._lingering and self._transport is not None:
            self._transport.close()  # the client is done too
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = Phase.CLOSED
        self._set_timer(None, None)
        if self._socket is not None:
            self._socket.lost()

    # Timers

    def _set_timer(self, delay_ms: int | None, callback: Callable[[], None] | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delay_ms is not None and callback is not None and self._phase is not Phase.CLOSED:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay_ms / 1000, callback)

    def _await_request(self) -> None:
        self._set_timer(self._hub.settings.http_request_timeout_ms, self._request_timed_out)

    def _request_timed_out(self) -> None:
        self._timer = None
        if self._phase is not Phase.HTTP or self._busy:
            return
        if self._buffer or self._pending is not None:
            self._http_error(HttpError(408, "Request not received in time"))
        elif self._transport is not None:
            self._transport.close()  # an idle keep-alive connection
            self._phase = Phase.CLOSED

    def _check_liveness(self) -> None:
        """Ping; drop a websocket that has been silent too long, as a network failure."""
        self._timer = None
        websocket, settings = self._websocket, self._hub.settings
        if self._phase is not Phase.WEBSOCKET or websocket is None or self._lingering:
            return
        silent_s = asyncio.get_running_loop().time() - self._heard_at
        if silent_s * 1000 > settings.max_idle_interval_ms:
            self.abort()
            return
        with contextlib.suppress(InvalidState):
            websocket.send_ping(b"")
        self._flush_websocket()
        self._set_timer(settings.heartbeat_interval_ms, self._check_liveness)

    def _buffer_max(self) -> int:
        return HEAD_MAX_BYTES + self._hub.settings.max_http_body_size

    # WebSocketWriter, used by RealtimeSocket

    def write(self, frame: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)

    def buffered_bytes(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport else 0

    def close(self, code: int, reason: str) -> None:
        if self._websocket is None or self._transport is None:
            return
        with contextlib.suppress(InvalidState):
            self._websocket.send_close(code, reason)
        self._flush_websocket()  # the TCP close follows the client's, or the linger

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # HTTP

    def _http_data(self) -> None:
        """Parse requests one at a time; the next waits until the previous one is answered."""
        try:
            while not self._busy and self._phase is Phase.HTTP:
                if self._pending is None:
                    head = split_head(self._buffer)
                    if head is None:
                        return
                    self._pending = parse_head(head)
                    if self._pending.wants_websocket:
                        self._upgrade(self._pending)
                        return
                request = self._pending
                length = body_length(request, self._hub.settings.max_http_body_size)
                if len(self._buffer) < length:
                    return
                request.body = bytes(self._buffer[:length])
                del self._buffer[:length]
                self._pending = None
                self._busy = True
                self._set_timer(None, None)
                self._answering = asyncio.create_task(self._answer(request))
        except HttpError as error:
            self._http_error(error)

    def _http_error(self, error: HttpError) -> None:
        """The request cannot be read: answer why, in Ably's error shape, and close."""
        info = ErrorInfo(error.code, error.status, str(error))
        self._hub.client_errors.count(info.code)
        body = orjson.dumps({"error": info.as_wire()})
        self.write(response_bytes(error.status, rest.JSON_TYPE, body, keep_alive=False))
        if self._transport is not None:
            self._transport.close()
        self._phase = Phase.CLOSED
        self._set_timer(None, None)

    async def _answer(self, request: HttpRequest) -> None:
        status, content_type, body = await rest.handle(self._hub, request)
        self.write(response_bytes(status, content_type, body, keep_alive=request.keep_alive))
        self._busy = False
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        if not request.keep_alive and self._transport is not None:
            self._transport.close()
            return
        self._await_request()
        if self._phase is Phase.HTTP and self._buffer:
            self._http_data()

    # WebSocket

    def _upgrade(self, request: HttpRequest) -> None:
        websocket = ServerProtocol(max_size=self._hub.settings.max_frame_size)
        websocket.receive_data(request.head + bytes(self._buffer))
        events = websocket.events_received()
        handshake = events[0] if events and isinstance(events[0], Request) else None
        if handshake is None:
            raise HttpError(400, "Malformed websocket upgrade request")
        response = websocket.accept(handshake)
        if response.status_code != 101:
            raise HttpError(400, f"Websocket upgrade refused: {response.reason_phrase}")
        self._buffer.clear()
        self._websocket = websocket
        self._phase = Phase.WEBSOCKET
        websocket.send_response(response)
        self._flush_websocket()
        self._heard_at = asyncio.get_running_loop().time()
        self._set_timer(self._hub.settings.heartbeat_interval_ms, self._check_liveness)
        query = dict(parse_qsl(urlsplit(handshake.path).query, keep_blank_values=True))
        wire_format = WireFormat.MSGPACK if query.get("format") == "msgpack" else WireFormat.JSON
        self._socket = RealtimeSocket(self._hub, self, wire_format)
        self._socket.start(query)
        self._handle_frames(events[1:])

    def _websocket_data(self, data: bytes) -> None:
        websocket = self._websocket
        if websocket is None:
            return
        websocket.receive_data(data)
        if self._held:  # read before the pause took effect: keep the order
            self._held.extend(websocket.events_received())
        else:
            self._handle_frames(websocket.events_received())
        self._flush_websocket()

    def _handle_frames(self, events: Sequence[object]) -> None:
        """A full publish queue pauses reading, holding the frames already read (one read's
        worth at most), until the connection has room: a publish read is never dropped."""
        for index, event in enumerate(events):
            if self._socket is not None and self._socket.wait_for_room(self._release_held):
                self._held = list(events[index:])
                if self._transport is not None:
                    self._transport.pause_reading()
                return
            if not isinstance(event, Frame) or self._socket is None:
                continue
            if event.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                self._fragments.append(bytes(event.data))
                if event.fin:
                    payload = b"".join(self._fragments)
                    self._fragments.clear()
                    self._socket.receive(payload)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        self._handle_frames(held)
        transport = self._transport
        if not self._held and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _flush_websocket(self) -> None:
        """Control frames (pongs, closes) and the handshake that the sans-I/O protocol wrote."""
        websocket = self._websocket
        if websocket is None or self._transport is None:
            return
        for chunk in websocket.data_to_send():
            if chunk:
                self.write(chunk)
            elif self._transport.can_write_eof():
                self._transport.write_eof()  # half-closed: what the client still sends is read
            else:
                self._transport.close()
        if websocket.close_expected() and not self._lingering and not self._transport.is_closing():
            self._lingering = True
            # Not at once: a connection closed with the client's data unread is reset, and a
            # reset discards the ERROR and close frames the client has not read yet. The
            # client closes once it reads them; the linger bounds one that does not.
            self._set_timer(CLOSE_LINGER_MS, self._close_transport)

    def _close_transport(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class EdgeServer:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._hub.settings.port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, *, admit: bool = True) -> None:
        """Bind the port; with `admit` False, clients are let in only by `admit()`."""
        loop = asyncio.get_running_loop()
        settings = self._hub.settings
        self._server = await loop.create_server(
            lambda: EdgeProtocol(self._hub),
            settings.host,
            settings.port,
            backlog=4096,
            start_serving=admit,
        )
        self._hub.start()
        log.info(
            "local edge listening" if admit else "local edge bound; clients held back",
            extra={"host": settings.host, "port": self.port},
        )

    async def admit(self) -> None:
        if self._server is not None and not self._server.is_serving():
            await self._server.start_serving()
            log.info("local edge admitting clients", extra={"port": self.port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for socket in list(self._hub.sockets):
                if isinstance(socket, RealtimeSocket):
                    socket.close_transport()
            await self._server.wait_closed()
        await self._hub.stop()
