"""A bettor's realtime client on the official ably SDK: for `simulate`, tests and bots.

It signs in by name at the server's `POST /auth/token`, which answers a signed TokenRequest
and the bettor's credential for the public API (`api_get`/`api_post` send it), exchanges the
TokenRequest for a token with the edge, and connects. Against real Ably the SDK does the
exchange itself; against the local edge (plain HTTP on a set port) ably-python 3.1.4 cannot
(its realtime client loses the port on its own REST calls), so the exchange goes through a
separate REST request here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ably import AblyRealtime, AblyRest, AblyVCDiffDecoder
from ably.types.tokendetails import TokenDetails

from betting.channels import USER_CHANNEL_PARAMS, user_channel
from betting.edge.sdk_acks import make_acks_exact

log = logging.getLogger("betting.client")


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


TokenCallback = Callable[[dict[str, Any]], Awaitable[Any]]


def bettor_realtime(endpoints: BettorEndpoints, user_id: str, **options: Any) -> AblyRealtime:
    options.setdefault("vcdiff_decoder", AblyVCDiffDecoder())
    options["auth_callback"] = _token_callback(endpoints, user_id)
    options["tls"] = endpoints.tls
    if endpoints.edge_port is not None:
        options["endpoint"] = f"{endpoints.edge_host}:{endpoints.edge_port}"
    return make_acks_exact(AblyRealtime(**options))


def bettor_rest(endpoints: BettorEndpoints, user_id: str) -> AblyRest:
    """The SDK's REST client for the bettor's own history reads. A separate client: against
    the local edge, ably-python's realtime client cannot make REST calls (see above)."""
    options: dict[str, Any] = {
        "auth_callback": _token_callback(endpoints, user_id),
        "tls": endpoints.tls,
    }
    if endpoints.edge_port is not None:
        options["endpoint"] = endpoints.edge_host
        options["tls_port" if endpoints.tls else "port"] = endpoints.edge_port
    return AblyRest(**options)


def _token_callback(endpoints: BettorEndpoints, user_id: str) -> TokenCallback:
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

    return token


# What the feed remembers to de-duplicate: far more than the two minutes of history a
# continuity loss can bring back (Ably keeps two minutes; so does the local edge).
SEEN_IDS_MAX = 10_000
HISTORY_LIMIT = 100  # Ably's page maximum


class UserFeed:
    """A bettor's own channel (outcomes, settlements, notices) with no gap and no repeat.

    While Ably can resume the channel, it delivers everything in order. When it cannot (the
    edge restarted, the client reconnected to another instance, or the channel was
    suspended), the re-attach reports `resumed=false` and delivers only new messages, plus
    the rewind when the SDK asks for one. Ably's answer is the channel's history, and the
    feed reads it then: what it had not seen is passed on, oldest first. Every message is
    passed on once, by message id, whichever way it came.
    """

    def __init__(self, realtime: AblyRealtime, rest: AblyRest, user_id: str) -> None:
        self._channel = realtime.channels.get(user_channel(user_id), params=USER_CHANNEL_PARAMS)
        self._history = rest.channels.get(user_channel(user_id))
        self._handlers: dict[str, Callable[[Any], None]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._attached_before = False
        self._fills: set[asyncio.Task[None]] = set()
        self.gaps_filled = 0  # messages recovered from history after a continuity loss

    async def subscribe(self, handlers: dict[str, Callable[[Any], None]]) -> None:
        """Attach and listen: `handlers` maps message names to callbacks (one message each)."""
        self._handlers = handlers
        self._channel.on(self._on_state)
        await self._channel.subscribe(self._on_message)

    def on_change(self, listener: Callable[[Any], None]) -> None:
        """The channel's state changes, for a caller that wants to see them too."""
        self._channel.on(listener)

    async def close(self) -> None:
        for task in self._fills:
            task.cancel()

    def _on_state(self, change: Any) -> None:
        if getattr(change.current, "value", change.current) != "attached":
            return
        if self._attached_before and not change.resumed:
            task = asyncio.get_running_loop().create_task(self._fill())
            self._fills.add(task)
            task.add_done_callback(self._fills.discard)
        self._attached_before = True

    def _on_message(self, message: Any) -> None:
        if message.id is not None:
            if message.id in self._seen:
                return
            self._seen[message.id] = None
            if len(self._seen) > SEEN_IDS_MAX:
                self._seen.popitem(last=False)
        handler = self._handlers.get(message.name)
        if handler is not None:
            handler(message)

    async def _fill(self) -> None:
        """History newest first, retried until it answers: the gap is real until it is read."""
        delay_s = 0.2
        while True:
            try:
                page = await self._history.history(direction="backwards", limit=HISTORY_LIMIT)
                break
            except Exception as error:  # the SDK raises its own; the edge may be restarting
                log.debug("history read failed; retrying", extra={"fields": {"error": str(error)}})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
        for message in reversed(page.items):
            if message.id not in self._seen:
                self.gaps_filled += 1
            self._on_message(message)
