"""The Ably REST subset on the realtime port: time, tokens, publish, history and push admin."""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any
from urllib.parse import unquote, unquote_plus

import msgpack
import orjson

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int
from betting.edge.local.auth import Credentials, now_ms, permits
from betting.edge.local.http import HttpRequest
from betting.edge.local.hub import Hub
from betting.edge.local.messages import render
from betting.edge.local.names import channel_name
from betting.edge.local.protocol import (
    UNPACK_ERRORS,
    UNREADABLE_MAP,
    EdgeError,
    ErrorInfo,
    WireFormat,
    bad_request,
    invalid_parameter,
    permission_denied,
    unpack,
)
from betting.edge.local.push import PushRegistry
from betting.edge.local.realtime import read_message

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/x-msgpack"
HISTORY_LIMIT_DEFAULT = 100
LIMIT_DIGITS_MAX = 9
REST_MESSAGES_MAX = 1_000

RestResponse = tuple[int, str | None, bytes]


async def handle(hub: Hub, request: HttpRequest) -> RestResponse:
    """Every failure becomes an Ably error body; nothing escapes to the socket."""
    wire_format = (
        WireFormat.MSGPACK if MSGPACK_TYPE in request.headers.get("accept", "") else WireFormat.JSON
    )
    try:
        status, body = await _route(hub, request)
    except EdgeError as error:
        hub.client_errors.count(error.info.code)
        status, body = error.info.status_code, {"error": error.info.as_wire()}
    except Exception:
        log.exception("edge REST handler failed", extra={"path": request.path})
        info = ErrorInfo(50000, 500, "Internal error")
        status, body = 500, {"error": info.as_wire()}
    if status == 204:
        return status, None, b""
    return status, *_encode_body(body, wire_format)


def _encode_body(body: Any, wire_format: WireFormat) -> tuple[str, bytes]:
    if wire_format is WireFormat.MSGPACK:
        return MSGPACK_TYPE, msgpack.packb(body, use_bin_type=True)
    return JSON_TYPE, orjson.dumps(body)


async def _route(hub: Hub, request: HttpRequest) -> tuple[int, Any]:
    parts = request.path.strip("/").split("/")
    method = request.method
    if method == "OPTIONS":
        return 204, None
    if parts == ["time"] and method == "GET":
        return 200, [now_ms()]
    if len(parts) == 3 and parts[0] == "keys" and parts[2] == "requestToken" and method == "POST":
        token_request = _read_body(request)
        if not isinstance(token_request, dict):
            raise bad_request("A TokenRequest must be an object")
        return 200, hub.authority.issue_token(token_request, unquote(parts[1]))
    if len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages":
        # The Python SDK quotes channel names with quote_plus, so `+` means a space.
        channel = channel_name(unquote_plus(parts[1]), hub.settings.channel_name_max_chars)
        if method == "POST":
            return 201, await _publish(hub, request, channel)
        if method == "GET":
            return 200, _history(hub, request, channel)
    if parts[0] == "push" and len(parts) in (2, 3):
        return _push(hub, request, parts[1:])
    raise EdgeError(40400, 404, f"No route for {method} {request.path}")


def _push(hub: Hub, request: HttpRequest, parts: list[str]) -> tuple[int, Any]:
    """The push admin API: every call needs the `push-admin` capability."""
    credentials = _credentials(hub, request)
    if not permits(credentials.capability, "*", "push-admin"):
        raise EdgeError(40160, 401, "Action 'push-admin' not permitted")
    registry, method, query = hub.push, request.method, request.query
    resource = parts[0]
    if resource == "deviceRegistrations" and len(parts) == 2:
        device_id = unquote(parts[1])
        if method == "PUT":
            return 200, registry.save_device(device_id, _read_body(request)).as_wire()
        if method == "GET":
            return 200, registry.device(device_id).as_wire()
        if method == "DELETE":
            registry.remove_device(device_id)
            return 204, None
    elif len(parts) == 1 and (resource, method) in _PUSH_COLLECTIONS:
        return _PUSH_COLLECTIONS[resource, method](registry, request, query)
    raise EdgeError(40400, 404, f"No route for {method} {request.path}")


def _push_publish(registry: PushRegistry, request: HttpRequest, _: Any) -> tuple[int, Any]:
    registry.publish(_read_body(request))
    return 204, None


def _list_devices(registry: PushRegistry, _: HttpRequest, query: Any) -> tuple[int, Any]:
    return 200, [device.as_wire() for device in registry.find_devices(query)[: _limit(query)]]


def _remove_devices(registry: PushRegistry, _: HttpRequest, query: Any) -> tuple[int, Any]:
    registry.remove_devices(query)
    return 204, None


def _list_subscriptions(registry: PushRegistry, _: HttpRequest, query: Any) -> tuple[int, Any]:
    found = registry.find_subscriptions(query)[: _limit(query)]
    return 200, [subscription.as_wire() for subscription in found]


def _subscribe(registry: PushRegistry, request: HttpRequest, _: Any) -> tuple[int, Any]:
    return 201, registry.subscribe(_read_body(request)).as_wire()


def _unsubscribe(registry: PushRegistry, _: HttpRequest, query: Any) -> tuple[int, Any]:
    registry.unsubscribe(query)
    return 204, None


def _list_channels(registry: PushRegistry, _: HttpRequest, query: Any) -> tuple[int, Any]:
    return 200, registry.channels()[: _limit(query)]


_PUSH_COLLECTIONS = {
    ("publish", "POST"): _push_publish,
    ("deviceRegistrations", "GET"): _list_devices,
    ("deviceRegistrations", "DELETE"): _remove_devices,
    ("channelSubscriptions", "GET"): _list_subscriptions,
    ("channelSubscriptions", "POST"): _subscribe,
    ("channelSubscriptions", "DELETE"): _unsubscribe,
    ("channels", "GET"): _list_channels,
}


def _limit(query: dict[str, str]) -> int:
    try:
        limit = parse_int(query.get("limit", "100"), "limit", low=1, digits_max=LIMIT_DIGITS_MAX)
    except InvalidValue:
        raise invalid_parameter("limit must be a positive integer") from None
    return min(limit, REST_MESSAGES_MAX)


def _read_body(request: HttpRequest) -> Any:
    content_type = request.headers.get("content-type", JSON_TYPE)
    try:
        if content_type.startswith(MSGPACK_TYPE):
            return _unpack(request.body)
        return orjson.loads(request.body)
    except UNPACK_ERRORS as error:
        raise bad_request("Request body is not valid JSON or msgpack") from error


NESTING_MAX = 255  # orjson refuses deeper structures too


def _unpack(body: bytes) -> Any:
    # ably-python packs REST bodies with use_bin_type=False, so binary data arrives as raw
    # strings; those that are not UTF-8 come back as bytes.
    try:
        return unpack(body)
    except UnicodeDecodeError:
        return _text_keys(msgpack.unpackb(body, raw=True, strict_map_key=False, list_hook=tuple))


def _text_keys(value: Any, depth: int = 0) -> Any:
    """A raw unpacking made text again; a map keyed by anything but UTF-8 text is refused
    later, as `unpack` refuses it (the tuple list hook keeps array keys hashable), and so is
    nesting deeper than any JSON encoder takes (the walk stops there, before Python's stack)."""
    if depth > NESTING_MAX and isinstance(value, dict | list | tuple):
        return UNREADABLE_MAP
    if isinstance(value, dict):
        pairs = [(_text_keys(key, depth + 1), _text_keys(item, depth + 1))
                 for key, item in value.items()]  # fmt: skip
        return dict(pairs) if all(isinstance(key, str) for key, _ in pairs) else UNREADABLE_MAP
    if isinstance(value, list | tuple):
        return [_text_keys(item, depth + 1) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


def _credentials(hub: Hub, request: HttpRequest) -> Credentials:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 inside
        decoded = value
    if scheme.lower() == "basic":
        return hub.authority.from_key(decoded, None)
    if scheme.lower() == "bearer":
        return hub.authority.from_token(decoded)
    raise EdgeError(40101, 401, "Authorization with a key or token is required")


async def _publish(hub: Hub, request: HttpRequest, channel: str) -> dict[str, Any]:
    credentials = _credentials(hub, request)
    if not permits(credentials.capability, channel, "publish"):
        raise permission_denied("publish", channel)
    body = _read_body(request)
    raw_messages = body if isinstance(body, list) else [body]
    if len(raw_messages) > REST_MESSAGES_MAX:
        raise bad_request(f"At most {REST_MESSAGES_MAX} messages per publish")
    base_id, timestamp = secrets.token_urlsafe(9), now_ms()
    messages = [
        read_message(raw, credentials, f"{base_id}:{index}", timestamp)
        for index, raw in enumerate(raw_messages)
    ]
    if sum(message.size for message in messages) > hub.settings.max_message_size:
        raise EdgeError(40009, 413, "Message size exceeds maxMessageSize")
    if not messages:
        raise bad_request("A publish needs at least one message")
    try:
        await hub.channels.publish(channel, messages, None)
    except EdgeError:
        raise
    except Exception as error:
        log.exception("edge publish handler failed", extra={"channel": channel})
        raise EdgeError(50000, 500, "Publish handler failed; message not accepted") from error
    return {"channel": channel, "messageId": base_id, "serials": [m.id for m in messages]}


def _history(hub: Hub, request: HttpRequest, channel_name: str) -> list[dict[str, Any]]:
    credentials = _credentials(hub, request)
    if not permits(credentials.capability, channel_name, "history"):
        raise permission_denied("history", channel_name)
    limit_text = request.query.get("limit", str(HISTORY_LIMIT_DEFAULT))
    try:
        limit = parse_int(limit_text, "limit", low=1, digits_max=LIMIT_DIGITS_MAX)
    except InvalidValue:
        raise invalid_parameter("limit must be a positive integer") from None
    limit = min(limit, hub.settings.history_page_max)
    direction = request.query.get("direction", "backwards")
    if direction not in ("backwards", "forwards"):
        raise invalid_parameter("direction must be backwards or forwards")
    backwards = direction == "backwards"
    channel = hub.channels.peek(channel_name)
    messages = channel.history_page(limit, backwards=backwards) if channel else []
    wire_format = (
        WireFormat.MSGPACK if MSGPACK_TYPE in request.headers.get("accept", "") else WireFormat.JSON
    )
    return [render(message, wire_format) for message in messages]
