"""Responsible gambling: deposit and loss limits over a rolling 24 h, and self-exclusion.

Pure values and small windows; every time is passed in (the ledger's clock, which never goes
back). A limit is in minor units; `None` means no limit.

- Lowering a limit (or setting one where there was none) takes effect at once, and drops any
  raise that was waiting. Raising one (or removing it) takes effect only `LIMIT_DELAY_MS` after
  it was asked for: a bettor chasing losses cannot lift a limit in the heat of the moment.
  Asking again for a raise already waiting keeps its original time.
- Self-exclusion runs until a time (indefinite exclusion is `EXCLUDED_FOREVER_MS`); it can be
  extended, never shortened.

What the loss limit counts, as operators' "net loss" limits do: over the last 24 h, the stakes
of bets placed (held), whether still open or settled, minus what was paid back on winning bets
(the payout, stake included). A refunded (released) bet takes its stake back out. Stakes count
when held, so open bets count: a bettor cannot exceed the limit with bets not yet settled. Net
winnings inside the window make the figure negative, which leaves room for more stakes.

The deposit limit counts deposits made in the last 24 h; a withdrawal does not give room back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DAY_MS = 86_400_000
WINDOW_MS = DAY_MS  # the rolling window both limits are measured over
LIMIT_DELAY_MS = DAY_MS  # how long a raised (or removed) limit waits before it applies
EXCLUDED_FOREVER_MS = 4_102_444_800_000  # the last time the domain accepts: 2100-01-01


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit in force and, maybe, a raise waiting until `raise_from_ms`."""

    minor: int | None = None
    raised_minor: int | None = None
    raise_from_ms: int | None = None  # None: no raise is waiting

    def at(self, at_ms: int) -> int | None:
        """The limit that applies at `at_ms`."""
        if self.raise_from_ms is not None and at_ms >= self.raise_from_ms:
            return self.raised_minor
        return self.minor

    def waiting(self, at_ms: int) -> bool:
        return self.raise_from_ms is not None and at_ms < self.raise_from_ms

    def changed(self, new_minor: int | None, at_ms: int) -> Limit:
        """This limit after the bettor asks for `new_minor` at `at_ms`."""
        current = self.at(at_ms)
        if is_tighter_or_equal(new_minor, current):
            return Limit(new_minor)
        if self.waiting(at_ms) and self.raised_minor == new_minor:
            return self
        return Limit(current, new_minor, at_ms + LIMIT_DELAY_MS)


def is_tighter_or_equal(new_minor: int | None, current_minor: int | None) -> bool:
    if new_minor is None:
        return current_minor is None
    return current_minor is None or new_minor <= current_minor


def exceeds(limit_minor: int | None, used_minor: int, amount_minor: int) -> bool:
    return limit_minor is not None and used_minor + amount_minor > limit_minor


@dataclass(frozen=True, slots=True)
class UserLimits:
    deposit: Limit = Limit()
    loss: Limit = Limit()
    excluded_until_ms: int = 0  # self-excluded while the clock is before this

    def excluded(self, at_ms: int) -> bool:
        return at_ms < self.excluded_until_ms

    def excluded_until(self, until_ms: int) -> UserLimits:
        """Self-exclusion extended to `until_ms`; an earlier end is ignored (never shortened)."""
        until_ms = max(self.excluded_until_ms, until_ms)
        return UserLimits(self.deposit, self.loss, until_ms)


class _Entry:
    __slots__ = ("amount_minor", "at_ms", "key")

    def __init__(self, at_ms: int, amount_minor: int, key: str) -> None:
        self.at_ms = at_ms
        self.amount_minor = amount_minor
        self.key = key


class RollingSum:
    """Signed amounts dated in ms, and their total over the last `WINDOW_MS`.

    Entries arrive in time order (the ledger's clock never goes back), so old ones leave from
    the front; the memory held is the window's entries, no more. An entry added with a key can
    be cancelled (a released stake) while it is still inside the window.
    """

    __slots__ = ("_entries", "_keyed", "_total_minor")

    def __init__(self) -> None:
        self._entries: deque[_Entry] = deque()
        self._keyed: dict[str, _Entry] = {}
        self._total_minor = 0

    def add(self, at_ms: int, amount_minor: int, key: str = "") -> None:
        entry = _Entry(at_ms, amount_minor, key)
        self._entries.append(entry)
        self._total_minor += amount_minor
        if key:
            self._keyed[key] = entry

    def cancel(self, key: str) -> None:
        entry = self._keyed.pop(key, None)
        if entry is not None:
            self._total_minor -= entry.amount_minor
            entry.amount_minor = 0

    def total_minor(self, now_ms: int) -> int:
        """The sum of entries dated after `now_ms - WINDOW_MS`."""
        horizon_ms = now_ms - WINDOW_MS
        entries = self._entries
        while entries and entries[0].at_ms <= horizon_ms:
            entry = entries.popleft()
            self._total_minor -= entry.amount_minor
            if entry.key:
                self._keyed.pop(entry.key, None)
        return self._total_minor
