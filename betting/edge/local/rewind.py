"""Channel `rewind`, as Ably does it (https://ably.com/docs/channels/options/rewind).

A fresh attach with the channel param `rewind` first gets messages from the channel's recent
past, oldest first, then live ones:
- `rewind=N` (N >= 0): the newest N messages;
- `rewind=Ns` or `rewind=Nm`: the messages received in the last N seconds or minutes;
- `rewindLimit=N` with a time: at most the newest N of those.

Limits honoured, as Ably's: at most `rewind_messages_max` (100) messages, and nothing older
than `rewind_window_ms_max` (2 minutes, Ably's period without persisted history), by count or
by time; a longer span is clipped, not refused. The channel's bounded history
(`history_per_channel`) bounds it too. When messages in range could not all be sent, the
attach still succeeds and ATTACHED carries the non-fatal error 90004, as Ably's does. A value
that is neither a count nor a time (ASCII digits only, at most 9 of them) fails the attach
with 40003, invalid parameter value; the connection carries on. A re-attach (ATTACH_RESUME, or a
channelSerial) never rewinds: it resumes from its serial or, with continuity lost, goes on live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int
from betting.edge.local.channel import Channel, HistoryEntry
from betting.edge.local.names import shown
from betting.edge.local.protocol import ErrorInfo, invalid_parameter
from betting.edge.local.settings import LocalEdgeSettings

REWIND_VALUE = re.compile(r"([0-9]{1,9})([sm]?)", re.ASCII)
REWIND_DIGITS_MAX = 9
UNIT_MS = {"s": 1_000, "m": 60_000}
BACKLOG_TRUNCATED = ErrorInfo(90004, 404, "Unable to recover channel (message limit exceeded)")


@dataclass(frozen=True, slots=True)
class Rewind:
    """The newest `limit` messages received at or after `since_ms`. `capped` says that the
    edge's limit, not the client's count, set `limit`: more in range is then a truncation."""

    since_ms: int
    limit: int
    capped: bool


@dataclass(slots=True)
class Backlog:
    """What an attach sends before live messages: (entry, index of its first message)."""

    parts: list[tuple[HistoryEntry, int]] = field(default_factory=list)
    resumed: bool = False
    truncated: bool = False


def parse_rewind(
    params: Mapping[str, str], settings: LocalEdgeSettings, now_ms: int
) -> Rewind | None:
    """None when no rewind was asked for; EdgeError (40000) for a value Ably would refuse."""
    value = params.get("rewind")
    if value is None:
        return None
    match = REWIND_VALUE.fullmatch(value.strip())
    if match is None:
        raise invalid_parameter(
            f"Invalid rewind {shown(value)!r}: expected a count, or a time such as 30s or 2m"
        )
    amount, unit = int(match.group(1)), match.group(2)
    window_ms = settings.rewind_window_ms_max
    asked: int | None = amount
    if unit:
        window_ms = min(window_ms, amount * UNIT_MS[unit])
        asked = _rewind_limit(params.get("rewindLimit"))
    limit = settings.rewind_messages_max
    if asked is not None:
        limit = min(limit, asked)
    capped = asked is None or asked > limit
    return Rewind(since_ms=now_ms - window_ms, limit=limit, capped=capped)


def _rewind_limit(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_int(value.strip(), "rewindLimit", digits_max=REWIND_DIGITS_MAX)
    except InvalidValue:
        raise invalid_parameter(f"Invalid rewindLimit {shown(value)!r}: expected a count") from None


def rewind_backlog(channel: Channel, rewind: Rewind) -> Backlog:
    """Walk the history newest first, then hand the chosen part back oldest first."""
    parts: list[tuple[HistoryEntry, int]] = []
    remaining = rewind.limit
    for entry in reversed(channel.history):
        if entry.received_ms < rewind.since_ms:
            return _oldest_first(parts, truncated=False)
        if remaining == 0:
            return _oldest_first(parts, truncated=rewind.capped)
        skip = max(0, len(entry.messages) - remaining)
        parts.append((entry, skip))
        remaining -= len(entry.messages) - skip
        if skip:
            return _oldest_first(parts, truncated=rewind.capped)
    # All kept history is in range: what the bounded history dropped may have been too.
    evicted = channel.evicted_received_ms
    lost = evicted is not None and evicted >= rewind.since_ms and (remaining > 0 or rewind.capped)
    return _oldest_first(parts, truncated=lost)


def _oldest_first(parts: Iterable[tuple[HistoryEntry, int]], *, truncated: bool) -> Backlog:
    return Backlog(parts=list(reversed(list(parts))), truncated=truncated)
