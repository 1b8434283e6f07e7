"""Wiring only: build the tasks of `serve` and run them in one TaskGroup.

A task that dies takes the process down with a non-zero exit and a clear log line, rather than
leaving a half-working server. SIGINT and SIGTERM ask every task to finish its work and stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from betting import collector
from betting.api.http import build_app, http_server
from betting.api.metrics import MetricSources
from betting.api.services import Services
from betting.config import EdgeKind, EventLogKind, Settings
from betting.edge import build_edge
from betting.edge.port import EdgePort
from betting.health import Readiness
from betting.log import build_event_log, topic_specs
from betting.log.port import EventLog, LogUnavailable
from betting.tasks import routes as routes_module
from betting.tasks.bets_in import BetsIn
from betting.tasks.engine import Engine
from betting.tasks.forward import Forwarder, Route
from betting.tasks.history_sink import HistorySink, build_store
from betting.tasks.notices import StartingSoon
from betting.tasks.views import Views

log = logging.getLogger("betting.app")
LOG_CHECK_INTERVAL_S = 1.0
NOTICE_DELAY_MS = 250


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    collector.quiet()
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    readiness = Readiness()
    readiness.not_ready("engine", "waiting for its partitions")
    readiness.not_ready("views", "reading the log")
    services = Services(settings)
    metrics = MetricSources()
    app = build_app(readiness, settings.edge, services, metrics)
    server = http_server(app, settings.server.host, settings.server.port)
    event_log = build_event_log(settings)
    edge = build_edge(settings.edge, hold_clients=True)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(server.serve(), name="http")
        await _open_log(event_log, settings, readiness, stop)
        await edge.start()
        views = Views(event_log, settings)
        services.producer, services.views = event_log.producer(), views
        engine = Engine(event_log, settings, readiness, instance_id=settings.kafka.instance_id)
        outward = forwarders(event_log, edge, settings)
        _measure(metrics, engine, outward, edge)
        metrics.skipped = [views.skipped, engine.restore_skipped, *(f.skipped for f in outward)]
        history = history_sink(event_log, settings)
        if history is not None:
            metrics.skipped = [*metrics.skipped, history.skipped]
        work = [
            tasks.create_task(_named("engine", engine.run()), name="engine"),
            tasks.create_task(_named("log watch", _watch_log(event_log, readiness)), name="watch"),
            tasks.create_task(_named("views", views.run(readiness)), name="views"),
            tasks.create_task(collector.freeze_survivors(), name="gc-freeze"),
            tasks.create_task(
                _named(
                    "starting soon",
                    StartingSoon(
                        views,
                        edge,
                        settings.admin.starting_soon_lead_ms,
                        settings.admin.push_notices,
                    ).run(),
                ),
                name="starting-soon",
            ),
            *(tasks.create_task(_named(f.name, f.run(readiness)), name=f.name) for f in outward),
        ]
        if history is not None:
            services.history = history.store
            work.append(tasks.create_task(_named("history", history.run()), name="history"))
        services.edge_port = getattr(edge, "port", None)
        await BetsIn(
            edge, event_log.producer(), settings.topics.bets, settings.edge.bet_shards
        ).start()
        # The forwarders first rebuild a local edge's channel history from the log: a client
        # let in earlier would hear the replay as news. /readyz waits for the same.
        # In `work`: cancelled at stop like the rest, or a stop before the replay ends hangs.
        work.append(tasks.create_task(_admit_when_replayed(edge, outward), name="admit"))
        await _wait_started(server)
        log.info(
            "serving",
            extra={"fields": {"host": settings.server.host, "port": _bound_port(server)}},
        )
        await stop.wait()
        log.info("stopping")
        await _drain(engine, work[0], settings.server.shutdown_grace_ms / 1000)
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        await edge.stop()
        await event_log.stop()
        server.should_exit = True


def history_sink(event_log: EventLog, settings: Settings) -> HistorySink | None:
    """The history database's feed, unless `history.kind` is none."""
    store = build_store(settings)
    if store is None:
        return None
    fresh_log = settings.event_log.kind is EventLogKind.MEMORY  # empty again every run
    return HistorySink(event_log, store, settings, fresh_log=fresh_log)


def forwarders(event_log: EventLog, edge: EdgePort, settings: Settings) -> list[Forwarder]:
    """With real Ably the instances share each topic (Ably fans out to every client); a local
    edge serves only its own instance's clients, so each instance forwards every partition."""
    group, topics = settings.kafka.group_id, settings.topics
    shared = settings.edge.kind is EdgeKind.ABLY
    # Odds and bet outcomes go out as soon as the log has them; a win or loss notice can
    # trail a settlement by a quarter second, for fewer fetches.
    routes: list[tuple[str, str, Route, int | None]] = [
        ("odds-out", topics.odds, routes_module.odds_route, None),
        ("outcomes-out", topics.bet_results, routes_module.outcome_route, None),
        ("notifier", topics.settlements, routes_module.settlement_route, NOTICE_DELAY_MS),
    ]
    return [
        Forwarder(
            name,
            event_log,
            edge,
            topic,
            f"{group}.{name}" if shared else None,
            route,
            max_delay_ms=delay,
        )
        for name, topic, route, delay in routes
    ]


async def _admit_when_replayed(edge: EdgePort, outward: list[Forwarder]) -> None:
    await asyncio.gather(*(forwarder.replayed.wait() for forwarder in outward))
    await edge.admit_clients()


async def _drain(engine: Engine, engine_task: asyncio.Task[None], grace_s: float) -> None:
    """Let the engine commit the batch in hand before the rest stops (SIGTERM drains)."""
    engine.stop()
    try:
        await asyncio.wait_for(asyncio.shield(engine_task), grace_s)
    except (TimeoutError, asyncio.CancelledError):
        log.warning("engine did not drain in time; its open transaction will be aborted")
    except Exception:
        pass  # its failure is logged by _named and raised by the task group


def _measure(
    metrics: MetricSources, engine: Engine, outward: list[Forwarder], edge: EdgePort
) -> None:
    metrics.engine, metrics.forwarders, metrics.lag = engine, outward, engine.lag
    hub = getattr(edge, "hub", None)  # the local edge; real Ably counts its own connections
    if hub is not None:
        metrics.edge_connections = lambda: len(hub.sockets)
        metrics.edge_client_errors = lambda: hub.client_errors.by_code
    refused = getattr(edge, "client_errors", None)  # real Ably: what bets-in refused
    if isinstance(refused, dict):
        metrics.edge_client_errors = lambda: refused


async def _open_log(
    event_log: EventLog, settings: Settings, readiness: Readiness, stop: asyncio.Event
) -> None:
    """Connect and create the topics, retrying with backoff while the log is away."""
    delay_s = 0.1
    while not stop.is_set():
        try:
            await event_log.start()
            await event_log.ensure_topics(topic_specs(settings))
            readiness.ready("event log")
            return
        except LogUnavailable as error:
            readiness.not_ready("event log", str(error))
            log.warning("event log unavailable", extra={"fields": {"error": str(error)}})
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 5.0)


async def _watch_log(event_log: EventLog, readiness: Readiness) -> None:
    """Readiness follows the log: not ready, with the reason, while it cannot be reached."""
    while True:
        try:
            await event_log.check()
            readiness.ready("event log")
        except LogUnavailable as error:
            if readiness.is_ready:
                log.warning("event log unavailable", extra={"fields": {"error": str(error)}})
            readiness.not_ready("event log", str(error))
        await asyncio.sleep(LOG_CHECK_INTERVAL_S)


async def _named(name: str, work: Coroutine[Any, Any, None]) -> None:
    """Run a task; if it dies, say which, so the process stops with a clear line."""
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("task failed", extra={"fields": {"task": name}})
        raise


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
