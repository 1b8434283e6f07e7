"""Bodies are bounded while they are read: /auth/token stops pulling a 32 MB body at 4 KB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from betting.api.http import AUTH_BODY_MAX, build_app
from betting.config import EdgeSettings
from betting.health import Readiness

CHUNK = 64 * 1024
HOSTILE_BYTES = 32 * 1024 * 1024


class Hostile:
    """A body of `HOSTILE_BYTES`, counting what the server actually pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def body(self) -> AsyncIterator[bytes]:
        while self.pulled < HOSTILE_BYTES:
            self.pulled += CHUNK
            yield b"x" * CHUNK


async def post(headers: dict[str, str | bytes], content: object) -> httpx.Response:
    app = build_app(Readiness(), EdgeSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/auth/token", content=content, headers=headers)  # type: ignore[arg-type]


async def test_a_huge_streamed_body_is_refused_while_reading() -> None:
    hostile = Hostile()
    response = await post({}, hostile.body())
    assert response.status_code == 413
    assert hostile.pulled <= AUTH_BODY_MAX + CHUNK


async def test_a_declared_huge_length_is_refused_before_reading() -> None:
    hostile = Hostile()
    response = await post({"content-length": str(HOSTILE_BYTES)}, hostile.body())
    assert response.status_code == 413
    assert hostile.pulled <= CHUNK


@pytest.mark.parametrize("length", ["²", "1" * 5_000, "-1", "0x10"])
async def test_a_malformed_length_is_a_400(length: str) -> None:
    response = await post({"content-length": length.encode()}, b'{"user_id": "alice"}')
    assert response.status_code == 400


async def test_a_small_body_still_gets_a_token_request() -> None:
    response = await post({}, b'{"user_id": "alice"}')
    assert response.status_code == 200
    assert response.json()["token_request"]["clientId"] == "alice"
