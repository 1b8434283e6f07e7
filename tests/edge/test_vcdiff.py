"""The VCDIFF encoder against the decoder the official Python SDK uses (`vcdiff-decoder`)."""

from __future__ import annotations

import itertools
import random
import time

import vcdiff_decoder
from hypothesis import given, settings
from hypothesis import strategies as st

from betting.edge.local.vcdiff import encode
from tests.edge.odds_books import first_runners, odds_book, odds_books, reprice


def assert_round_trip(source: bytes, target: bytes) -> bytes:
    delta = encode(source, target)
    assert vcdiff_decoder.decode(source, delta) == target
    return delta


# Arbitrary bytes, and the shapes that reach the edge cases of an encoder.

payloads = st.binary(max_size=2_000)


@given(source=payloads, target=payloads)
def test_arbitrary_bytes_round_trip(source: bytes, target: bytes) -> None:
    assert_round_trip(source, target)


@given(target=payloads)
def test_empty_source_round_trips(target: bytes) -> None:
    assert_round_trip(b"", target)


@given(source=payloads)
def test_empty_target_round_trips(source: bytes) -> None:
    assert_round_trip(source, b"")


@given(payload=payloads)
def test_equal_payloads_cost_a_handful_of_bytes(payload: bytes) -> None:
    delta = assert_round_trip(payload, payload)
    assert len(delta) <= 20 + (len(payload) if len(payload) < 8 else 0)  # no copy under 8 bytes


@given(source=st.binary(max_size=1_000), target=st.binary(max_size=1_000))
def test_disjoint_payloads_round_trip(source: bytes, target: bytes) -> None:
    # No byte in common: every copy the encoder might find would be wrong.
    source = bytes(byte & 0x7F for byte in source)
    target = bytes(byte | 0x80 for byte in target)
    delta = assert_round_trip(source, target)
    assert len(delta) <= len(target) + 20


repeats = st.integers(min_value=0, max_value=3_000)


@given(pattern=st.binary(min_size=1, max_size=12), count=repeats, prefix=st.binary(max_size=50))
def test_long_repeats_copy_from_the_target(pattern: bytes, count: int, prefix: bytes) -> None:
    target = prefix + pattern * count
    delta = assert_round_trip(b"", target)
    # Runs, and copies from the target itself: the repeats cost about as much as one pattern.
    assert len(delta) <= 40 + len(prefix) + len(pattern) * 3


@given(
    pattern=st.binary(min_size=1, max_size=12),
    count=repeats,
    prefix=st.binary(max_size=50),
    source=st.binary(max_size=200),
)
def test_long_repeats_with_a_source_round_trip(
    pattern: bytes, count: int, prefix: bytes, source: bytes
) -> None:
    target = prefix + pattern * count + source
    delta = assert_round_trip(source, target)
    # Copies from the source come first, so a pattern much like the source may be copied from it
    # piece by piece rather than from the target in one go: only the size bound of any delta.
    assert len(delta) <= len(target) + 20


@given(source=payloads, target=payloads)
def test_delta_is_never_much_longer_than_the_target(source: bytes, target: bytes) -> None:
    delta = assert_round_trip(source, target)
    assert len(delta) <= len(target) + 20


edits = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(0, 40), st.binary(max_size=40)), max_size=12
)


@given(source=st.binary(max_size=3_000), edit_list=edits)
def test_edited_source_round_trips(source: bytes, edit_list: list[tuple[int, int, bytes]]) -> None:
    target = bytearray(source)
    for position, deleted, inserted in edit_list:
        at = position % (len(target) + 1)
        target[at : at + deleted] = inserted
    assert_round_trip(source, bytes(target))


@settings(max_examples=30)
@given(source=payloads, target=payloads)
def test_encoding_is_deterministic_and_plain(source: bytes, target: bytes) -> None:
    delta = encode(source, target)
    assert encode(source, target) == delta
    assert delta[:5] == b"\xd6\xc3\xc4\x00\x00"  # no secondary compressor, code table, app header
    parsed = vcdiff_decoder.parse_delta(delta)
    assert len(parsed.windows) == 1
    assert parsed.windows[0].delta_indicator == 0


# Realistic odds books: the payload that odds-out sends on every change.


def test_odds_book_is_about_3_kb() -> None:
    (book,) = odds_books(seed=1, count=1, changes=0)
    assert 2_500 <= len(book) <= 3_500


def test_handful_of_prices_changed_is_a_small_delta() -> None:
    for seed in range(20):
        source, target = odds_books(seed=seed, count=2, changes=5)
        delta = assert_round_trip(source, target)
        assert len(delta) < 0.2 * len(target)
        assert len(delta) < 300, (seed, len(delta))


def test_one_runner_repriced_is_a_few_dozen_bytes() -> None:
    # Five numbers change: back, lay and liability, and the book's sequence and timestamp.
    for seed in range(20):
        source, target = odds_books(seed=seed, count=2, changes=1)
        delta = assert_round_trip(source, target)
        assert len(delta) <= 90, (seed, len(delta))


def test_successive_books_each_decode_from_the_previous() -> None:
    books = odds_books(seed=7, count=60, changes=3)
    for source, target in itertools.pairwise(books):
        delta = assert_round_trip(source, target)
        assert len(delta) < 0.2 * len(target)


def test_pretty_printed_books_are_small_deltas() -> None:
    source, target = odds_books(seed=3, count=2, changes=5, indent=2)
    delta = assert_round_trip(source, target)
    assert len(delta) < 0.2 * len(target)


def test_withdrawn_runner_is_a_small_delta() -> None:
    rng = random.Random(11)
    runners = first_runners(rng)
    source = odds_book(1, runners)
    withdrawn = [dict(runner) for runner in runners]
    withdrawn[6] = {"runner_id": "r07", "number": 7, "name": "Desert Rose", "status": "withdrawn"}
    target = odds_book(2, reprice(rng, withdrawn, 3))
    delta = assert_round_trip(source, target)
    assert len(delta) < 0.2 * len(target)


def test_large_unrelated_payloads_encode_in_linear_time() -> None:
    rng = random.Random(5)
    source = rng.randbytes(200_000)
    target = rng.randbytes(200_000)
    started = time.perf_counter()
    delta = encode(source, target)
    # About 1 s per MB here; quadratic matching would take minutes.
    assert time.perf_counter() - started < 10
    assert vcdiff_decoder.decode(source, delta) == target
