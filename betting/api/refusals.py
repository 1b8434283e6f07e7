"""Client mistakes on the HTTP APIs, counted: every 4xx answer by status, for /metrics.

Refusals are the client's business, not the operator's: they are never logged one by one
(a hostile client could flood the log), but a rising count of 401s or 422s is worth seeing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RefusalCounter:
    """ASGI middleware: counts the status of every 4xx response it sees start."""

    def __init__(self, app: ASGIApp, by_status: dict[int, int]) -> None:
        self.app = app
        self.by_status = by_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                status = int(message["status"])
                self.by_status[status] = self.by_status.get(status, 0) + 1
            await send(message)

        await self.app(scope, receive, counted)
