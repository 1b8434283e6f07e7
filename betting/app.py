"""Wiring only: build the tasks of `serve` and run them in one TaskGroup.

A task that dies takes the process down with a non-zero exit and a clear log line, rather than
leaving a half-working server. SIGINT and SIGTERM ask every task to finish its work and stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from betting.api.http import build_app, http_server
from betting.config import Settings
from betting.health import Readiness

log = logging.getLogger("betting.app")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    readiness = Readiness()
    server = http_server(build_app(readiness), settings.server.host, settings.server.port)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(server.serve(), name="http")
        await _wait_started(server)
        log.info(
            "serving",
            extra={"fields": {"host": settings.server.host, "port": _bound_port(server)}},
        )
        await stop.wait()
        log.info("stopping")
        server.should_exit = True


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _wait_started(server: object) -> None:
    while not getattr(server, "started", False):
        await asyncio.sleep(0.01)


def _bound_port(server: object) -> int:
    servers = getattr(server, "servers", [])
    for listener in servers:
        for sock in listener.sockets:
            port: int = sock.getsockname()[1]
            return port
    return 0
