"""Properties of the local edge's parsers of client input: any input gives the documented
value or the edge's own error (an EdgeError with a 400xx code, or an HttpError), never a
stray exception."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import msgpack
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from betting.edge.local import rest
from betting.edge.local.auth import Credentials
from betting.edge.local.channel import parse_channel_serial
from betting.edge.local.http import HEAD_MAX_BYTES, HttpError, HttpRequest, body_length, split_head
from betting.edge.local.hub import Hub
from betting.edge.local.names import channel_name
from betting.edge.local.protocol import UNPACK_ERRORS, EdgeError, WireFormat, unpack
from betting.edge.local.realtime import RealtimeSocket, read_message
from betting.edge.local.rewind import parse_rewind
from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

SETTINGS = LocalEdgeSettings()
CREDENTIALS = Credentials("key", {"*": frozenset({"*"})}, "alice")
NUMBERISH = st.text(alphabet="0123456789-+ ²①١٢_.xsm\x00", max_size=30) | st.text(max_size=30)


def refused_with_a_400xx(error: EdgeError) -> bool:
    return 40000 <= error.info.code < 50000 and error.info.status_code == 400


@given(st.text(max_size=3_000))
def test_a_channel_name_is_itself_or_40010(text: str) -> None:
    try:
        assert channel_name(text) == text
    except EdgeError as error:
        assert error.info.code == 40010
        return
    assert 0 < len(text) <= 2_048 and text[0] not in "[:" and "\n" not in text


@given(st.text(max_size=50), NUMBERISH)
def test_a_channel_serial_is_a_position_or_40003(epoch: str, serial: str) -> None:
    text = f"{epoch}:{serial}"
    try:
        position = parse_channel_serial(text)
    except EdgeError as error:
        assert error.info.code == 40003
        return
    assert position is not None and position.epoch == epoch and position.serial == int(serial)


@given(NUMBERISH, st.none() | NUMBERISH)
def test_a_rewind_is_a_bounded_rewind_or_40003(rewind: str, limit: str | None) -> None:
    params = {"rewind": rewind} if limit is None else {"rewind": rewind, "rewindLimit": limit}
    try:
        parsed = parse_rewind(params, SETTINGS, 10**12)
    except EdgeError as error:
        assert error.info.code == 40003
        return
    assert parsed is not None and 0 <= parsed.limit <= SETTINGS.rewind_messages_max
    assert parsed.since_ms >= 10**12 - SETTINGS.rewind_window_ms_max


@given(NUMBERISH)
def test_a_content_length_is_a_bounded_length_or_an_http_error(text: str) -> None:
    request = HttpRequest("POST", "/", {"content-length": text}, b"")
    try:
        length = body_length(request, 1_000)
    except HttpError as error:
        assert error.status in (400, 413) and 40000 <= error.code < 50000
        return
    assert 0 <= length <= 1_000 and length == int(text) and text.isascii()


@given(st.binary(max_size=HEAD_MAX_BYTES * 2))
@settings(max_examples=50)
def test_a_head_is_never_longer_than_the_limit(data: bytes) -> None:
    buffer = bytearray(data)
    try:
        head = split_head(buffer)
    except HttpError:
        return
    assert head is None or len(head) <= HEAD_MAX_BYTES + 4


INT64 = st.integers(-(2**63), 2**63 - 1)
KEYS = st.text(max_size=5) | INT64 | st.binary(max_size=3) | st.tuples(INT64)
LEAVES = (
    st.none()
    | st.booleans()
    | INT64
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1))
)
JSONISH = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["data", "extras", "encoding", "id", "name", "clientId",
                                        "timestamp"]), JSONISH))  # fmt: skip
def test_any_msgpack_message_is_read_or_refused_with_a_400xx(raw: dict[str, Any]) -> None:
    try:
        decoded = unpack(msgpack.packb(raw, use_bin_type=True))
    except UNPACK_ERRORS:
        return
    try:
        message = read_message(decoded, CREDENTIALS, "default", 1)
    except EdgeError as error:
        assert refused_with_a_400xx(error), error.info
        return
    assert message.data is None or isinstance(message.data, str | bytes)


@given(st.binary(max_size=200))
def test_unpack_of_any_bytes_is_a_value_or_an_unpack_error(data: bytes) -> None:
    with contextlib.suppress(*UNPACK_ERRORS):
        unpack(data)


ROOT_AUTH = "Basic " + base64.b64encode(b"local.root:local-root-secret").decode()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INT64 | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["data", "encoding", "extras", "id", "name", "x"])
                      | st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
BODIES = (
    st.binary(max_size=200)
    | JSONISH.map(lambda value: bytes(msgpack.packb(value, use_bin_type=True)))
    | JSONISH.map(lambda value: bytes(msgpack.packb(value, use_bin_type=False)))
    | JSON_VALUES.map(orjson.dumps)
)
PATHS = st.sampled_from(
    ["/time", "/channels/race:1/messages", "/keys/local.root/requestToken", "/x", "/channels/"]
) | st.text(max_size=40).map(lambda text: "/channels/" + text + "/messages")


@given(
    st.sampled_from(["GET", "POST", "PUT", "OPTIONS"]),
    PATHS,
    st.dictionaries(st.sampled_from(["limit", "direction", "start"]), NUMBERISH, max_size=3),
    st.sampled_from(["application/json", "application/x-msgpack", "text/plain"]),
    st.sampled_from([ROOT_AUTH, "Basic \xe9", "Bearer x.y", ""]),
    BODIES,
)
@settings(max_examples=300, deadline=None)
def test_any_rest_request_is_answered_without_a_500(
    method: str, path: str, query: dict[str, str], content_type: str, auth: str, body: bytes
) -> None:
    hub = Hub(SETTINGS)
    headers = {"content-type": content_type, "authorization": auth}
    request = HttpRequest(method, path, headers, b"", body=body, path=path, query=query)
    status, _, _ = asyncio.run(rest.handle(hub, request))
    assert status < 500


class FakeWriter:
    def __init__(self, wire_format: WireFormat) -> None:
        self.wire_format = wire_format
        self.frames: list[bytes] = []
        self.closed = False

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    def buffered_bytes(self) -> int:
        return 0

    def close(self, code: int, reason: str) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


PROTOCOL_FIELDS = st.fixed_dictionaries(
    {"action": st.sampled_from([0, 10, 12, 15, 17, 99]) | INT64},
    optional={
        "channel": st.sampled_from(["race:1", "", ":x"]) | st.text(max_size=10) | JSONISH,
        "msgSerial": INT64 | JSONISH,
        "messages": st.lists(st.dictionaries(st.sampled_from(["data", "extras", "encoding",
                                                              "id", "name"]), JSONISH)) | JSONISH,
        "params": st.dictionaries(st.sampled_from(["rewind", "rewindLimit", "delta"]), NUMBERISH)
        | JSONISH,
        "channelSerial": st.text(max_size=20) | JSONISH,
        "flags": INT64 | JSONISH,
        "id": JSONISH,
    },
)  # fmt: skip


@given(st.sampled_from(list(WireFormat)), st.lists(PROTOCOL_FIELDS, min_size=1, max_size=5))
@settings(max_examples=300, deadline=None)
def test_any_protocol_message_is_answered_in_ablys_error_shape(
    wire_format: WireFormat, messages: list[dict[str, Any]]
) -> None:
    async def drive() -> list[dict[str, Any]]:
        hub = Hub(LocalEdgeSettings(keys=(EdgeKey(key="k.root:secret"),)))
        writer = FakeWriter(wire_format)
        socket = RealtimeSocket(hub, writer, wire_format)
        socket.start({"key": "k.root:secret"})
        for message in messages:
            if wire_format is WireFormat.MSGPACK:
                payload = bytes(msgpack.packb(message, use_bin_type=True))
            else:
                payload = orjson.dumps(jsonable(message))
            socket.receive(payload)
        # Two turns of the loop, not a wait for time: the publish worker starts, then answers.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return [decoded_frame(frame, wire_format) for frame in writer.frames]

    for answer in asyncio.run(drive()):
        error = answer.get("error")
        if error is not None:
            assert 40000 <= error["code"] < 50000 or error["code"] == 90010, error


def jsonable(value: Any) -> Any:
    """What a JSON client could send instead: text keys, no binary or Timestamps."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes | msgpack.Timestamp):
        return repr(value)
    return value


def decoded_frame(frame: bytes, wire_format: WireFormat) -> dict[str, Any]:
    length = frame[1] & 0x7F
    offset = 2 if length < 126 else 4 if length == 126 else 10
    payload = frame[offset:]
    if wire_format is WireFormat.MSGPACK:
        return dict(msgpack.unpackb(payload))
    return dict(orjson.loads(payload))
