"""A bettor's realtime client on the official ably SDK: for `simulate`, tests and bots.

It signs in by name at the server's `POST /auth/token`, which answers a signed TokenRequest
and the bettor's credential for the public API (`api_get`/`api_post` send it), exchanges the
TokenRequest for a token with the edge, and connects. Against real Ably the SDK does the
exchange itself; against the local edge (plain HTTP on a set port) ably-python 3.1.4 cannot
(its realtime client loses the port on its own REST calls), so the exchange goes through a
separate REST request here.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from ably import AblyRealtime, AblyVCDiffDecoder
from ably.types.tokendetails import TokenDetails


@dataclass(frozen=True, slots=True)
class BettorEndpoints:
    api_url: str  # the server's HTTP base, e.g. http://127.0.0.1:8080
    edge_host: str | None = None  # None: real Ably
    edge_port: int | None = None
    tls: bool = True


@dataclass(frozen=True, slots=True)
class SignIn:
    token_request: dict[str, Any]  # for the edge: exchanged once for a token
    api_token: str  # for the public API: `Authorization: Bearer <api_token>`
    api_token_expires_ms: int


def _post_json(url: str, body: dict[str, Any], api_token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if api_token is not None:
        headers["Authorization"] = f"Bearer {api_token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def sign_in(api_url: str, user_id: str) -> SignIn:
    answer = _post_json(f"{api_url}/auth/token", {"user_id": user_id})
    return SignIn(answer["token_request"], answer["api_token"], answer["api_token_expires_ms"])


def api_get(api_url: str, path: str, api_token: str) -> dict[str, Any]:
    """GET one of the bettor's own resources, such as `/api/users/<me>/bets`."""
    request = urllib.request.Request(
        f"{api_url}{path}", headers={"Authorization": f"Bearer {api_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def api_post(api_url: str, path: str, body: dict[str, Any], api_token: str) -> dict[str, Any]:
    return _post_json(f"{api_url}{path}", body, api_token)


def bettor_realtime(endpoints: BettorEndpoints, user_id: str, **options: Any) -> AblyRealtime:
    import asyncio

    async def token(_params: dict[str, Any]) -> Any:
        signed_in = await asyncio.to_thread(sign_in, endpoints.api_url, user_id)
        token_request = signed_in.token_request
        if endpoints.edge_port is None:
            return token_request  # real Ably exchanges it itself
        scheme = "https" if endpoints.tls else "http"
        url = (
            f"{scheme}://{endpoints.edge_host}:{endpoints.edge_port}"
            f"/keys/{token_request['keyName']}/requestToken"
        )
        details = await asyncio.to_thread(_post_json, url, token_request)
        return TokenDetails.from_dict(details)

    options.setdefault("vcdiff_decoder", AblyVCDiffDecoder())
    options["auth_callback"] = token
    options["tls"] = endpoints.tls
    if endpoints.edge_port is not None:
        options["endpoint"] = f"{endpoints.edge_host}:{endpoints.edge_port}"
    return AblyRealtime(**options)
