"""Helpers for tests that drive the local edge through the official SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from ably import AblyRealtime, AblyRest

from betting.edge.ably_adapter import AblySettings, ably_clients
from betting.edge.local.edge import LocalEdge
from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

ROOT_KEY = "test.root:root-secret"
# May subscribe to races and publish bets, nothing else.
BETTOR_KEY = "test.bettor:bettor-secret"
BETTOR_CAPABILITY = '{"race:*":["subscribe"],"bets:*":["publish"]}'


def edge_settings(**overrides: Any) -> LocalEdgeSettings:
    settings = LocalEdgeSettings(
        port=0,
        keys=(EdgeKey(key=ROOT_KEY), EdgeKey(key=BETTOR_KEY, capability=BETTOR_CAPABILITY)),
        heartbeat_interval_ms=1_000,
        max_idle_interval_ms=5_000,
    )
    return replace(settings, **overrides)


@asynccontextmanager
async def running_edge(**overrides: Any) -> AsyncIterator[LocalEdge]:
    async with LocalEdge(edge_settings(**overrides)) as edge:
        yield edge


@asynccontextmanager
async def sdk_clients(
    edge: LocalEdge, key: str = ROOT_KEY, client_id: str | None = None, **realtime_options: Any
) -> AsyncIterator[tuple[AblyRest, AblyRealtime]]:
    settings = AblySettings(
        key=key, endpoint="127.0.0.1", port=edge.port, tls=False, client_id=client_id
    )
    rest, realtime = ably_clients(settings, **realtime_options)
    try:
        yield rest, realtime
    finally:
        await realtime.close()
        await rest.close()


async def connected(realtime: AblyRealtime, timeout_s: float = 5.0) -> None:
    if realtime.connection.state.value != "connected":
        await asyncio.wait_for(realtime.connection.once_async("connected"), timeout_s)


def connection_id(realtime: AblyRealtime) -> str:
    value: str = realtime.connection.connection_manager.connection_id
    return value
