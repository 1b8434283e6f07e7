"""The edge's memory of TokenRequest nonces: no signed request is ever exchanged twice, however
the nonces and clocks go, and the memory never holds more than its cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.edge.local.nonces import NonceMemory
from betting.edge.local.protocol import EdgeError

WINDOW_MS = 1_000

requests = st.lists(
    st.tuples(
        st.sampled_from(["n1", "n2", "n3", "n4", "n5"]),  # nonce, often repeated
        st.integers(-3 * WINDOW_MS, 3 * WINDOW_MS),  # timestamp relative to the clock
        st.integers(0, 400),  # how far the clock moves on first
    ),
    max_size=200,
)


@given(requests, st.integers(1, 6))
def test_no_request_is_accepted_twice_and_the_memory_is_capped(
    sequence: list[tuple[str, int, int]], capacity: int
) -> None:
    memory = NonceMemory(WINDOW_MS, capacity)
    accepted: set[tuple[str, int]] = set()
    now = 10 * WINDOW_MS
    for nonce, offset, step in sequence:
        now += step
        timestamp = now + offset
        try:
            memory.check("key", nonce, timestamp, now)
        except EdgeError as refused:
            assert refused.info.code in (40104, 40105)
            continue
        memory.remember("key", nonce, timestamp)
        assert abs(timestamp - now) <= WINDOW_MS
        assert (nonce, timestamp) not in accepted, "a signed request was accepted twice"
        accepted.add((nonce, timestamp))
        assert len(memory) <= capacity


def test_a_full_memory_refuses_what_it_had_to_forget() -> None:
    memory = NonceMemory(WINDOW_MS, 2)
    for nonce, timestamp in [("a", 100), ("b", 200), ("c", 300)]:
        memory.check("key", nonce, timestamp, 300)
        memory.remember("key", nonce, timestamp)
    assert len(memory) == 2
    with pytest.raises(EdgeError) as stale:
        memory.check("key", "a", 100, 300)  # "a" was forgotten: its timestamp is now refused
    assert stale.value.info.code == 40104
    with pytest.raises(EdgeError) as replayed:
        memory.check("key", "b", 200, 300)
    assert replayed.value.info.code == 40105
    memory.check("key", "d", 250, 300)
