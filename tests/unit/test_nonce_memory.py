"""The edge's memory of TokenRequest nonces: no signed request is ever exchanged twice, however
the nonces and clocks go, and the memory never holds more than its cap."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import time

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from betting.edge.local.auth import Authority
from betting.edge.local.nonces import NonceMemory
from betting.edge.local.protocol import EdgeError
from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

WINDOW_MS = 1_000
KEY = "k.name:secret"

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


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=2),
)


@given(
    broken=st.dictionaries(st.sampled_from(["timestamp", "nonce", "ttl", "mac"]), scalars),
    nonce=st.text(string.ascii_letters + string.digits, min_size=16, max_size=128),
    ttl=st.integers(1, 86_400_000),
    signed_after=st.booleans(),
)
def test_any_token_request_gets_a_token_or_an_ably_error(
    broken: dict[str, object], nonce: str, ttl: int, signed_after: bool
) -> None:
    """A good request with any of its fields replaced by anything, signed over what it then
    holds or not: TokenDetails, or an Ably error in the 400xx family, and nothing else."""
    authority = Authority(LocalEdgeSettings(keys=(EdgeKey(key=KEY),)))
    request: dict[str, object] = {
        "keyName": "k.name",
        "timestamp": time.time_ns() // 1_000_000,
        "nonce": nonce,
        "ttl": ttl,
        "clientId": "alice",
        "capability": "",
    }
    request.update({name: value for name, value in broken.items() if name != "mac"})
    if signed_after and all(
        isinstance(request[n], str | int) for n in ("timestamp", "nonce", "ttl")
    ):
        text = "k.name\n{ttl}\n\nalice\n{timestamp}\n{nonce}\n".format(**request)
        digest = hmac.new(b"secret", text.encode(), hashlib.sha256).digest()
        request["mac"] = base64.b64encode(digest).decode()
    if "mac" in broken:
        request["mac"] = broken["mac"]
    try:
        details = authority.issue_token(request, "k.name")
    except EdgeError as refused:
        assert 40000 <= refused.info.code < 50000
        event(f"refused {refused.info.code}")
        return
    event("issued")
    assert details["clientId"] == "alice"
