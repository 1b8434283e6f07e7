"""Messages as the edge stores them, read from clients and rendered per wire format."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from betting.edge.local.protocol import WireFormat, bad_request, invalid_data

Data = str | bytes | None
ENCODING_MAX_CHARS = 256


@dataclass(slots=True)
class ChannelMessage:
    """One message on a channel. `data` is str, bytes or None; `encoding` never ends in
    base64, because binary is kept as bytes and base64 is a detail of the JSON format."""

    id: str
    name: str | None
    data: Data
    encoding: str
    client_id: str | None
    connection_id: str | None
    timestamp: int
    extras: dict[str, Any] | None = None
    size: int = field(default=0)

    def payload_bytes(self) -> bytes | None:
        if isinstance(self.data, str):
            return self.data.encode()
        return self.data


def join_encoding(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def read_data(data: Any, encoding: Any) -> tuple[Data, str]:
    """Normalise client data: base64 becomes bytes, JSON values become a `json` string.
    Anything else (binary, a Timestamp or a non-string map key inside a structure) is 40013."""
    if encoding is not None and not isinstance(encoding, str):
        raise invalid_data("Message encoding must be a string")
    encoding = (encoding or "").strip("/")
    if len(encoding) > ENCODING_MAX_CHARS:
        raise invalid_data(f"Message encoding is longer than {ENCODING_MAX_CHARS} characters")
    if isinstance(data, bytearray):
        data = bytes(data)
    if data is None or isinstance(data, bytes):
        return data, encoding
    if isinstance(data, str):
        if encoding == "base64" or encoding.endswith("/base64"):
            try:
                return base64.b64decode(data, validate=True), encoding[: -len("base64")].strip("/")
            except ValueError as error:  # binascii.Error, or text that is not ASCII
                raise invalid_data("Message data is not valid base64") from error
        return data, encoding
    if isinstance(data, dict | list) or type(data) in (int, float, bool):
        return json_text(data, "Message data"), join_encoding(encoding, "json")
    raise invalid_data("Message data has an unsupported type")


def json_text(value: Any, what: str) -> str:
    """`value` as JSON, or 40013 when it holds something JSON has no form for."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        raise invalid_data(f"{what} holds a value JSON cannot carry") from error


def optional_string(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise bad_request(f"Message {key} must be a string")


def render(
    message: ChannelMessage,
    wire_format: WireFormat,
    *,
    data: Data = None,
    encoding: str | None = None,
    extras: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The wire form of a message; `data`, `encoding` and `extras` override for deltas."""
    if encoding is None:
        data, encoding = message.data, message.encoding
    if isinstance(data, bytes) and wire_format is WireFormat.JSON:
        data, encoding = base64.b64encode(data).decode(), join_encoding(encoding, "base64")
    wire: dict[str, Any] = {"id": message.id, "timestamp": message.timestamp}
    if message.name is not None:
        wire["name"] = message.name
    if data is not None:
        wire["data"] = data
    if encoding:
        wire["encoding"] = encoding
    if message.client_id is not None:
        wire["clientId"] = message.client_id
    if message.connection_id is not None:
        wire["connectionId"] = message.connection_id
    merged_extras = {**(message.extras or {}), **(extras or {})}
    if merged_extras:
        wire["extras"] = merged_extras
    return wire


def decoded_data(message: ChannelMessage) -> tuple[Any, str]:
    """Data for in-process handlers: undo `json` and `utf-8`; leave other encodings."""
    data: Any = message.data
    steps = [step for step in message.encoding.split("/") if step]
    while steps:
        step = steps[-1]
        if step == "json" and isinstance(data, str | bytes):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                break
        elif step == "utf-8" and isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError:
                break
        elif step != "utf-8":
            break
        steps.pop()
    return data, "/".join(steps)
