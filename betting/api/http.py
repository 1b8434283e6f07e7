"""The HTTP server of the process: health, token requests, the admin and public APIs."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from betting.api.admin import admin_routes
from betting.api.body import BodyRefused, bounded_body
from betting.api.metrics import MetricSources, metrics_route
from betting.api.public import public_routes
from betting.api.services import Services
from betting.api.web import WEB_DIR, web_routes
from betting.config import EdgeSettings
from betting.edge.token_request import bettor_capability, signed_token_request
from betting.health import Readiness

USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
AUTH_BODY_MAX = 4_096


def build_app(
    readiness: Readiness,
    edge: EdgeSettings | None = None,
    services: Services | None = None,
    metrics: MetricSources | None = None,
) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if readiness.is_ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reasons": readiness.reasons()}, 503)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz)]
    if edge is not None:
        routes.append(Route("/auth/token", token_endpoint(edge), methods=["POST"]))
    if services is not None:
        routes += admin_routes(services) + public_routes(services)
    if metrics is not None:
        routes.append(metrics_route(metrics))
    routes += web_routes(WEB_DIR)
    return Starlette(routes=routes)


def token_endpoint(edge: EdgeSettings) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A signed TokenRequest for a bettor: the SDK's authUrl. The key never leaves."""

    async def issue(request: Request) -> JSONResponse:
        try:
            body = await bounded_body(request, AUTH_BODY_MAX)
        except BodyRefused as refused:
            return error_response(refused.status, refused.message)
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return error_response(400, "body must be a JSON object with user_id")
        user_id = fields.get("user_id") if isinstance(fields, dict) else None
        if not isinstance(user_id, str) or not USER_ID.match(user_id):
            return error_response(400, "user_id: 1 to 64 of letters, digits, _ . @ -")
        token_request = signed_token_request(
            edge.api_key,
            user_id,
            bettor_capability(user_id, edge.bet_shards),
            time.time_ns() // 1_000_000,
            edge.token_ttl_ms,
        )
        return JSONResponse(token_request)

    return issue


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status)


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the application owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Starlette, host: str, port: int) -> Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    return Server(config)
