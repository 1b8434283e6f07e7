"""The Ably REST subset on the realtime port: time, tokens, publish and history."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Any
from urllib.parse import unquote, unquote_plus

import msgpack
import orjson

from betting.edge.local.auth import Credentials, now_ms, permits
from betting.edge.local.http import HttpRequest
from betting.edge.local.hub import Hub
from betting.edge.local.messages import render
from betting.edge.local.protocol import (
    EdgeError,
    ErrorInfo,
    WireFormat,
    bad_request,
    permission_denied,
)
from betting.edge.local.realtime import read_message

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/x-msgpack"
HISTORY_LIMIT_DEFAULT = 100

RestResponse = tuple[int, str | None, bytes]


async def handle(hub: Hub, request: HttpRequest) -> RestResponse:
    """Every failure becomes an Ably error body; nothing escapes to the socket."""
    wire_format = (
        WireFormat.MSGPACK if MSGPACK_TYPE in request.headers.get("accept", "") else WireFormat.JSON
    )
    try:
        status, body = await _route(hub, request)
    except EdgeError as error:
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
        channel = unquote_plus(parts[1])
        if method == "POST":
            return 201, await _publish(hub, request, channel)
        if method == "GET":
            return 200, _history(hub, request, channel)
    raise EdgeError(40400, 404, f"No route for {method} {request.path}")


def _read_body(request: HttpRequest) -> Any:
    content_type = request.headers.get("content-type", JSON_TYPE)
    try:
        if content_type.startswith(MSGPACK_TYPE):
            return _unpack(request.body)
        return orjson.loads(request.body)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise bad_request("Request body is not valid JSON or msgpack") from error


def _unpack(body: bytes) -> Any:
    # ably-python packs REST bodies with use_bin_type=False, so binary data arrives as raw
    # strings; those that are not UTF-8 come back as bytes.
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    except UnicodeDecodeError:
        return _text_keys(msgpack.unpackb(body, raw=True, strict_map_key=False))


def _text_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_text(key): _text_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_text_keys(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _credentials(hub: Hub, request: HttpRequest) -> Credentials:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
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
    base_id, timestamp = secrets.token_urlsafe(9), now_ms()
    messages = [
        read_message(raw, credentials, f"{base_id}:{index}", timestamp)
        for index, raw in enumerate(raw_messages)
    ]
    if sum(message.size for message in messages) > hub.settings.max_message_size:
        raise EdgeError(40009, 413, "Message size exceeds maxMessageSize")
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
    if not limit_text.isdigit():
        raise bad_request("limit must be a positive integer")
    limit = min(int(limit_text), hub.settings.history_page_max)
    backwards = request.query.get("direction", "backwards") != "forwards"
    channel = hub.channels.peek(channel_name)
    messages = channel.history_page(limit, backwards=backwards) if channel else []
    wire_format = (
        WireFormat.MSGPACK if MSGPACK_TYPE in request.headers.get("accept", "") else WireFormat.JSON
    )
    return [render(message, wire_format) for message in messages]
