"""A bettor's credential for the public API, issued by `/auth/token` with each TokenRequest.

`<user_id>:<expires_ms>:<mac>`, the mac an HMAC-SHA256 of the rest under a key derived from
the server's edge key secret (derived, so it can never be confused with an Ably signature).
Only the server can issue or check one, so it works the same whether the edge is the local
one or real Ably, whose tokens the server cannot read. User ids hold no `:` (the id rule).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from betting.domain.errors import InvalidValue
from betting.domain.ids import is_valid_id
from betting.domain.numbers import parse_int

PURPOSE = b"betting public api credential v1"
CREDENTIAL_MAX = 256


class CredentialRefused(Exception):
    """Missing, malformed, forged or expired: answered 401 with this reason."""


@dataclass(frozen=True, slots=True)
class ApiCredential:
    token: str
    user_id: str
    expires_ms: int


def _mac_key(edge_key: str) -> bytes:
    secret = edge_key.partition(":")[2]
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def _mac(edge_key: str, body: str) -> str:
    digest = hmac.new(_mac_key(edge_key), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_credential(edge_key: str, user_id: str, expires_ms: int) -> ApiCredential:
    body = f"{user_id}:{expires_ms}"
    return ApiCredential(f"{body}:{_mac(edge_key, body)}", user_id, expires_ms)


def verify_credential(edge_key: str, token: str, now_ms: int) -> str:
    """The user the credential was issued to; `CredentialRefused` if it is not good now."""
    if len(token) > CREDENTIAL_MAX or not token.isascii():
        raise CredentialRefused("malformed credential")
    parts = token.split(":")
    if len(parts) != 3 or not is_valid_id(parts[0]):
        raise CredentialRefused("malformed credential")
    user_id, expires_text, mac = parts
    try:
        expires_ms = parse_int(expires_text, "expires", digits_max=15)
    except InvalidValue:
        raise CredentialRefused("malformed credential") from None
    if not hmac.compare_digest(_mac(edge_key, f"{user_id}:{expires_text}"), mac):
        raise CredentialRefused("credential not recognised")
    if expires_ms <= now_ms:
        raise CredentialRefused("credential expired")
    return user_id
