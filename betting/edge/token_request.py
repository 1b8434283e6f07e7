"""Signed Ably TokenRequests for bettors: the server's key signs, and never leaves the server.

A client's SDK fetches one from `POST /auth/token` (its authCallback) and exchanges it with the
edge for a token; real Ably and the local edge accept the same request. The signature is
HMAC-SHA256 over the request's fields, one per line, keyed by the key's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import orjson

from betting.channels import ODDS_PREFIX, bets_channel, bets_shard, user_channel

TOKEN_TTL_MS = 3_600_000


def bettor_capability(user_id: str, bet_shards: int) -> dict[str, list[str]]:
    """Watch every race's odds and one's own channel; publish bets, on the one shard
    channel the user's bets go through. Not `inbound:bets:*`: a bet on a shard nobody
    reads (`inbound:bets:9` of 4) would be acknowledged and then never answered; naming
    the shard refuses it (40160) and keeps the token small whatever the shard count."""
    return {
        f"{ODDS_PREFIX}*": ["subscribe", "history"],
        user_channel(user_id): ["subscribe", "history"],
        bets_channel(bets_shard(user_id, bet_shards)): ["publish"],
    }


def signed_token_request(
    key: str,
    client_id: str,
    capability: dict[str, list[str]],
    timestamp_ms: int,
    ttl_ms: int = TOKEN_TTL_MS,
    nonce: str | None = None,
) -> dict[str, Any]:
    key_name, _, secret = key.partition(":")
    if not key_name or not secret:
        raise ValueError("an API key looks like 'name:secret'")
    fields: dict[str, Any] = {
        "keyName": key_name,
        "ttl": ttl_ms,
        "capability": orjson.dumps(capability).decode(),
        "clientId": client_id,
        "timestamp": timestamp_ms,
        "nonce": nonce or secrets.token_hex(16),
    }
    text = "".join(
        f"{fields[name]}\n"
        for name in ("keyName", "ttl", "capability", "clientId", "timestamp", "nonce")
    )
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    fields["mac"] = base64.b64encode(digest).decode()
    return fields
