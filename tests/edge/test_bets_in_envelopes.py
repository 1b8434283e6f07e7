"""Bets-in refuses a bad bet envelope with a 400-class NACK naming the field, keeps nothing of
the refused ProtocolMessage, answers the valid bets beside it, and logs no error for any of it.

Driven through the official SDK where it can send the case, and by raw websocket frames to
put several ProtocolMessages (good and bad) into one handler call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import websockets
from ably import AblyException, AblyRealtime

from betting.api.metrics import MetricSources, render
from betting.channels import bets_channel, bets_shard
from betting.edge.local import LocalEdge
from betting.edge.local.testing import running_edge
from betting.log.memory import MemoryLog
from betting.tasks.bets_in import BetsIn
from tests.edge.raw_client import CONNECTED, bettor_token, read

SHARDS = 4
ALICE_SHARD = bets_channel(bets_shard("alice", SHARDS))
TIMEOUT_S = 10.0
ACK, NACK = 1, 2


@pytest.fixture
async def wired() -> AsyncIterator[tuple[LocalEdge, MemoryLog]]:
    log = MemoryLog()
    async with running_edge() as edge:
        await BetsIn(edge, log.producer(), "bets", SHARDS).start()
        yield edge, log


def logged_bets(log: MemoryLog) -> list[dict[str, Any]]:
    return [orjson.loads(record.value) for part in log.partitions("bets") for record in part]


def server_troubles(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Warnings, errors and tracebacks of the server's own code (the SDK logs a NACK as an
    ERROR on the client's side, and leaves a task's exception unretrieved: not ours)."""
    return [
        record
        for record in caplog.records
        if (record.levelno >= logging.WARNING or record.exc_info)
        and (record.name.startswith("betting") or "betting/" in record.getMessage())
    ]


def good(bet_id: str) -> dict[str, Any]:
    return {"bet_id": bet_id, "race_id": "race-1", "runner_id": "r1", "stake_minor": 100}


BAD_ENVELOPES = [
    ("not json at all", "bets[0]: a bet must be a JSON object"),
    ([1, 2], "bets[0]: a bet must be a JSON object"),
    ("[1, 2]", "bets[0]: a bet must be a JSON object"),
    ({"race_id": "race-1"}, "bets[0].bet_id"),
    ({"bet_id": "b1"}, "bets[0].race_id"),
    ({"bet_id": "b1\n", "race_id": "race-1"}, "bets[0].bet_id"),
    ({"bet_id": 7, "race_id": "race-1"}, "bets[0].bet_id"),
    ({"bet_id": "b1", "race_id": "r" * 129}, "bets[0].race_id"),
    ({"bet_id": "b1", "race_id": "race:1"}, "bets[0].race_id"),
    ({"bet_id": "b²", "race_id": "race-1"}, "bets[0].bet_id"),
]


@pytest.mark.parametrize(("data", "named"), BAD_ENVELOPES, ids=repr)
async def test_a_bad_envelope_is_refused_naming_the_field(
    wired: tuple[LocalEdge, MemoryLog], data: Any, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    edge, log = wired
    token = await bettor_token(edge, "alice", SHARDS)

    async def callback(_params: dict[str, Any]) -> Any:
        return token

    realtime = AblyRealtime(
        auth_callback=callback, endpoint=f"127.0.0.1:{edge.port}", tls=False, client_id="alice"
    )
    try:
        channel = realtime.channels.get(ALICE_SHARD)
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(AblyException) as refused:
                await channel.publish("bet", data)
            await channel.publish("bet", good("b-after"))
    finally:
        await realtime.close()
    assert refused.value.code == 40013 and refused.value.status_code == 400
    assert named in refused.value.message
    assert [bet["bet_id"] for bet in logged_bets(log)] == ["b-after"]
    assert server_troubles(caplog) == []
    assert edge.hub.client_errors.by_code == {40013: 1}


async def bettor_socket(edge: LocalEdge) -> Any:
    token = await bettor_token(edge, "alice", SHARDS)
    url = f"ws://127.0.0.1:{edge.port}/?accessToken={token.token}&format=json"
    socket = await websockets.connect(url)
    assert (await read(socket))["action"] == CONNECTED
    return socket


async def publish(socket: Any, serial: int, bets: list[Any]) -> None:
    messages = [{"name": "bet", "data": orjson.dumps(bet).decode()} for bet in bets]
    frame = {"action": 15, "channel": ALICE_SHARD, "msgSerial": serial, "messages": messages}
    await socket.send(orjson.dumps(frame).decode())


async def answers(socket: Any, count: int) -> dict[int, dict[str, Any]]:
    """ACKs and NACKs by msgSerial, expanding each `count`."""
    by_serial: dict[int, dict[str, Any]] = {}
    while len(by_serial) < count:
        answer = await read(socket)
        for serial in range(answer["msgSerial"], answer["msgSerial"] + answer["count"]):
            by_serial[serial] = answer
    return by_serial


async def test_one_bad_bet_refuses_its_protocol_message_whole(
    wired: tuple[LocalEdge, MemoryLog],
) -> None:
    edge, log = wired
    socket = await bettor_socket(edge)
    await publish(socket, 0, [good("a"), {"bet_id": "b"}, good("c")])
    (answer,) = (await answers(socket, 1)).values()
    assert answer["action"] == NACK and answer["error"]["code"] == 40013
    assert "bets[1].race_id" in answer["error"]["message"]
    assert logged_bets(log) == []  # nothing of the refused message: the client resends it
    await publish(socket, 1, [good("a"), good("b"), good("c")])
    assert (await answers(socket, 1))[1]["action"] == ACK
    assert [bet["bet_id"] for bet in logged_bets(log)] == ["a", "b", "c"]
    await socket.close()


async def test_valid_protocol_messages_beside_a_bad_one_are_acked(
    wired: tuple[LocalEdge, MemoryLog],
) -> None:
    """Pipelined publishes are handled as one call; a refusal there is answered per message."""
    edge, log = wired
    socket = await bettor_socket(edge)
    await publish(socket, 0, [good("a1"), good("a2")])
    await publish(socket, 1, [good("b1"), ["not", "a", "bet"]])
    await publish(socket, 2, [good("c1")])
    await publish(socket, 3, ["{"])
    await publish(socket, 4, [good("e1")])
    by_serial = await answers(socket, 5)
    assert [by_serial[serial]["action"] for serial in range(5)] == [ACK, NACK, ACK, NACK, ACK]
    assert "bets[1]" in by_serial[1]["error"]["message"]
    assert "bets[0]" in by_serial[3]["error"]["message"]
    assert sorted(bet["bet_id"] for bet in logged_bets(log)) == ["a1", "a2", "c1", "e1"]
    await socket.close()


async def test_client_errors_are_counted_in_metrics(wired: tuple[LocalEdge, MemoryLog]) -> None:
    edge, _ = wired
    socket = await bettor_socket(edge)
    for serial in range(3):
        await publish(socket, serial, [{"bet_id": "x"}])
    await answers(socket, 3)
    await socket.send(orjson.dumps({"action": 10, "channel": "admin:secret"}).decode())
    await read(socket)
    await socket.close()
    text = "\n".join(
        await render(MetricSources(edge_client_errors=lambda: edge.hub.client_errors.by_code))
    )
    assert 'betting_edge_client_errors_total{code="40013"} 3' in text
    assert 'betting_edge_client_errors_total{code="40160"} 1' in text


async def test_an_unidentified_publisher_is_refused_with_40161(
    wired: tuple[LocalEdge, MemoryLog],
) -> None:
    edge, log = wired
    url = f"ws://127.0.0.1:{edge.port}/?key=test.root:root-secret&format=json"
    async with websockets.connect(url) as socket:
        assert (await read(socket))["action"] == CONNECTED
        await publish(socket, 0, [good("a")])
        answer = await asyncio.wait_for(read(socket), TIMEOUT_S)
    assert answer["action"] == NACK and answer["error"]["code"] == 40161
    assert logged_bets(log) == []
