"""The one door to VCDIFF encoding.

`betting.edge.local.vcdiff.encode` (another module) is the real encoder. Until it exists, a
minimal but valid VCDIFF stream is produced: one window whose single ADD carries the whole
target. Decoders accept it, so the protocol path is exercised; it just saves no bytes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

Encoder = Callable[[bytes, bytes], bytes]

VCDIFF_MAGIC = b"\xd6\xc3\xc4\x00"
VCD_SOURCE = 0x01
ADD_SIZE_IN_NEXT = 1  # default code table: instruction 1 is ADD with its size in the stream


def _varint(value: int) -> bytes:
    """RFC 3284 base-128 integer, most significant group first."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def add_only_encode(source: bytes, target: bytes) -> bytes:
    instructions = bytes([ADD_SIZE_IN_NEXT]) + _varint(len(target))
    delta = (
        _varint(len(target))
        + b"\x00"  # Delta_Indicator: no secondary compression
        + _varint(len(target))  # data section
        + _varint(len(instructions))
        + _varint(0)  # addresses section
        + target
        + instructions
    )
    window = bytes([VCD_SOURCE]) + _varint(len(source)) + _varint(0) + _varint(len(delta))
    return VCDIFF_MAGIC + b"\x00" + window + delta


def _load_encoder() -> Encoder:
    try:
        module = importlib.import_module("betting.edge.local.vcdiff")
    except ImportError:
        return add_only_encode
    encoder: Encoder = module.encode
    return encoder


_encoder: Encoder | None = None


def vcdiff_encode(source: bytes, target: bytes) -> bytes:
    global _encoder
    if _encoder is None:
        _encoder = _load_encoder()
    return _encoder(source, target)
