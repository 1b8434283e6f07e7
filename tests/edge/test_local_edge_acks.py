"""An ACK means the publish was processed: through the official SDK, across a restart of the
edge, an overflowed inbound queue, a socket lost in the middle of a resumed attach, and a
handler that does not finish in time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from ably import AblyException, AblyRealtime
from ably.types.message import Message

from betting.edge.local import LocalEdge
from betting.edge.local.realtime import RealtimeSocket
from betting.edge.local.testing import (
    connected,
    connection_id,
    edge_settings,
    running_edge,
    sdk_clients,
)
from betting.edge.port import InboundMessage, OutboundMessage

TIMEOUT_S = 20.0
CHANNEL = "inbound:bets:0"
# Reconnect at once: the defaults wait 15 s after a failed attempt.
FAST_RETRY_MS = 100  # the SDK reconnects a tenth of a second after a drop


class Recorder:
    """A channel handler that records what it saw and can be held, as a stalled log is."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        await self.open.wait()
        self.handled.extend(str(message.data) for message in messages)


async def until(condition: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def reasons(realtime: AblyRealtime, event: str) -> list[int | None]:
    """The codes of the connection's state changes to `event`, as they happen."""
    codes: list[int | None] = []
    realtime.connection.on(event, lambda change: codes.append(getattr(change.reason, "code", None)))
    return codes


async def publish_all(realtime: AblyRealtime, bets: Sequence[str]) -> list[asyncio.Task[Any]]:
    channel = realtime.channels.get(CHANNEL)
    return [asyncio.create_task(channel.publish("bet", bet)) for bet in bets]


async def all_acked(tasks: Sequence[Awaitable[Any]]) -> None:
    await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT_S)


@contextlib.asynccontextmanager
async def edge_then_successor(
    first: Recorder, second: Recorder
) -> AsyncIterator[tuple[LocalEdge, LocalEdge, AblyRealtime]]:
    """A running edge handled by `first`, its successor on the same port (not started)
    handled by `second`, and an SDK client of the first that reconnects fast."""
    async with contextlib.AsyncExitStack() as stack:
        edge = await stack.enter_async_context(running_edge())
        await edge.subscribe(CHANNEL, first)
        restarted = LocalEdge(edge_settings(port=edge.port))
        await restarted.subscribe(CHANNEL, second)
        stack.push_async_callback(restarted.stop)
        _, realtime = await stack.enter_async_context(
            sdk_clients(edge, disconnected_retry_timeout=FAST_RETRY_MS)
        )
        yield edge, restarted, realtime


async def test_publishes_pending_at_a_restart_are_processed_and_new_serials_too() -> None:
    """After a restart the SDK gets a new connection and resends its pending publishes, then
    numbers new ones from 0 (unpatched ably-python keeps the resends' old serials; the edge
    must process every one either way)."""
    first, second = Recorder(), Recorder()
    async with edge_then_successor(first, second) as (edge, restarted, realtime):
        await all_acked(await publish_all(realtime, [f"early-{n}" for n in range(8)]))
        first.open.clear()  # the log stalls: nothing more is ACKed
        pending = await publish_all(realtime, [f"pending-{n}" for n in range(10)])
        connection = edge.hub.connections[connection_id(realtime)]
        await until(lambda: connection.received == 18, "the edge received all 18")
        renewed = reasons(realtime, "connected")
        await edge.stop()  # as a kill: the 10 were never processed
        await restarted.start()
        await until(lambda: bool(renewed), "the client reconnected")
        assert renewed[0] == 80008  # a new connection: serials start afresh
        fresh = await publish_all(realtime, [f"new-{n}" for n in range(10)])
        await all_acked([*pending, *fresh])
        expected = [f"pending-{n}" for n in range(10)] + [f"new-{n}" for n in range(10)]
        assert sorted(second.handled) == sorted(expected)
        assert first.handled == [f"early-{n}" for n in range(8)]


async def test_publishes_past_a_full_queue_are_held_back_not_dropped() -> None:
    """40 publishes at once into a queue of 8, behind a stalled handler: the socket stops
    reading rather than drop one, and every publish is processed once and ACKed."""
    recorder = Recorder()
    recorder.open.clear()
    async with running_edge(inbound_queue_max=8) as edge:
        await edge.subscribe(CHANNEL, recorder)
        async with sdk_clients(edge, disconnected_retry_timeout=FAST_RETRY_MS) as (_, realtime):
            await connected(realtime)
            connection = edge.hub.connections[connection_id(realtime)]
            bets = [f"bet-{n}" for n in range(40)]
            tasks = await publish_all(realtime, bets)
            await until(lambda: connection.held_back > 0, "the queue filled")
            recorder.open.set()
            await all_acked(tasks)
            assert sorted(recorder.handled) == sorted(bets)  # each once, none skipped
            assert connection_id(realtime) == connection.id  # never disconnected


async def test_a_resume_lost_between_attached_and_its_replay_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The socket closes right after the first resumed ATTACHED, before any of the 50
    missed messages is replayed; the next resume must still replay all 50."""
    replay = RealtimeSocket._replay_then_subscribe
    cut: list[bool] = []

    def cut_once(socket: RealtimeSocket, channel: Any, subscription: Any, backlog: Any) -> None:
        if backlog.resumed and backlog.parts and not cut:
            cut.append(True)
            socket.lost()
            socket.close_transport()  # ATTACHED has gone out; the replay will not
        replay(socket, channel, subscription, backlog)

    monkeypatch.setattr(RealtimeSocket, "_replay_then_subscribe", cut_once)
    async with (
        running_edge() as edge,
        sdk_clients(edge, disconnected_retry_timeout=FAST_RETRY_MS) as (_, subscriber),
    ):
        received: asyncio.Queue[Message] = asyncio.Queue()
        await subscriber.channels.get("race:1").subscribe(received.put_nowait)
        await edge.publish("race:1", [OutboundMessage(name="odds", data="before")])
        assert (await asyncio.wait_for(received.get(), TIMEOUT_S)).data == "before"
        assert edge.drop_connection(connection_id(subscriber)) == 1
        sent = [f"missed-{n}" for n in range(50)]
        for text in sent:  # all while the subscriber is away
            await edge.publish("race:1", [OutboundMessage(name="odds", data=text)])
        got = [(await asyncio.wait_for(received.get(), TIMEOUT_S)).data for _ in sent]
        assert got == sent
        assert cut, "the replay was never cut: the test proves nothing"
        # One connection delivers in order: a message replayed twice would precede the marker.
        await edge.publish("race:1", [OutboundMessage(name="odds", data="marker")])
        assert (await asyncio.wait_for(received.get(), TIMEOUT_S)).data == "marker"
        assert received.empty()


@pytest.mark.parametrize("queued", [1, 5])
async def test_a_handler_that_does_not_finish_in_time_gets_a_retryable_nack(queued: int) -> None:
    """Each publish is answered within publish_timeout_ms of its receipt, also the ones
    queued behind the stalled one; a retry once the handler is back is ACKed."""
    recorder = Recorder()
    recorder.open.clear()
    async with running_edge(publish_timeout_ms=300) as edge:
        await edge.subscribe(CHANNEL, recorder)
        async with sdk_clients(edge) as (_, realtime):
            tasks = await publish_all(realtime, [f"bet-{n}" for n in range(queued)])
            outcomes = await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True), TIMEOUT_S
            )
            for outcome in outcomes:
                assert isinstance(outcome, AblyException), outcome
                assert (outcome.code, outcome.status_code) == (50003, 500)
            recorder.open.set()
            await all_acked(await publish_all(realtime, ["bet-0"]))
            await until(lambda: "bet-0" in recorder.handled, "the retry was handled")


async def test_a_resend_on_a_resumed_connection_is_answered_not_processed_again() -> None:
    """Publishes without ids are read, then the socket drops before any is answered: the
    resends after the resume (same connection, same serials) must not be processed twice."""
    recorder = Recorder()
    recorder.open.clear()
    async with running_edge() as edge:
        await edge.subscribe(CHANNEL, recorder)
        async with sdk_clients(edge, disconnected_retry_timeout=FAST_RETRY_MS) as (_, realtime):
            await connected(realtime)
            before = connection_id(realtime)
            connection = edge.hub.connections[before]
            bets = [f"bet-{n}" for n in range(5)]
            tasks = await publish_all(realtime, bets)
            await until(lambda: connection.received == 5, "the edge read all 5")
            resumed = reasons(realtime, "connected")
            assert edge.drop_connection(before) == 1
            await until(lambda: connection.received == 10, "the client resent all 5")
            recorder.open.set()
            await all_acked(tasks)
            assert resumed == [None] and connection_id(realtime) == before
            assert sorted(recorder.handled) == bets


class HoldsNew(Recorder):
    """Processes what was published before the restart at once; holds the rest."""

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        if any(str(message.data).startswith("new-") for message in messages):
            await self.open.wait()
        self.handled.extend(str(message.data) for message in messages)


async def test_no_publish_is_reported_acked_before_it_was_processed_across_a_restart() -> None:
    """Pending publishes when the edge dies, more while the client is offline, more as soon
    as it has a new connection (msgSerials from 0 again): the old ones are processed at once,
    the new ones held. Each is ACKed only after the handler has it, and each is processed
    once. ably-python 3.1.4 alone reports some of the held ones ACKed."""
    first, second = Recorder(), HoldsNew()
    acked_early: list[str] = []
    async with edge_then_successor(first, second) as (edge, restarted, realtime):
        channel = realtime.channels.get(CHANNEL)

        def check(bet: str, task: asyncio.Task[Any]) -> None:
            acked = not task.cancelled() and task.exception() is None
            if acked and bet not in first.handled + second.handled:
                acked_early.append(bet)

        def publish(bets: Sequence[str]) -> list[asyncio.Task[Any]]:
            tasks = []
            for bet in bets:
                task = asyncio.create_task(channel.publish(Message("bet", bet, id=bet)))
                task.add_done_callback(functools.partial(check, bet))
                tasks.append(task)
            return tasks

        await all_acked(publish([f"early-{n}" for n in range(8)]))
        first.open.clear()
        pending = publish([f"pending-{n}" for n in range(10)])
        connection = edge.hub.connections[connection_id(realtime)]
        await until(lambda: connection.received == 18, "the edge received all 18")
        renewed = reasons(realtime, "connected")
        await edge.stop()
        await until(lambda: realtime.connection.state.value != "connected", "the client saw it")
        offline = publish([f"offline-{n}" for n in range(5)])
        second.open.clear()
        fresh: list[asyncio.Task[Any]] = []

        async def publish_fresh() -> None:
            await asyncio.sleep(0)  # after the SDK has queued its resends: theirs go first
            fresh.extend(publish([f"new-{n}" for n in range(10)]))

        realtime.connection.once("connected", lambda _: asyncio.create_task(publish_fresh()))
        await restarted.start()
        await until(lambda: len(fresh) == 10, "the client reconnected and published")
        await asyncio.wait_for(asyncio.gather(*pending, *offline), TIMEOUT_S)
        await asyncio.sleep(0.2)  # any ACK the edge did not send has had time to be believed
        assert renewed == [80008]  # a new connection, not a resume
        assert acked_early == [] and not any(task.done() for task in fresh)
        second.open.set()
        await all_acked(fresh)
        assert acked_early == []
        old = [f"pending-{n}" for n in range(10)] + [f"offline-{n}" for n in range(5)]
        assert sorted(second.handled) == sorted(old + [f"new-{n}" for n in range(10)])
