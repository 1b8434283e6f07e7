"""Channel names: one place for the names clients and tasks must agree on."""

from __future__ import annotations

import zlib

ODDS_PREFIX = "outbound:odds:"
USER_PREFIX = "outbound:user:"
BETS_PREFIX = "inbound:bets:"
# A bettor attaches to their own channel with a rewind: when the edge cannot resume the
# channel (it restarted, or the client reconnected to another instance), the history it
# rebuilt from the log is replayed, so no outcome is unheard; repeats keep their ids and bet
# ids, and a client applies each bet's outcome once.
USER_CHANNEL_PARAMS = {"rewind": "2m"}
# A watcher attaches to a race's odds with deltas and a rewind of one: every message is the
# whole book, so the newest is all a watcher needs. When the edge cannot resume the channel,
# the re-attach then starts with the newest odds rather than waiting for the next change
# (which never comes for a race whose prices have stopped moving).
ODDS_CHANNEL_PARAMS = {"delta": "vcdiff", "rewind": "1"}


def odds_channel(race_id: str) -> str:
    return f"{ODDS_PREFIX}{race_id}"


def user_channel(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def bets_channel(shard: int) -> str:
    return f"{BETS_PREFIX}{shard}"


def bets_shard(user_id: str, shards: int) -> int:
    """A user's bets always go through one shard channel: their order is kept, and real
    Ably's per-channel rate limit is shared by a fixed fraction of the users."""
    return zlib.crc32(user_id.encode()) % shards
