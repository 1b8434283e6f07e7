"""The HTTP server of the process: health, token requests, the admin and public APIs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from betting.api.admin import admin_routes
from betting.api.bearer import issue_credential
from betting.api.body import BodyRefused, bounded_body
from betting.api.metrics import MetricSources, metrics_route
from betting.api.public import public_routes
from betting.api.refusals import RefusalCounter
from betting.api.services import Services
from betting.api.web import WEB_DIR, web_routes
from betting.config import EdgeSettings
from betting.domain.errors import InvalidValue
from betting.domain.ids import ID_RULE, parse_id
from betting.edge.token_request import bettor_capability, signed_token_request
from betting.health import Readiness

AUTH_BODY_MAX = 4_096
# Each answer is for one sign-in: a cached one would replay a used nonce (40105).
NOT_CACHED = {"Cache-Control": "no-store"}
USER_ID_REFUSED = f"user_id: {ID_RULE}"


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
    refusals: dict[int, int] = {}  # 4xx answers by status
    if metrics is not None:
        metrics.http_refusals = lambda: refusals
    return Starlette(routes=routes, middleware=[Middleware(RefusalCounter, by_status=refusals)])


def token_endpoint(edge: EdgeSettings) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A signed TokenRequest for a bettor, for the SDK's authCallback, and beside it the
    bettor's credential for the public API, good as long as the token. The key never leaves."""

    async def issue(request: Request) -> JSONResponse:
        try:
            body = await bounded_body(request, AUTH_BODY_MAX)
        except BodyRefused as refused:
            return error_response(refused.status, refused.message)
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return error_response(400, "body must be a JSON object with user_id")
        try:
            user_id = parse_id(fields.get("user_id") if isinstance(fields, dict) else None)
        except InvalidValue:
            return error_response(400, USER_ID_REFUSED)
        now_ms = time.time_ns() // 1_000_000
        token_request = signed_token_request(
            edge.api_key,
            user_id,
            bettor_capability(user_id, edge.bet_shards),
            now_ms,
            edge.token_ttl_ms,
        )
        credential = issue_credential(edge.api_key, user_id, now_ms + edge.token_ttl_ms)
        answer = {
            "token_request": token_request,
            "api_token": credential.token,
            "api_token_expires_ms": credential.expires_ms,
        }
        return JSONResponse(answer, headers=NOT_CACHED)

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
