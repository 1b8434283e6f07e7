"""Properties of the local edge's parsers of client input: any input gives the documented
value or the edge's own error (an EdgeError with a 400xx code, or an HttpError), never a
stray exception."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from betting.edge.local.auth import Credentials
from betting.edge.local.channel import parse_channel_serial
from betting.edge.local.http import HEAD_MAX_BYTES, HttpError, HttpRequest, body_length, split_head
from betting.edge.local.names import channel_name
from betting.edge.local.protocol import UNPACK_ERRORS, EdgeError, unpack
from betting.edge.local.realtime import read_message
from betting.edge.local.rewind import parse_rewind
from betting.edge.local.settings import LocalEdgeSettings

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
