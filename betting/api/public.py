"""The bettor-facing API: races, one's own bets, where the edge is, notification choice."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from betting.api.admin import ID, ready_views
from betting.api.errors import HttpError, error_response, json_body
from betting.api.services import Services
from betting.codec import SCHEMA
from betting.config import EdgeKind
from betting.log.port import Outgoing


def public_routes(services: Services) -> list[Route]:
    async def races(request: Request) -> Response:
        return await answer(lambda: races_view(services))

    async def bets(request: Request) -> Response:
        return await answer(lambda: bets_view(services, request.path_params["user_id"]))

    async def config(request: Request) -> Response:
        return JSONResponse(edge_config(services))

    async def notifications(request: Request) -> Response:
        try:
            return await set_notifications(request, services)
        except HttpError as error:
            return error_response(error.status, error.message)

    return [
        Route("/api/races", races, methods=["GET"]),
        Route("/api/users/{user_id}/bets", bets, methods=["GET"]),
        Route("/api/users/{user_id}/notifications", notifications, methods=["POST"]),
        Route("/api/config", config, methods=["GET"]),
    ]


async def answer(view: object) -> Response:
    try:
        return JSONResponse(view())  # type: ignore[operator]
    except HttpError as error:
        return error_response(error.status, error.message)


def races_view(services: Services) -> dict[str, object]:
    views = ready_views(services)
    ordered = sorted(views.races.values(), key=lambda v: v.header["race"]["scheduled_start_ms"])
    return {"races": [view.public() for view in ordered]}


def bets_view(services: Services, user_id: str) -> dict[str, object]:
    views = ready_views(services)
    return {"bets": [views.bets[bet_id] for bet_id in views.user_bets.get(user_id, [])]}


def edge_config(services: Services) -> dict[str, object]:
    edge = services.settings.edge
    if edge.kind is EdgeKind.ABLY:
        endpoint = edge.ably_endpoint or None
        location = {"endpoint": endpoint, "port": edge.ably_port or None, "tls": edge.ably_tls}
    else:
        location = {"endpoint": edge.host, "port": services.edge_port or edge.port, "tls": False}
    return {"edge": location, "bet_shards": edge.bet_shards}


async def set_notifications(request: Request, services: Services) -> Response:
    user_id = request.path_params["user_id"]
    if not ID.match(user_id):
        raise HttpError(422, "user_id: letters, digits and _ . : - only")
    body = await json_body(request, 1_024)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise HttpError(422, "enabled: true or false")
    if services.producer is None:
        raise HttpError(503, "the event log is not available yet")
    value = orjson.dumps({"v": SCHEMA, "notifications": enabled})
    topic = services.settings.topics.users
    await services.producer.send([Outgoing(topic, user_id.encode(), value)])
    return JSONResponse({"user_id": user_id, "notifications": enabled})
