"""The HTTP server of the process: health now; the admin API and web pages join it later."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from betting.health import Readiness


def build_app(readiness: Readiness) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if readiness.is_ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reasons": readiness.reasons()}, 503)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])


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
