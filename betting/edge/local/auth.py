"""Keys, capabilities, token requests and tokens of the local edge."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int
from betting.edge.local.nonces import NonceMemory
from betting.edge.local.protocol import EdgeError
from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

Capability = Mapping[str, frozenset[str]]
WILDCARD_CLIENT_ID = "*"
# Ably asks for a nonce of at least 16 characters; the upper bound keeps the memory of them small.
NONCE_LENGTH = (16, 128)


def parse_capability(text: str) -> dict[str, frozenset[str]]:
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise EdgeError(40000, 400, "Capability is not valid JSON") from error
    if not isinstance(raw, dict):
        raise EdgeError(40000, 400, "Capability must be a JSON object")
    capability: dict[str, frozenset[str]] = {}
    for resource, operations in raw.items():
        if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
            raise EdgeError(40000, 400, "Capability operations must be lists of strings")
        capability[resource] = frozenset(operations)
    return capability


def pattern_covers(pattern: str, resource: str) -> bool:
    """Ably-style resource wildcards: `*` alone matches everything, `prefix*` a prefix."""
    if pattern in ("*", resource):
        return True
    return pattern.endswith("*") and resource.startswith(pattern[:-1])


def permits(capability: Capability, channel: str, operation: str) -> bool:
    return any(
        pattern_covers(pattern, channel) and ("*" in operations or operation in operations)
        for pattern, operations in capability.items()
    )


def narrow_capability(granted: Capability, requested: Capability) -> dict[str, frozenset[str]]:
    """The part of `requested` that `granted` allows; a token never exceeds its key."""
    narrowed: dict[str, frozenset[str]] = {}
    for resource, operations in requested.items():
        allowed = frozenset().union(
            *(ops for pattern, ops in granted.items() if pattern_covers(pattern, resource))
        )
        if "*" in allowed:
            kept = operations
        else:
            kept = allowed if "*" in operations else operations & allowed
        if kept:
            narrowed[resource] = kept
    if not narrowed:
        raise EdgeError(40160, 401, "Requested capability is not permitted by the key")
    return narrowed


def capability_json(capability: Capability) -> str:
    return orjson.dumps({k: sorted(v) for k, v in sorted(capability.items())}).decode()


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who is connected or calling REST: the key behind them and what they may do."""

    key_name: str
    capability: Capability
    client_id: str | None
    expires_ms: int | None = None  # a token's expiry; None for a key, which does not expire

    def may_publish_as(self, client_id: str | None) -> bool:
        if client_id is None or self.client_id == WILDCARD_CLIENT_ID:
            return True
        return client_id == self.client_id

    def may_connect_as(self, client_id: str | None) -> bool:
        return client_id is None or self.client_id in (None, WILDCARD_CLIENT_ID, client_id)


def now_ms() -> int:
    return int(time.time() * 1000)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authority:
    """Checks keys and tokens. Tokens are self-contained and signed with their key's secret,
    so nothing about them is stored and they survive an edge restart."""

    def __init__(self, settings: LocalEdgeSettings) -> None:
        self._settings = settings
        self.nonces = NonceMemory(
            settings.token_request_window_ms, settings.token_request_nonces_max
        )

    def from_key(self, key_text: str, client_id: str | None) -> Credentials:
        key = self._key_or_fail(key_text.partition(":")[0])
        if not hmac.compare_digest(key.key.encode(), key_text.encode()):
            raise EdgeError(40101, 401, "Invalid key")
        return Credentials(key.name, parse_capability(key.capability), client_id)

    def from_token(self, token: str) -> Credentials:
        body, _, signature = token.partition(".")
        try:
            claims = orjson.loads(_unb64url(body))
            key = self._key_or_fail(str(claims["keyName"]))
            expected = hmac.new(key.secret.encode(), body.encode(), hashlib.sha256).digest()
            valid = hmac.compare_digest(expected, _unb64url(signature))
        except (ValueError, KeyError, TypeError, binascii.Error, EdgeError) as error:
            raise EdgeError(40143, 401, "Token not recognised") from error
        if not valid or not isinstance(claims, dict):
            raise EdgeError(40143, 401, "Token not recognised")
        expires = claims.get("expires")
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise EdgeError(40143, 401, "Token not recognised")
        if expires <= now_ms():
            raise EdgeError(40142, 401, "Token expired")
        capability = parse_capability(str(claims["capability"]))
        client_id = claims.get("clientId")
        return Credentials(
            key.name, capability, client_id if isinstance(client_id, str) else None, expires
        )

    def issue_token(self, token_request: Mapping[str, Any], key_name: str) -> dict[str, Any]:
        """Verify a signed TokenRequest and answer TokenDetails, once per nonce, and only
        while the request's timestamp is current."""
        key = self._key_or_fail(key_name)
        fields = _token_request_fields(token_request, key_name)
        expected = base64.b64encode(
            hmac.new(key.secret.encode(), _signed_text(fields).encode(), hashlib.sha256).digest()
        )
        mac = token_request.get("mac")
        if not isinstance(mac, str) or not mac.isascii():
            raise EdgeError(40101, 401, "Invalid token request signature")
        if not hmac.compare_digest(expected, mac.encode()):
            raise EdgeError(40101, 401, "Invalid token request signature")
        timestamp, nonce = _timestamp_and_nonce(fields)
        self.nonces.check(key.name, nonce, timestamp, now_ms())
        details = self._token_details(key, fields)
        self.nonces.remember(key.name, nonce, timestamp)
        return details

    def _token_details(self, key: EdgeKey, fields: dict[str, str]) -> dict[str, Any]:
        granted = parse_capability(key.capability)
        requested = parse_capability(fields["capability"]) if fields["capability"] else granted
        capability = capability_json(narrow_capability(granted, requested))
        ttl_ms = self._settings.token_ttl_ms_default
        if fields["ttl"]:
            try:
                ttl_ms = parse_int(
                    fields["ttl"], "ttl", low=1, high=self._settings.token_ttl_ms_max
                )
            except InvalidValue:
                raise EdgeError(40003, 400, "Token ttl out of range") from None
        issued = now_ms()
        claims: dict[str, Any] = {
            "keyName": key.name,
            "issued": issued,
            "expires": issued + ttl_ms,
            "capability": capability,
        }
        if fields["clientId"]:
            claims["clientId"] = fields["clientId"]
        body = _b64url(orjson.dumps(claims))
        signature = _b64url(hmac.new(key.secret.encode(), body.encode(), hashlib.sha256).digest())
        return {"token": f"{body}.{signature}", **claims}

    def _key_or_fail(self, key_name: str) -> EdgeKey:
        key = self._settings.key_named(key_name)
        if key is None:
            raise EdgeError(40400, 404, "No such key")
        return key


def _token_request_fields(token_request: Mapping[str, Any], key_name: str) -> dict[str, str]:
    if token_request.get("keyName") != key_name:
        raise EdgeError(40000, 400, "TokenRequest keyName does not match the path")
    fields: dict[str, str] = {"keyName": key_name}
    for name in ("ttl", "capability", "clientId", "timestamp", "nonce"):
        value = token_request.get(name)
        if value is not None and not isinstance(value, str | int):
            raise EdgeError(40000, 400, f"TokenRequest {name} has the wrong type")
        fields[name] = "" if value is None else str(value)
    if not fields["nonce"] or not fields["timestamp"]:
        raise EdgeError(40000, 400, "TokenRequest needs a nonce and a timestamp")
    return fields


def _timestamp_and_nonce(fields: Mapping[str, str]) -> tuple[int, str]:
    try:
        timestamp = parse_int(fields["timestamp"], "TokenRequest timestamp", digits_max=15)
    except InvalidValue as error:
        raise EdgeError(40000, 400, str(error)) from None
    nonce = fields["nonce"]
    low, high = NONCE_LENGTH
    if not (low <= len(nonce) <= high and nonce.isascii() and nonce.isprintable()):
        raise EdgeError(40000, 400, f"TokenRequest nonce: {low} to {high} ASCII characters")
    return timestamp, nonce


def _signed_text(fields: Mapping[str, str]) -> str:
    order = ("keyName", "ttl", "capability", "clientId", "timestamp", "nonce")
    return "".join(f"{fields[name]}\n" for name in order)
