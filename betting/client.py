"""A bettor's realtime client on the official ably SDK: for `simulate`, tests and bots.

It signs in by name at the server's `POST /auth/token`, exchanges the signed TokenRequest for a
token with the edge, and connects. Against real Ably the SDK does the exchange itself; against
the local edge (plain HTTP on a set port) ably-python 3.1.4 cannot (its realtime client loses
the port on its own REST calls), so the exchange goes through a separate REST request here.
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


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def bettor_realtime(endpoints: BettorEndpoints, user_id: str, **options: Any) -> AblyRealtime:
    import asyncio

    async def token(_params: dict[str, Any]) -> Any:
        token_request = await asyncio.to_thread(
            _post_json, f"{endpoints.api_url}/auth/token", {"user_id": user_id}
        )
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
