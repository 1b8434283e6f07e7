"""VCDIFF (RFC 3284) encoder for channel deltas (`delta=vcdiff`).

Output: the header without application header or secondary compression, then one window over the
whole source, in the default code table. The SDK decoders (Python `vcdiff-decoder`, JS
`@ably/vcdiff-decoder`) accept nothing more exotic, and nothing more is needed for small changes
to a JSON odds book.
"""

from __future__ import annotations

from bisect import bisect_left

# 'VCD' with the high bits set, version 0, Hdr_Indicator 0 (RFC 3284 section 4.1).
_HEADER = b"\xd6\xc3\xc4\x00\x00"
_VCD_SOURCE = 0x01
# Default code table entries whose size is 0, so that the size follows as an integer: one opcode
# per instruction keeps the encoder short, for one byte more per instruction than the sized ones.
_OPCODE_RUN = 0
_OPCODE_ADD = 1
_OPCODE_COPY_SELF = 19  # mode 0, VCD_SELF: the address as it is
_OPCODE_COPY_HERE = 35  # mode 1, VCD_HERE: the distance back from the copy's own position

# Matches are found through 4-byte keys. Indexing every 4th source position costs a quarter of a
# full index and still sees every match of 7 bytes or more (one of its keys is indexed); backward
# extension then recovers its start.
_KEY_BYTES = 4
_INDEX_STEP = 4
# A copy costs 3 to 5 bytes and splits an ADD (2 more), so a shorter one than this saves nothing,
# and a delta stays within a few bytes of the target's own size. Short runs like `0,"` recur all
# over a JSON book: copying one from elsewhere would also lose the alignment with the source.
_COPY_BYTES_MIN = 8
_RESUME_BYTES_MAX = 4
# Most edits of a book change a number in place, give or take a few bytes: the copy that follows
# is found by a search this far around the expected address. The index, which costs more to build
# than encoding such a book, serves content that moved, and is looked at only once this many
# bytes found no copy; backward extension then recovers the bytes skipped meanwhile.
_NEARBY_BYTES = 64
_INDEX_DELAY_BYTES = 8
_RUN_BYTES_MIN = 8
_RUN_PROBES = [bytes([value]) * _RUN_BYTES_MIN for value in range(256)]
# Gallop width when measuring a match: one slice comparison covers most short matches.
_MATCH_CHUNK_BYTES = 32


def encode(source: bytes, target: bytes) -> bytes:
    """The VCDIFF delta that turns `source` into `target`; deterministic for equal inputs."""
    encoder = _Encoder(bytes(source), bytes(target))
    encoder.encode_instructions()
    return encoder.window()


class _Encoder:
    """One window's state. Addresses live in U = source + target, as in RFC 3284 section 3."""

    def __init__(self, source: bytes, target: bytes) -> None:
        self.source = source
        self.target = target
        # Built on first need: edits in place never need it.
        self.index: dict[bytes, list[int]] | None = None
        self.data = bytearray()
        self.instructions = bytearray()
        self.addresses = bytearray()

    def encode_instructions(self) -> None:
        target = self.target
        position = 0  # next target byte to look at
        pending = 0  # first target byte not yet covered by an instruction
        resume = 0  # U address that followed the last copy: where an edit of equal length resumes
        while position + _KEY_BYTES <= len(target):
            match = self.find_copy(position, pending, resume + position - pending)
            if match is not None:
                address, start, length = match
                self.add(pending, start)
                self.copy(address, start, length)
                position = pending = start + length
                resume = address + length
                continue
            run_length = self.run_length_at(position)
            if run_length:
                self.add(pending, position)
                self.run(position, run_length)
                position = pending = position + run_length
                continue
            self.index_target(position)
            position += 1
        self.add(pending, len(target))

    def find_copy(self, position: int, pending: int, expected: int) -> tuple[int, int, int] | None:
        """(address, target start, length) of a copy covering `position`, or None."""
        key = self.target[position : position + _KEY_BYTES]
        # `expected` must lie before the copy's own position (it need not, with an empty source).
        if expected < len(self.source) + position and self.key_at(expected) == key:
            length = self.match_length(expected, position)
            if length >= _COPY_BYTES_MIN:
                return expected, position, length
        address = self.nearby_candidate(key, expected)
        if address is not None:
            found = self.extend(address, position, pending, expected)
            if found is not None:
                return found
        if position - pending < _INDEX_DELAY_BYTES:
            return None
        address = self.indexed_candidate(key, expected)
        if address is None:
            return None
        return self.extend(address, position, pending, expected)

    def extend(
        self, address: int, position: int, pending: int, expected: int
    ) -> tuple[int, int, int] | None:
        """The copy through `address` that covers `position`, if long enough and wanted."""
        forward = self.match_length(address, position)
        back = self.backward_length(address, position, pending)
        if back + forward < _COPY_BYTES_MIN or self.resumes_soon(position, expected, forward):
            return None
        return address - back, position - back, back + forward

    def resumes_soon(self, position: int, expected: int, reach: int) -> bool:
        """Whether the expected alignment matches again within a few bytes and reaches as far.

        An edit like `"2.11","liability"` -> `"2.05","liability"` leaves `5","liability"` to be
        found elsewhere in the book; waiting a byte for the aligned copy keeps the alignment.
        """
        if expected >= len(self.source) + position:
            return False  # with no source, the expected address is the copy's own position
        for skip in range(1, _RESUME_BYTES_MAX + 1):
            later = position + skip
            if self.key_at(expected + skip) == self.target[later : later + _KEY_BYTES]:
                return skip + self.match_length(expected + skip, later) >= reach
        return False

    def nearby_candidate(self, key: bytes, expected: int) -> int | None:
        """The source address nearest `expected` holding `key`, searched around it only.

        An edit that changes the length (`9.95` -> `10.05`) shifts the alignment by a few bytes:
        two bounded searches in C find it again without building the index.
        """
        source = self.source
        if expected >= len(source):
            return None
        after = source.find(key, expected, expected + _NEARBY_BYTES)
        before = source.rfind(key, max(0, expected - _NEARBY_BYTES), expected + _KEY_BYTES - 1)
        if before < 0:
            return None if after < 0 else after
        if after < 0 or expected - before <= after - expected:
            return before
        return after

    def indexed_candidate(self, key: bytes, expected: int) -> int | None:
        # Keys like `,"price":` repeat once per runner: the candidate nearest the expected
        # address is the same runner's, which keeps the following copies long.
        candidates = self.source_index().get(key)
        if not candidates:
            return None
        after = bisect_left(candidates, expected)
        if after == len(candidates):
            return candidates[-1]
        if after == 0 or candidates[after] - expected < expected - candidates[after - 1]:
            return candidates[after]
        return candidates[after - 1]

    def source_index(self) -> dict[bytes, list[int]]:
        if self.index is None:
            index: dict[bytes, list[int]] = {}
            source = self.source
            for address in range(0, len(source) - _KEY_BYTES + 1, _INDEX_STEP):
                key = source[address : address + _KEY_BYTES]
                found = index.get(key)
                if found is None:
                    index[key] = [address]
                else:
                    found.append(address)
            self.index = index
        return self.index

    def index_target(self, position: int) -> None:
        # Only bytes that found no copy are indexed, so a repeat inside new content becomes a
        # copy from the target while unchanged content costs nothing here.
        if position % _INDEX_STEP or self.index is None:
            return
        key = self.target[position : position + _KEY_BYTES]
        address = len(self.source) + position
        found = self.index.get(key)
        if found is None:
            self.index[key] = [address]
        else:
            found.append(address)  # target addresses come after every source one: still sorted

    def segment(self, address: int) -> tuple[bytes, int]:
        """The segment of U holding `address` (source or target), and the offset in it."""
        if address < len(self.source):
            return self.source, address
        return self.target, address - len(self.source)

    def key_at(self, address: int) -> bytes:
        segment, offset = self.segment(address)
        return segment[offset : offset + _KEY_BYTES]

    def match_length(self, address: int, position: int) -> int:
        # A copy may not run from the source on into the target: the Python decoder refuses it.
        # From the target it may overlap its own output, since decoders copy byte by byte.
        segment, offset = self.segment(address)
        return _common_prefix_length(segment, offset, self.target, position)

    def backward_length(self, address: int, position: int, pending: int) -> int:
        segment, offset = self.segment(address)
        limit = min(position - pending, offset)
        length = 0
        while length < limit and segment[offset - length - 1] == self.target[position - length - 1]:
            length += 1
        return length

    def run_length_at(self, position: int) -> int:
        target = self.target
        if not target.startswith(_RUN_PROBES[target[position]], position):
            return 0
        return _run_length(target, position)

    def add(self, start: int, end: int) -> None:
        if end > start:
            self.instructions.append(_OPCODE_ADD)
            _put_integer(self.instructions, end - start)
            self.data += self.target[start:end]

    def copy(self, address: int, start: int, length: int) -> None:
        here = len(self.source) + start
        if here - address < address:
            self.instructions.append(_OPCODE_COPY_HERE)
            _put_integer(self.addresses, here - address)
        else:
            self.instructions.append(_OPCODE_COPY_SELF)
            _put_integer(self.addresses, address)
        _put_integer(self.instructions, length)

    def run(self, start: int, length: int) -> None:
        self.instructions.append(_OPCODE_RUN)
        _put_integer(self.instructions, length)
        self.data.append(self.target[start])

    def window(self) -> bytes:
        """The whole delta: header, then the one window (RFC 3284 sections 4.2 and 4.3)."""
        encoding = bytearray()
        _put_integer(encoding, len(self.target))
        encoding.append(0)  # Delta_Indicator: no secondary compression of any section
        for section in (self.data, self.instructions, self.addresses):
            _put_integer(encoding, len(section))
        encoding += self.data
        encoding += self.instructions
        encoding += self.addresses
        delta = bytearray(_HEADER)
        # No source: the window is then a plain compression of the target (RFC 3284 4.2).
        if self.source:
            delta.append(_VCD_SOURCE)
            _put_integer(delta, len(self.source))
            _put_integer(delta, 0)
        else:
            delta.append(0)
        _put_integer(delta, len(encoding))
        delta += encoding
        return bytes(delta)


def _common_prefix_length(left: bytes, left_start: int, right: bytes, right_start: int) -> int:
    """How many bytes from left[left_start:] equal those from right[right_start:]."""
    limit = min(len(left) - left_start, len(right) - right_start)
    length = 0
    chunk = _MATCH_CHUNK_BYTES
    # Slice comparisons run in C; gallop over equal chunks, then bisect the first unequal one.
    while length < limit:
        size = min(chunk, limit - length)
        if (
            left[left_start + length : left_start + length + size]
            != (right[right_start + length : right_start + length + size])
        ):
            return length + _equal_prefix_within(
                left, left_start + length, right, right_start + length, size
            )
        length += size
        chunk *= 2
    return length


def _equal_prefix_within(
    left: bytes, left_start: int, right: bytes, right_start: int, size: int
) -> int:
    """The equal prefix length of two slices of `size` bytes known to differ."""
    low, high = 0, size - 1
    while low < high:
        middle = (low + high + 1) // 2
        if left[left_start : left_start + middle] == right[right_start : right_start + middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _run_length(data: bytes, start: int) -> int:
    """How many bytes from data[start] on equal data[start]."""
    value = data[start : start + 1]
    end = start
    chunk = _RUN_BYTES_MIN
    while True:
        piece = data[end : end + chunk]
        rest = piece.lstrip(value)
        end += len(piece) - len(rest)
        if rest or len(piece) < chunk:
            return end - start
        chunk *= 2


def _put_integer(out: bytearray, value: int) -> None:
    """RFC 3284 section 2: base 128, most significant digit first, high bit on all but last."""
    digits = bytearray([value & 0x7F])
    value >>= 7
    while value:
        digits.append(0x80 | (value & 0x7F))
        value >>= 7
    digits.reverse()
    out += digits
