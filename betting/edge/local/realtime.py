"""One realtime websocket: connect, attach, publish, heartbeat, close, in Ably's protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from betting.edge.local.auth import Credentials, now_ms, permits
from betting.edge.local.channel import (
    Channel,
    ChannelPosition,
    Subscription,
    SubscriptionState,
    parse_channel_serial,
)
from betting.edge.local.connection import (
    Connection,
    ConnectionState,
    PublishRequest,
    fingerprint,
)
from betting.edge.local.hub import Hub
from betting.edge.local.messages import ChannelMessage, json_text, optional_string, read_data
from betting.edge.local.names import channel_name
from betting.edge.local.protocol import (
    Action,
    EdgeError,
    ErrorInfo,
    Flag,
    ProtocolMessage,
    WireFormat,
    bad_request,
    decode,
    encoded_frame,
    invalid_data,
    invalid_parameter,
    permission_denied,
)
from betting.edge.local.rewind import (
    BACKLOG_TRUNCATED,
    Backlog,
    Rewind,
    parse_rewind,
    rewind_backlog,
)

log = logging.getLogger(__name__)

MODE_FLAGS = {"publish": Flag.PUBLISH, "subscribe": Flag.SUBSCRIBE}
PARAMS_MAX = 16
PARAM_MAX_CHARS = 256
MESSAGE_ID_MAX_CHARS = 256
CONNECTIONS_EXCEEDED = 40111  # Ably: account restricted (connection limits exceeded)
TIMESTAMP_MAX_MS = 2**53  # what a JavaScript client can hold exactly


class WebSocketWriter(Protocol):
    def write(self, frame: bytes) -> None: ...

    def buffered_bytes(self) -> int: ...

    def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None: ...


class RealtimeSocket:
    """Everything written to the client goes through `send_frame`, synchronously, so the
    transport's buffer is the socket's one ordered outbound queue; past its bound the client
    is too slow and is dropped (it may resume and be replayed from history)."""

    def __init__(self, hub: Hub, writer: WebSocketWriter, wire_format: WireFormat) -> None:
        self._hub = hub
        self._writer = writer
        self._wire_format = wire_format
        self._settings = hub.settings
        self.connection: Connection | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.open = True
        self.echo = True
        self._token_timers: list[asyncio.TimerHandle] = []

    @property
    def wire_format(self) -> WireFormat:
        return self._wire_format

    # Outbound

    def send(self, message: ProtocolMessage) -> None:
        if "error" in message:
            self._hub.client_errors.count_message(message)
        self.send_frame(encoded_frame(message, self._wire_format))

    def send_frame(self, frame: bytes) -> None:
        if not self.open:
            return
        self._writer.write(frame)
        if self._writer.buffered_bytes() > self._settings.outbound_queue_max_bytes:
            log.warning("edge dropped a slow subscriber", extra=self._log_context())
            self._part(ConnectionState.DISCONNECTED)
            self._writer.abort()

    # Lifecycle

    def start(self, query: Mapping[str, str]) -> None:
        try:
            if len(self._hub.sockets) >= self._settings.connections_max:
                raise EdgeError(CONNECTIONS_EXCEEDED, 401, "Connection limit exceeded")
            credentials = self._credentials(query)
        except EdgeError as refused:
            self.send({"action": Action.ERROR, "error": refused.info.as_wire()})
            self.open = False
            self._writer.close(1000, "")
            return
        self.echo = query.get("echo", "true") != "false"
        connection, error = self._resume_or_open(query, credentials)
        connection.sink = self
        self.connection = connection
        self._hub.sockets.add(self)
        self._send_connected(error)
        self._watch_token()

    def _resume_or_open(
        self, query: Mapping[str, str], credentials: Credentials
    ) -> tuple[Connection, ErrorInfo | None]:
        """Resume the connection the key names, only for the key and clientId it was issued
        to; anyone else gets a connection of their own and the reason (RTN15c7)."""
        resume_key = query.get("resume") or query.get("recover")
        found = self._hub.resumable(resume_key, credentials) if resume_key else None
        if not isinstance(found, Connection):
            return self._hub.open_connection(credentials), found
        self._hub.resume(found, self, lambda: _part_previous_socket(found))
        found.credentials = credentials  # the new token's expiry and capability
        return found, None

    def lost(self) -> None:
        """The transport is gone: keep the connection for a resume."""
        self._part(ConnectionState.DISCONNECTED)

    def _part(self, state: ConnectionState) -> None:
        if not self.open:
            return
        self.open = False
        self._stop_token_timers()
        self._hub.sockets.discard(self)
        for name in list(self.subscriptions):
            self._drop_subscription(name)
        connection = self.connection
        if connection is None or connection.sink is not self:
            return
        if state is ConnectionState.DISCONNECTED:
            self._hub.connection_dropped(connection)
        else:
            self._hub.connection_ended(connection, state)

    def wait_for_room(self, callback: Callable[[], None]) -> bool:
        """True, and `callback` later, when the connection's publish queue is full: the
        caller reads no further frames until then."""
        connection = self.connection
        if connection is None or not self.open or not connection.full:
            return False
        connection.when_room(callback)
        return True

    def abort_transport(self) -> None:
        self._writer.abort()

    def close_transport(self) -> None:
        self._writer.close(1000, "")

    def fail(self, error: ErrorInfo) -> None:
        """A protocol error: this connection fails, the edge and other connections carry on."""
        log.debug("edge failed a connection", extra={**self._log_context(), "code": error.code})
        self.send({"action": Action.ERROR, "error": error.as_wire()})
        self._part(ConnectionState.FAILED)
        self._writer.close(1000, "")

    # Token lifetime (RTN22): ask for a new token before this one expires; cut at expiry.

    def _watch_token(self) -> None:
        self._stop_token_timers()
        expires_ms = self.connection.credentials.expires_ms if self.connection else None
        if expires_ms is None or not self.open:
            return
        left_s = max(0.0, (expires_ms - now_ms()) / 1000)
        lead_s = min(self._settings.token_renew_lead_ms / 1000, left_s / 2)
        loop = asyncio.get_running_loop()
        self._token_timers = [
            loop.call_later(left_s - lead_s, self._ask_for_renewal),
            loop.call_later(left_s, self._token_expired),
        ]

    def _stop_token_timers(self) -> None:
        for timer in self._token_timers:
            timer.cancel()
        self._token_timers = []

    def _ask_for_renewal(self) -> None:
        """The SDKs answer AUTH by fetching a token (authCallback, authUrl) and sending it."""
        self.send({"action": Action.AUTH})

    def _token_expired(self) -> None:
        """As Ably does: DISCONNECTED with a token error, so the SDK renews and resumes."""
        error = ErrorInfo(40142, 401, "Key/token status changed (expire)")
        self.send({"action": Action.DISCONNECTED, "error": error.as_wire()})
        self._part(ConnectionState.DISCONNECTED)
        self._writer.close(1000, "")

    def _credentials(self, query: Mapping[str, str]) -> Credentials:
        client_id = query.get("clientId") or None
        token = query.get("accessToken") or query.get("access_token")
        key = query.get("key")
        if token:
            credentials = self._hub.authority.from_token(token)
        elif key:
            credentials = self._hub.authority.from_key(key, client_id)
        else:
            raise EdgeError(40101, 401, "No key or token given")
        if not credentials.may_connect_as(client_id):
            raise EdgeError(40102, 401, "clientId does not match the token's clientId")
        return credentials

    def _send_connected(self, error: ErrorInfo | None) -> None:
        connection = self.connection
        if connection is None:
            return
        settings = self._settings
        message: ProtocolMessage = {
            "action": Action.CONNECTED,
            "connectionId": connection.id,
            "connectionDetails": {
                "connectionKey": connection.key,
                "clientId": connection.client_id,
                "connectionStateTtl": settings.connection_state_ttl_ms,
                "maxIdleInterval": settings.max_idle_interval_ms,
                "maxMessageSize": settings.max_message_size,
                "maxFrameSize": settings.max_frame_size,
                "serverId": "local-edge",
            },
        }
        if error is not None:
            message["error"] = error.as_wire()
        self.send(message)

    def _log_context(self) -> dict[str, Any]:
        return {"connection_id": self.connection.id if self.connection else None}

    # Inbound

    def receive(self, payload: bytes) -> None:
        """One complete websocket message. Bad input fails the connection, never the edge."""
        if not self.open or self.connection is None:
            return
        try:
            message = decode(payload, self._wire_format)
            if not isinstance(message, dict):
                raise bad_request("A protocol message must be an object")
            self._dispatch(message)
        except EdgeError as error:
            self.fail(error.info)

    def _dispatch(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        if action == Action.HEARTBEAT:
            reply: ProtocolMessage = {"action": Action.HEARTBEAT}
            if isinstance(message.get("id"), str):
                reply["id"] = message["id"]
            self.send(reply)
        elif action == Action.MESSAGE:
            self._on_publish(message)
        elif action == Action.ATTACH:
            self._on_attach(message)
        elif action == Action.DETACH:
            self._on_detach(message)
        elif action == Action.CLOSE:
            self.send({"action": Action.CLOSED})
            self._part(ConnectionState.CLOSED)
            self._writer.close(1000, "")
        elif action == Action.AUTH:
            self._on_auth(message)
        else:
            raise bad_request(f"Unexpected protocol message action {action!r}")

    def _on_auth(self, message: dict[str, Any]) -> None:
        auth = message.get("auth")
        token = auth.get("accessToken") if isinstance(auth, dict) else None
        connection = self.connection
        if not isinstance(token, str) or connection is None:
            raise bad_request("AUTH needs auth.accessToken")
        credentials = self._hub.authority.from_token(token)
        if credentials.client_id != connection.client_id:
            raise EdgeError(40102, 401, "A new token may not change the clientId")
        if credentials.key_name != connection.credentials.key_name:
            raise EdgeError(40102, 401, "A new token must come from the same key")
        previous, connection.credentials = connection.credentials, credentials
        self._send_connected(None)
        self._fail_channels_no_longer_permitted(previous, credentials)
        self._watch_token()

    def _fail_channels_no_longer_permitted(self, previous: Credentials, now: Credentials) -> None:
        """A token with less capability fails the channels it no longer covers (RTC8a1)."""
        for name in list(self.subscriptions):
            lost = [
                mode
                for mode in MODE_FLAGS
                if permits(previous.capability, name, mode)
                and not permits(now.capability, name, mode)
            ]
            if lost:
                self._fail_channel(name, permission_denied(lost[0], name))

    # Channels

    def _channel_name(self, message: dict[str, Any]) -> str:
        """The channel a message names. Not a string at all is a malformed protocol message
        (the connection fails); a string that is no channel name fails only that channel."""
        name = message.get("channel")
        if not isinstance(name, str) or not name:
            raise bad_request("Protocol message needs a channel name")
        return name

    def _fail_channel(self, name: str, error: EdgeError) -> None:
        subscription = self.subscriptions.pop(name, None)
        if subscription is not None:
            self._hub.channels.unsubscribe(name, subscription)
            subscription.move_to(SubscriptionState.FAILED)
        self.send({"action": Action.ERROR, "channel": name, "error": error.info.as_wire()})

    def _on_attach(self, message: dict[str, Any]) -> None:
        name = self._channel_name(message)
        try:
            self._attach(name, message)
        except EdgeError as refused:
            self._fail_channel(name, refused)

    def _attach(self, name: str, message: dict[str, Any]) -> None:
        connection = self.connection
        if connection is None:
            return
        channel_name(name, self._settings.channel_name_max_chars)
        capability = connection.credentials.capability
        modes = [mode for mode in MODE_FLAGS if permits(capability, name, mode)]
        if not modes:
            raise permission_denied("subscribe", name)
        limit = self._settings.channels_per_connection_max
        if name not in self.subscriptions and len(self.subscriptions) >= limit:
            raise EdgeError(90010, 400, f"At most {limit} channels per connection")
        channels = self._hub.channels
        if channels.peek(name) is None and len(channels) >= self._settings.channels_max:
            raise EdgeError(40114, 400, "Channel limit reached; no new channel can be attached")
        params = _string_params(message.get("params"))
        rewind = parse_rewind(params, self._settings, now_ms())
        serial = message.get("channelSerial")
        if serial is not None and not isinstance(serial, str):
            raise invalid_parameter("channelSerial must be a string")
        position = parse_channel_serial(serial)
        # Everything the client sent is read: only now may the channel exist.
        channel = self._hub.channels.get(name)
        self._drop_subscription(name, release=False)
        backlog = self._backlog(channel, message.get("flags"), rewind, position)
        subscription = Subscription(
            self, self._wire_format, connection.id, echo=self.echo, params=params
        )
        self.send(_attached(channel, params, modes, backlog))
        self.subscriptions[name] = subscription
        if "subscribe" in modes:
            self._replay_then_subscribe(channel, subscription, backlog)
        else:
            self._hub.channels.release_if_idle(name)

    def _backlog(
        self,
        channel: Channel,
        flags: Any,
        rewind: Rewind | None,
        position: ChannelPosition | None,
    ) -> Backlog:
        """A resume replays what its serial missed. A serial this edge cannot continue from
        (written before it restarted, or older than its history) gets the rewind the client
        attached with, if any: the history rebuilt from the log is all the continuity left,
        and the client may hear again, under the same ids, messages it had. Otherwise only a
        fresh attach rewinds, as with Ably (the SDKs set ATTACH_RESUME on every re-attach
        after the first, so as not to rewind twice). A bad rewind is refused before this."""
        missed = channel.entries_after(position)
        if missed is not None:
            return Backlog(parts=[(entry, 0) for entry in missed], resumed=True)
        resume_flag = type(flags) is int and bool(flags & Flag.ATTACH_RESUME)
        if rewind is None or (resume_flag and position is None):
            return Backlog()
        return rewind_backlog(channel, rewind)

    def _replay_then_subscribe(
        self, channel: Channel, subscription: Subscription, backlog: Backlog
    ) -> None:
        """Synchronous, so nothing published meanwhile can slip between replay and live."""
        for entry, first in backlog.parts:
            channel.deliver(subscription, entry, first)
        if self.open:
            channel.subscribe(subscription)

    def _drop_subscription(self, name: str, *, release: bool = True) -> None:
        previous = self.subscriptions.pop(name, None)
        if previous is not None:
            self._hub.channels.unsubscribe(name, previous, release=release)
            previous.move_to(SubscriptionState.DETACHED)

    def _on_detach(self, message: dict[str, Any]) -> None:
        """Never creates a channel: detaching from one never attached is a no-op."""
        name = self._channel_name(message)
        try:
            channel_name(name, self._settings.channel_name_max_chars)
        except EdgeError as refused:
            self._fail_channel(name, refused)
            return
        self._drop_subscription(name)
        self.send({"action": Action.DETACHED, "channel": name})

    # Publishing

    def _on_publish(self, message: dict[str, Any]) -> None:
        name = self._channel_name(message)
        msg_serial = message.get("msgSerial")
        raw_messages = message.get("messages")
        connection = self.connection
        if not isinstance(msg_serial, int) or isinstance(msg_serial, bool) or msg_serial < 0:
            raise bad_request("MESSAGE needs a non-negative integer msgSerial")
        if not isinstance(raw_messages, list) or connection is None:
            raise bad_request("MESSAGE needs a list of messages")
        request = self._publish_request(connection, name, msg_serial, raw_messages)
        if not connection.enqueue(request):
            # Not reached while the socket waits for room before each frame; should it be,
            # nothing of this publish is kept or remembered, so its resend is processed.
            self.send(
                {
                    "action": Action.DISCONNECTED,
                    "error": ErrorInfo(42910, 429, "Publishing faster than accepted").as_wire(),
                }
            )
            self._part(ConnectionState.DISCONNECTED)
            self._writer.close(1000, "")

    def _publish_request(
        self, connection: Connection, name: str, msg_serial: int, raw_messages: list[Any]
    ) -> PublishRequest:
        transport, deadline = connection.transport, connection.deadline()
        try:
            messages = self._read_messages(connection, name, raw_messages)
        except EdgeError as error:
            return PublishRequest(
                msg_serial, name, [], error.info, transport=transport, deadline=deadline
            )
        client_ids = [optional_string(raw, "id") for raw in raw_messages]
        return PublishRequest(
            msg_serial,
            name,
            messages,
            transport=transport,
            deadline=deadline,
            fingerprint=fingerprint(messages, client_ids),
        )

    def _read_messages(
        self, connection: Connection, name: str, raw_messages: list[Any]
    ) -> list[ChannelMessage]:
        channel_name(name, self._settings.channel_name_max_chars)
        if not permits(connection.credentials.capability, name, "publish"):
            raise permission_denied("publish", name)
        if len(raw_messages) > self._settings.publish_rate_per_second:
            # More than the rate's whole burst: refused before tens of thousands are read.
            raise EdgeError(42910, 429, "Rate limit exceeded; publish rejected")
        timestamp, receipt = now_ms(), connection.next_receipt()
        messages = [
            read_message(
                raw, connection.credentials, f"{connection.id}:{receipt}:{index}", timestamp
            )
            for index, raw in enumerate(raw_messages)
        ]
        for message in messages:
            message.connection_id = connection.id
        if sum(message.size for message in messages) > self._settings.max_message_size:
            raise EdgeError(40009, 413, "Message size exceeds maxMessageSize")
        if not connection.rate.take(len(messages)):
            raise EdgeError(42910, 429, "Rate limit exceeded; publish rejected")
        return messages


def read_message(
    raw: Any, credentials: Credentials, default_id: str, timestamp: int
) -> ChannelMessage:
    """One client message, checked: its clientId must be one the credentials may use."""
    if not isinstance(raw, dict):
        raise bad_request("Each message must be an object")
    data, encoding = read_data(raw.get("data"), raw.get("encoding"))
    client_id = optional_string(raw, "clientId")
    if not credentials.may_publish_as(client_id):
        raise EdgeError(40012, 400, f"Cannot publish with clientId '{client_id}'")
    if client_id is None and credentials.client_id not in (None, "*"):
        client_id = credentials.client_id
    extras = raw.get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise invalid_data("Message extras must be an object")
    extras_text = json_text(extras, "Message extras") if extras else ""
    name = optional_string(raw, "name")
    message_id = optional_string(raw, "id")
    if message_id is not None and len(message_id) > MESSAGE_ID_MAX_CHARS:
        raise EdgeError(40031, 400, f"Message id is longer than {MESSAGE_ID_MAX_CHARS} characters")
    size = len(data) if data is not None else 0
    size += len(name or "") + len(client_id or "") + len(extras_text)
    return ChannelMessage(
        id=message_id or default_id,
        name=name,
        data=data,
        encoding=encoding,
        client_id=client_id,
        connection_id=None,
        timestamp=_client_timestamp(raw.get("timestamp"), timestamp),
        extras=extras,
        size=size,
    )


def _client_timestamp(value: Any, received_ms: int) -> int:
    """A client may stamp its messages; anything but a plausible integer is the edge's time."""
    if type(value) is int and 0 <= value <= TIMESTAMP_MAX_MS:
        return value
    return received_ms


def _attached(
    channel: Channel, params: dict[str, str], modes: list[str], backlog: Backlog
) -> ProtocolMessage:
    flags = Flag(0)
    for mode in modes:
        flags |= MODE_FLAGS[mode]
    if backlog.resumed:
        flags |= Flag.RESUMED
    elif backlog.parts:
        flags |= Flag.HAS_BACKLOG
    attached: ProtocolMessage = {
        "action": Action.ATTACHED,
        "channel": channel.name,
        "channelSerial": _replay_start(channel, backlog),
        "params": params,
        "flags": int(flags),
    }
    if backlog.truncated:
        attached["error"] = BACKLOG_TRUNCATED.as_wire()
    return attached


def _replay_start(channel: Channel, backlog: Backlog) -> str:
    """ATTACHED's channelSerial: the position just before the first message it replays, and
    each replayed MESSAGE carries its own (RTL15b: the client keeps the last it was sent). A
    socket lost midway then resumes from the last message delivered; were ATTACHED to carry
    the newest serial, what had not been replayed yet would be skipped."""
    if not backlog.parts:
        return channel.channel_serial
    first_entry, _ = backlog.parts[0]
    return f"{channel.epoch}:{first_entry.serial - 1}"


def _string_params(raw: Any) -> dict[str, str]:
    """Channel params as strings (the SDKs send strings; booleans and integers are read as
    their text), bounded in number and length; anything else fails the attach (40003)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > PARAMS_MAX:
        raise invalid_parameter(f"Channel params must be an object of at most {PARAMS_MAX}")
    params: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, str) or type(value) is int:
            text = str(value)
        else:
            raise invalid_parameter("Channel param values must be strings")
        if len(key) > PARAM_MAX_CHARS or len(text) > PARAM_MAX_CHARS:
            raise invalid_parameter(f"Channel params are at most {PARAM_MAX_CHARS} characters")
        params[key] = text
    return params


def _part_previous_socket(connection: Connection) -> None:
    previous = connection.sink
    if isinstance(previous, RealtimeSocket):
        previous.lost()
        previous.close_transport()
