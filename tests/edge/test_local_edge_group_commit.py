"""Publishes from many connections to one channel go to its handler together: one call (one
log round trip) for all that arrived while the last call ran, in arrival order, and one bad
publish in a group fails only itself. Through the official Python SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from ably import AblyException

from betting.edge.local.testing import connected, running_edge, sdk_clients
from betting.edge.port import InboundMessage, PublishRefused

CHANNEL = "inbound:bets:0"
CLIENTS = 12
TIMEOUT_S = 20.0


class SlowLog:
    """A handler with a round trip, as a produce to Kafka has; it refuses "bad"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        texts = [str(message.data) for message in messages]
        if "bad" in texts:
            raise PublishRefused("a bad bet", 40013)
        await asyncio.sleep(0.2)
        self.calls.append(texts)


async def publish_from_each(texts: list[str]) -> tuple[SlowLog, list[Any]]:
    """Each text published at once from a connection of its own; the handler's calls, and
    each publish's result (None, or the SDK's exception)."""
    log = SlowLog()
    async with running_edge() as edge, contextlib.AsyncExitStack() as stack:
        await edge.subscribe(CHANNEL, log)
        clients = [(await stack.enter_async_context(sdk_clients(edge)))[1] for _ in texts]
        for realtime in clients:
            await connected(realtime)
        publishes = [
            realtime.channels.get(CHANNEL).publish("bet", text)
            for realtime, text in zip(clients, texts, strict=True)
        ]
        results: list[Any] = await asyncio.wait_for(
            asyncio.gather(*publishes, return_exceptions=True), TIMEOUT_S
        )
    return log, results


async def test_publishes_from_many_connections_share_a_handler_call() -> None:
    texts = [f"bet-{n}" for n in range(CLIENTS)]
    log, results = await publish_from_each(texts)
    assert not [result for result in results if isinstance(result, BaseException)]
    assert sorted(text for call in log.calls for text in call) == sorted(texts)  # each once
    assert len(log.calls) <= CLIENTS // 2  # grouped: one call for all that waited


async def test_one_bad_publish_in_a_group_fails_only_itself() -> None:
    texts = [f"bet-{n}" for n in range(CLIENTS)]
    texts[5] = "bad"
    log, results = await publish_from_each(texts)
    refused = [n for n, result in enumerate(results) if isinstance(result, AblyException)]
    assert refused == [5] and results[5].code == 40013
    handled = [text for call in log.calls for text in call]
    assert sorted(handled) == sorted(text for text in texts if text != "bad")
