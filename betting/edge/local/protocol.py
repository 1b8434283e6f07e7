"""Ably wire protocol vocabulary: actions, flags, errors, and the two wire formats."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

ProtocolMessage = dict[str, Any]


class Action(enum.IntEnum):
    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15
    SYNC = 16
    AUTH = 17


class Flag(enum.IntFlag):
    HAS_BACKLOG = 1 << 1
    RESUMED = 1 << 2
    ATTACH_RESUME = 1 << 5
    PRESENCE = 1 << 16
    PUBLISH = 1 << 17
    SUBSCRIBE = 1 << 18
    PRESENCE_SUBSCRIBE = 1 << 19


class WireFormat(enum.Enum):
    JSON = "json"
    MSGPACK = "msgpack"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: int
    status_code: int
    message: str

    def as_wire(self) -> dict[str, Any]:
        return {"code": self.code, "statusCode": self.status_code, "message": self.message}


class EdgeError(Exception):
    """An operating error to answer with an Ably error (never a programmer error)."""

    def __init__(self, code: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.info = ErrorInfo(code, status_code, message)


class ClientErrors:
    """How many client mistakes the edge answered, by Ably error code: counted for
    /metrics, never logged one by one (a hostile client could flood the log)."""

    __slots__ = ("by_code",)

    def __init__(self) -> None:
        self.by_code: dict[int, int] = {}

    def count(self, code: int, times: int = 1) -> None:
        if 40000 <= code < 50000:
            self.by_code[code] = self.by_code.get(code, 0) + times

    def count_message(self, message: ProtocolMessage) -> None:
        """An outbound message's error, once per publish a NACK answers."""
        error = message.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), int):
            self.count(error["code"], message.get("count", 1))


class InvariantError(AssertionError):
    """A broken invariant: a bug in the edge, not bad input."""


def invariant(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantError(message)


def bad_request(message: str) -> EdgeError:
    return EdgeError(40000, 400, message)


def permission_denied(operation: str, channel: str) -> EdgeError:
    return EdgeError(40160, 401, f"Action '{operation}' not permitted on channel '{channel}'")


def encode(message: ProtocolMessage, wire_format: WireFormat) -> bytes:
    if wire_format is WireFormat.MSGPACK:
        packed: bytes = msgpack.packb(message, use_bin_type=True)
        return packed
    return orjson.dumps(message)


def invalid_parameter(message: str) -> EdgeError:
    return EdgeError(40003, 400, message)


def invalid_data(message: str) -> EdgeError:
    return EdgeError(40013, 400, message)


class UnreadableMap:
    """A msgpack map whose keys are not all strings (integers, arrays, binary): kept as a
    value, so that only the message holding it is refused, not the frame."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<map with a non-string key>"


UNREADABLE_MAP = UnreadableMap()


def _text_keyed_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any] | UnreadableMap:
    if all(isinstance(key, str) for key, _ in pairs):
        return dict(pairs)
    return UNREADABLE_MAP


def unpack(payload: bytes) -> Any:
    """msgpack without surprises: an array or number as a map key cannot raise TypeError or
    collide; such a map, a Timestamp or any other extension type comes back as a value that
    no JSON encoder accepts, so the message check refuses it (40013)."""
    return msgpack.unpackb(
        payload, raw=False, strict_map_key=False, object_pairs_hook=_text_keyed_map
    )


UNPACK_ERRORS = (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError)


def decode(payload: bytes, wire_format: WireFormat) -> Any:
    """Raise EdgeError on anything undecodable; the caller fails the connection."""
    try:
        if wire_format is WireFormat.MSGPACK:
            return unpack(payload)
        return orjson.loads(payload)
    except UNPACK_ERRORS as error:
        raise bad_request(f"Malformed {wire_format.value} protocol message") from error


OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


def websocket_frame(payload: bytes, wire_format: WireFormat) -> bytes:
    """One unmasked, final server frame, built once and written to many sockets."""
    opcode = OPCODE_BINARY if wire_format is WireFormat.MSGPACK else OPCODE_TEXT
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65_536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def encoded_frame(message: ProtocolMessage, wire_format: WireFormat) -> bytes:
    return websocket_frame(encode(message, wire_format), wire_format)


class FrameCache:
    """A protocol message built and encoded at most once per wire format, shared by sockets."""

    __slots__ = ("_build", "_frames")

    def __init__(self, build: Callable[[WireFormat], ProtocolMessage]) -> None:
        self._build = build
        self._frames: dict[WireFormat, bytes] = {}

    def frame(self, wire_format: WireFormat) -> bytes:
        frame = self._frames.get(wire_format)
        if frame is None:
            frame = encoded_frame(self._build(wire_format), wire_format)
            self._frames[wire_format] = frame
        return frame
