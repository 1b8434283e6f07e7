"""The bettor-facing API: races, one's own bets, where the edge is, notification choice.

A bettor's bets and notification choice are theirs alone: those routes need the bearer
credential `/auth/token` issued for that user (401 without a good one, 403 for another's).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from betting.api.admin import ready_views
from betting.api.bearer import CredentialRefused, verify_credential
from betting.api.errors import HttpError, error_response, json_body
from betting.api.services import Services
from betting.codec import SCHEMA
from betting.config import EdgeKind
from betting.domain.errors import InvalidValue
from betting.domain.ids import ID_RULE, parse_id
from betting.history import queries
from betting.history.database import DatabaseUnavailable
from betting.log.port import Outgoing

# The one currency stakes and payouts are in (minor units: cents). A setting once there are two.
CURRENCY = "EUR"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="betting"'}
PRIVATE = {"Cache-Control": "private, no-store"}


def public_routes(services: Services) -> list[Route]:
    async def races(request: Request) -> Response:
        return await answer(lambda: races_view(services))

    async def bets(request: Request) -> Response:
        try:
            user_id = owner(request, services)
            return JSONResponse(bets_view(services, user_id), headers=PRIVATE)
        except HttpError as error:
            return refusal(error)

    async def history(request: Request) -> Response:
        try:
            user_id = owner(request, services)
            page = await history_view(services, user_id, request)
            return JSONResponse(page.as_json("bets"), headers=PRIVATE)
        except HttpError as error:
            return refusal(error)

    async def config(request: Request) -> Response:
        return JSONResponse(edge_config(services))

    async def notifications(request: Request) -> Response:
        try:
            if request.method == "GET":
                return notifications_view(request, services)
            return await set_notifications(request, services)
        except HttpError as error:
            return refusal(error)

    return [
        Route("/api/races", races, methods=["GET"]),
        Route("/api/users/{user_id}/bets", bets, methods=["GET"]),
        Route("/api/users/{user_id}/history", history, methods=["GET"]),
        Route("/api/users/{user_id}/notifications", notifications, methods=["GET", "POST"]),
        Route("/api/config", config, methods=["GET"]),
    ]


async def answer(view: object) -> Response:
    try:
        return JSONResponse(view())  # type: ignore[operator]
    except HttpError as error:
        return error_response(error.status, error.message)


def refusal(error: HttpError) -> Response:
    response = error_response(error.status, error.message)
    if error.status == 401:
        response.headers.update(CHALLENGE)
    return response


def owner(request: Request, services: Services) -> str:
    """The user of the path, when the request carries that user's credential."""
    try:
        user_id = parse_id(request.path_params["user_id"])
    except InvalidValue:
        raise HttpError(400, f"user_id: {ID_RULE}") from None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpError(401, "sign in: send the api_token from /auth/token as a Bearer token")
    try:
        holder = verify_credential(services.settings.edge.api_key, token, time.time_ns() // 10**6)
    except CredentialRefused as refused:
        raise HttpError(401, str(refused)) from None
    if holder != user_id:
        raise HttpError(403, "these are another user's")
    return user_id


def races_view(services: Services) -> dict[str, object]:
    views = ready_views(services)
    ordered = sorted(views.races.values(), key=lambda v: v.header.race.scheduled_start_ms)
    return {"races": [public_race(view) for view in ordered]}


def public_race(view: Any) -> dict[str, object]:
    """The read model's race, with the stake limits its bets are checked against."""
    risk = view.header.race.risk
    return {
        **view.public(),
        "stake_min_minor": risk.stake_min_minor,
        "stake_max_minor": risk.stake_max_minor,
    }


def bets_view(services: Services, user_id: str) -> dict[str, object]:
    views = ready_views(services)
    return {"bets": views.bets_of(user_id)}


async def history_view(services: Services, user_id: str, request: Request) -> queries.Page:
    """A page of the user's bets from the history database, newest first."""
    store = services.history
    if store is None or not store.opened:
        raise HttpError(503, "bet history is not available (history.kind, or starting)")
    try:
        limit = queries.parse_limit(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor")
        return await queries.user_bets(store.db, user_id, limit, cursor)
    except InvalidValue as error:
        raise HttpError(400, str(error)) from None
    except DatabaseUnavailable:
        raise HttpError(503, "the history database cannot be reached now") from None


def edge_config(services: Services) -> dict[str, object]:
    edge = services.settings.edge
    if edge.kind is EdgeKind.ABLY:
        endpoint = edge.ably_endpoint or None
        location = {"endpoint": endpoint, "port": edge.ably_port or None, "tls": edge.ably_tls}
    else:
        location = {"endpoint": edge.host, "port": services.edge_port or edge.port, "tls": False}
    return {"edge": location, "bet_shards": edge.bet_shards, "currency": CURRENCY}


def notifications_view(request: Request, services: Services) -> Response:
    """The user's choice as the log holds it: off until they turn it on. A choice just sent
    shows here once the read model has read it."""
    user_id = owner(request, services)
    enabled = bool(ready_views(services).notifications.get(user_id, False))
    return JSONResponse({"user_id": user_id, "notifications": enabled}, headers=PRIVATE)


async def set_notifications(request: Request, services: Services) -> Response:
    user_id = owner(request, services)
    body = await json_body(request, 1_024)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise HttpError(422, "enabled: true or false")
    if services.producer is None:
        raise HttpError(503, "the event log is not available yet")
    value = orjson.dumps({"v": SCHEMA, "notifications": enabled})
    topic = services.settings.topics.users
    await services.producer.send([Outgoing(topic, user_id.encode(), value)])
    return JSONResponse({"user_id": user_id, "notifications": enabled}, headers=PRIVATE)
