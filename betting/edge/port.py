"""The edge port: how the app's tasks publish to and hear from realtime clients.

Two adapters: `betting.edge.local.LocalEdge` (the in-process Ably-compatible edge) and
`betting.edge.ably_adapter.AblyEdge` (real Ably through the official SDK).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

JsonValue = None | bool | int | float | str | list[Any] | dict[str, Any]
MessageData = bytes | str | JsonValue


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message the app publishes. `id` is the idempotency key: reuse it on every retry."""

    name: str
    data: MessageData
    id: str | None = None
    extras: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a client published. `data` is decoded (JSON values, text, or bytes);
    `encoding` holds any step left undone, such as encryption."""

    id: str
    name: str | None
    data: Any
    client_id: str | None
    connection_id: str | None
    timestamp_ms: int
    encoding: str = ""
    extras: Mapping[str, Any] | None = None


MessageHandler = Callable[[Sequence[InboundMessage]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PushNotice:
    title: str
    body: str
    data: Mapping[str, str]  # string values only, as APNs and FCM carry them

    def as_push(self) -> dict[str, Any]:
        """The body of Ably's push publish, less its recipient."""
        return {"notification": {"title": self.title, "body": self.body}, "data": dict(self.data)}


class PublishRefused(Exception):
    """A handler's refusal of what a client published: the client's mistake, not the
    server's. The local edge answers it with `code` (a 400-class Ably error code) and logs
    nothing. A handler that raises it has kept none of the messages it was given."""

    def __init__(self, message: str, code: int = 40013) -> None:
        super().__init__(message)
        self.code = code


class PublishUnavailable(Exception):
    """A handler could not keep what a client published, for now (its log is unreachable):
    not the client's mistake, and worth retrying. The local edge NACKs it with `code` and
    status 500, logging nothing per publish. Some of the messages may have been kept."""

    def __init__(self, message: str, code: int = 50000) -> None:
        super().__init__(message)
        self.code = code


class EdgePort(Protocol):
    """With the local edge a client's publish is acknowledged only after its channel's
    handler has completed, and negatively acknowledged if the handler raises: with the
    refusal's own 400-class code for `PublishRefused`, with a 500 status for
    `PublishUnavailable` and anything else, and with 50003 when the handler has not completed
    within the local edge's `publish_timeout_ms`."""

    async def start(self) -> None: ...

    async def admit_clients(self) -> None:
        """Let clients in. A restarted local edge has lost its channels; `serve` replays the
        log into them first, and a client let in during that replay would hear the past as
        news (an odds version older than one it already had, under an id it never saw). Real
        Ably keeps its channels: there is nothing to wait for."""
        ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, messages: Sequence[OutboundMessage]) -> None: ...

    async def subscribe(self, channel: str, handler: MessageHandler) -> None: ...

    async def push_to_user(self, user_id: str, notice: PushNotice) -> None:
        """A push notification to each of the user's registered devices (Ably push admin
        publish to the clientId). Push has no idempotency key: a retry may notify twice."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
