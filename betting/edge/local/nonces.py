"""Replay protection for TokenRequests: each nonce once, and only while its timestamp is current.

A signed TokenRequest is a bearer credential until it is exchanged, so the edge refuses one
whose timestamp is further than `window_ms` from its clock (40104, as Ably answers) and one
whose nonce it has already accepted (40105). Only nonces of requests still within the window
are remembered, at most `capacity` of them: past the cap the oldest is forgotten and every
timestamp up to its own is refused from then on, so a forgotten nonce can never be replayed.
"""

from __future__ import annotations

import heapq

from betting.edge.local.protocol import EdgeError


class NonceMemory:
    def __init__(self, window_ms: int, capacity: int) -> None:
        self._window_ms = window_ms
        self._capacity = capacity
        self._seen: set[tuple[str, str]] = set()
        self._by_time: list[tuple[int, str, str]] = []  # (timestamp, key name, nonce), a heap
        self._floor_ms = -1  # timestamps at or below this are refused: their nonces may be gone

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, key_name: str, nonce: str, timestamp_ms: int, now_ms: int) -> None:
        """Raise 40104 or 40105 unless a request with this nonce and timestamp may be used."""
        self._forget_before(now_ms - self._window_ms)
        if abs(timestamp_ms - now_ms) > self._window_ms or timestamp_ms <= self._floor_ms:
            raise EdgeError(40104, 401, "Timestamp not current")
        if (key_name, nonce) in self._seen:
            raise EdgeError(40105, 401, "Nonce value replayed")

    def remember(self, key_name: str, nonce: str, timestamp_ms: int) -> None:
        self._seen.add((key_name, nonce))
        heapq.heappush(self._by_time, (timestamp_ms, key_name, nonce))
        while len(self._by_time) > self._capacity:
            oldest, name, old_nonce = heapq.heappop(self._by_time)
            self._seen.discard((name, old_nonce))
            self._floor_ms = max(self._floor_ms, oldest)

    def _forget_before(self, cutoff_ms: int) -> None:
        while self._by_time and self._by_time[0][0] < cutoff_ms:
            _, name, nonce = heapq.heappop(self._by_time)
            self._seen.discard((name, nonce))
