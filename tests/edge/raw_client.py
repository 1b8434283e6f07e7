"""A bare WebSocket client of the local edge (no SDK), for the tests that send what an SDK
never would, and a bettor's token from the edge's REST API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgpack
import orjson
import websockets
from ably.types.tokendetails import TokenDetails

from betting.edge.local import LocalEdge
from betting.edge.local.testing import ROOT_KEY
from betting.edge.token_request import bettor_capability, signed_token_request

READ_TIMEOUT_S = 5.0
CONNECTED, ERROR, ATTACHED, NACK = 4, 9, 11, 2


async def raw_socket(edge: LocalEdge, wire_format: str = "json") -> Any:
    url = f"ws://127.0.0.1:{edge.port}/?key={ROOT_KEY}&format={wire_format}&v=5"
    socket = await websockets.connect(url)
    connected = await read(socket, wire_format)
    assert connected["action"] == CONNECTED
    return socket


async def read(socket: Any, wire_format: str = "json") -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(socket.recv(), READ_TIMEOUT_S)
        message = msgpack.unpackb(frame) if wire_format == "msgpack" else orjson.loads(frame)
        if message["action"] != 0:  # skip heartbeats
            return dict(message)


async def bettor_token(edge: LocalEdge, user_id: str, shards: int) -> TokenDetails:
    token_request = signed_token_request(
        ROOT_KEY, user_id, bettor_capability(user_id, shards), int(time.time() * 1000)
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.post("/keys/test.root/requestToken", json=token_request)
    assert response.status_code == 200
    return TokenDetails.from_dict(response.json())
