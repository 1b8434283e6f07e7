"""The local edge driven by the official Python SDK, as clients will drive it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from ably import AblyException
from ably.types.message import Message

from betting.edge.local import LocalEdge
from betting.edge.local.testing import (
    BETTOR_KEY,
    ROOT_KEY,
    connected,
    connection_id,
    running_edge,
    sdk_clients,
)
from betting.edge.port import InboundMessage, OutboundMessage

TIMEOUT_S = 5.0


def resolver(future: asyncio.Future[Any]) -> Callable[[Any], None]:
    """An SDK listener that resolves `future` with the first event it hears."""

    def resolve(event: Any) -> None:
        if not future.done():
            future.set_result(event)

    return resolve


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with running_edge() as edge:
        yield edge


async def next_message(queue: asyncio.Queue[Message]) -> Message:
    return await asyncio.wait_for(queue.get(), TIMEOUT_S)


async def subscribed_queue(realtime: object, channel: str, **params: str) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    options = {"params": params} if params else {}
    await realtime.channels.get(channel, **options).subscribe(queue.put_nowait)  # type: ignore[attr-defined]
    return queue


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_subscribe_publish_and_ack(edge: LocalEdge, binary: bool) -> None:
    async with sdk_clients(edge, use_binary_protocol=binary) as (_, realtime):
        received = await subscribed_queue(realtime, "race:1")
        channel = realtime.channels.get("race:1")
        await channel.publish("odds", {"runner": 1, "price": "5/2"})
        await channel.publish("raw", b"\x00\xffbytes")
        await channel.publish("text", "plain")
        first, second, third = [await next_message(received) for _ in range(3)]
        assert (first.name, first.data) == ("odds", {"runner": 1, "price": "5/2"})
        assert bytes(second.data) == b"\x00\xffbytes"
        assert third.data == "plain"
        assert first.connection_id == connection_id(realtime)


async def test_rest_publish_reaches_realtime_and_history(edge: LocalEdge) -> None:
    async with sdk_clients(edge) as (rest, realtime):
        received = await subscribed_queue(realtime, "race:two words")
        await rest.channels.get("race:two words").publish("odds", "over rest")
        assert (await next_message(received)).data == "over rest"
        history = await rest.channels.get("race:two words").history()
        assert [message.data for message in history.items] == ["over rest"]
        assert abs(await rest.time() - await rest.time()) < 5_000


async def test_token_auth_binds_client_id(edge: LocalEdge) -> None:
    async with sdk_clients(edge, key=BETTOR_KEY, client_id="punter-7") as (rest, realtime):
        token = await rest.auth.request_token({"client_id": "punter-7"})
        assert token.client_id == "punter-7"
        await connected(realtime)
        assert realtime.auth.client_id == "punter-7"
        received = await subscribed_queue(realtime, "race:1")
        await edge.publish("race:1", [OutboundMessage(name="odds", data={"p": 1})])
        assert (await next_message(received)).data == {"p": 1}


async def test_capability_refused(edge: LocalEdge) -> None:
    async with sdk_clients(edge, key=BETTOR_KEY) as (_, realtime):
        with pytest.raises(AblyException) as refused_attach:
            await realtime.channels.get("admin:secrets").attach()
        assert refused_attach.value.code == 40160
        with pytest.raises(AblyException) as refused_publish:
            await realtime.channels.get("race:1").publish("odds", "forged")
        assert refused_publish.value.code == 40160
        await realtime.channels.get("bets:1").publish("bet", "allowed")


async def test_publishing_as_another_client_id_refused(edge: LocalEdge) -> None:
    async with sdk_clients(edge, key=BETTOR_KEY, client_id="punter-1") as (_, realtime):
        await connected(realtime)
        channel = realtime.channels.get("bets:1")
        # The SDK refuses before sending, so speak past it to test the edge itself.
        realtime.auth._Auth__client_id = None
        with pytest.raises(AblyException) as refused:
            await channel.publish(Message(name="bet", data="x", client_id="punter-2"))
        assert refused.value.code == 40012


async def test_resume_after_drop_loses_and_reorders_nothing(edge: LocalEdge) -> None:
    async with (
        sdk_clients(edge) as (_, subscriber),
        sdk_clients(edge) as (_, publisher),
    ):
        received = await subscribed_queue(subscriber, "race:1", delta="vcdiff")
        race = publisher.channels.get("race:1")
        await race.publish("odds", "0")
        assert (await next_message(received)).data == "0"
        before = connection_id(subscriber)
        resumed = asyncio.get_running_loop().create_future()
        subscriber.connection.on("connected", resolver(resumed))
        assert edge.drop_connection(before) == 1
        for index in range(1, 20):
            await race.publish("odds", str(index))
        await asyncio.wait_for(resumed, TIMEOUT_S)
        got = [(await next_message(received)).data for _ in range(1, 20)]
        assert got == [str(index) for index in range(1, 20)]
        assert connection_id(subscriber) == before
        assert received.empty()


async def test_failed_resume_gets_a_new_connection_and_80008(edge: LocalEdge) -> None:
    async with sdk_clients(edge) as (_, realtime):
        await connected(realtime)
        before = connection_id(realtime)
        edge.hub._forget(before)  # as if the connection state had expired
        updated = asyncio.get_running_loop().create_future()
        realtime.connection.on("connected", resolver(updated))
        edge.drop_connection(before)
        change = await asyncio.wait_for(updated, TIMEOUT_S)
        assert change.reason is not None and change.reason.code == 80008
        assert connection_id(realtime) != before


async def test_delta_messages_decode_to_the_full_bytes(edge: LocalEdge) -> None:
    async with (
        sdk_clients(edge) as (_, delta_client),
        sdk_clients(edge, use_binary_protocol=False) as (_, json_delta_client),
        sdk_clients(edge) as (_, full_client),
    ):
        with_delta = await subscribed_queue(delta_client, "race:9", delta="vcdiff")
        json_delta = await subscribed_queue(json_delta_client, "race:9", delta="vcdiff")
        without = await subscribed_queue(full_client, "race:9")
        book = {f"runner-{n}": {"price": 100 + n, "name": f"Horse {n}"} for n in range(20)}
        for tick in range(5):
            book["runner-3"]["price"] = 200 + tick
            await edge.publish("race:9", [OutboundMessage(name="book", data=book)])
        for tick in range(5):
            await edge.publish(
                "race:9", [OutboundMessage(name="bin", data=bytes(range(tick, 200)))]
            )
        for _ in range(10):
            full = await next_message(without)
            assert (await next_message(with_delta)).data == full.data
            assert (await next_message(json_delta)).data == full.data
        history = edge.hub.channels.get("race:9").history
        assert history[4].delta is not None, "a changed book went out as a delta"
        assert history[9].delta is not None, "changed bytes went out as a delta"


async def test_duplicate_message_id_is_delivered_once(edge: LocalEdge) -> None:
    async with sdk_clients(edge) as (rest, realtime):
        received = await subscribed_queue(realtime, "race:1")
        channel = realtime.channels.get("race:1")
        await channel.publish(Message(name="bet", data="first", id="bet-42"))
        await channel.publish(Message(name="bet", data="again", id="bet-42"))
        await rest.channels.get("race:1").publish(Message(name="bet", data="rest", id="bet-42"))
        await channel.publish(Message(name="bet", data="next", id="bet-43"))
        assert (await next_message(received)).data == "first"
        assert (await next_message(received)).data == "next"
        assert received.empty()


async def test_ack_only_after_the_handler_completes(edge: LocalEdge) -> None:
    handler_entered, release = asyncio.Event(), asyncio.Event()
    handled: list[InboundMessage] = []

    async def durable_write(messages: Sequence[InboundMessage]) -> None:
        handler_entered.set()
        await release.wait()
        handled.extend(messages)

    await edge.subscribe("bets:1", durable_write)
    async with sdk_clients(edge, key=BETTOR_KEY, client_id="punter-1") as (_, realtime):
        publish = asyncio.create_task(
            realtime.channels.get("bets:1").publish("bet", {"stake_minor": 500})
        )
        await asyncio.wait_for(handler_entered.wait(), TIMEOUT_S)
        # The edge answers in order on one connection: a premature ACK, sent when the bet was
        # read or handed over, would have arrived before this later ATTACHED.
        await realtime.channels.get("race:1").attach()
        assert not publish.done()
        release.set()
        await asyncio.wait_for(publish, TIMEOUT_S)
        assert [(m.name, m.data, m.client_id) for m in handled] == [
            ("bet", {"stake_minor": 500}, "punter-1")
        ]


async def test_handler_error_nacks_the_publish(edge: LocalEdge) -> None:
    async def failing(messages: Sequence[InboundMessage]) -> None:
        raise RuntimeError("log unavailable")

    await edge.subscribe("bets:1", failing)
    async with sdk_clients(edge) as (_, realtime):
        received = await subscribed_queue(realtime, "bets:1")
        with pytest.raises(AblyException) as refused:
            await realtime.channels.get("bets:1").publish("bet", "x")
        assert refused.value.code == 50000
        assert received.empty(), "a refused message is not delivered"


async def test_rate_limit_nacks() -> None:
    async with (
        running_edge(publish_rate_per_second=3.0) as edge,
        sdk_clients(edge) as (_, realtime),
    ):
        channel = realtime.channels.get("race:1")
        outcomes = await asyncio.gather(
            *(channel.publish("odds", str(n)) for n in range(6)), return_exceptions=True
        )
        refusals = [o for o in outcomes if isinstance(o, AblyException)]
        assert refusals and all(r.code == 42910 for r in refusals)
        assert len(refusals) < 6


async def test_subscribe_handlers_see_every_rest_publish_too(edge: LocalEdge) -> None:
    seen: list[str] = []

    async def record(messages: Sequence[InboundMessage]) -> None:
        seen.extend(str(m.data) for m in messages)

    await edge.subscribe("bets:9", record)
    async with sdk_clients(edge, key=ROOT_KEY) as (rest, _):
        await rest.channels.get("bets:9").publish("bet", "over rest")
    assert seen == ["over rest"]
