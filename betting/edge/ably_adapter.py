"""The edge port over real Ably (or any Ably-compatible edge) with the official SDK."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from ably import AblyRealtime, AblyRest, AblyVCDiffDecoder
from ably.types.message import Message

from betting.edge.port import (
    InboundMessage,
    MessageHandler,
    OutboundMessage,
    PublishRefused,
    PushNotice,
)
from betting.edge.sdk_acks import make_acks_exact

log = logging.getLogger(__name__)

HANDLER_BATCH_MAX = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class AblySettings:
    """Leave `endpoint` and `port` unset for real Ably over TLS.

    `subscribe_rewind` is the channel param `rewind` every subscription attaches with ("2m",
    "30s", or a count such as "100"; None for none): a restarted server then gets what was
    published while it was down, within Ably's limits of 2 minutes (without persisted
    history) and 100 messages per channel. Messages it gets again within one process life
    (a fresh re-attach rewinds again) are skipped by id, remembering `seen_ids_per_channel`.
    """

    key: str
    endpoint: str | None = None
    port: int | None = None
    tls: bool = True
    client_id: str | None = None
    inbound_queue_max: int = 10_000
    connect_timeout_s: float = 10.0
    subscribe_rewind: str | None = "2m"
    seen_ids_per_channel: int = 10_000


def ably_clients(settings: AblySettings, **realtime_options: Any) -> tuple[AblyRest, AblyRealtime]:
    """Build the SDK clients. Every work-around for ably-python 3.1.4 lives here, so each can
    be dropped when the SDK is fixed:
    - bug 3: the SDK logs websocket URLs, key included, at INFO: its logger stays at WARNING;
    - bug 2: it refuses Basic auth over plain HTTP: REST uses token auth when TLS is off;
    - bug 1: its realtime URL leaves the port out: realtime gets `endpoint="host:port"`, which
      breaks its own REST calls, so it takes tokens from the separately built REST client;
    - bug 4: its ACK bookkeeping can report an unprocessed publish as ACKed (`sdk_acks`).
    """
    logging.getLogger("ably").setLevel(logging.WARNING)
    rest_options: dict[str, Any] = {"key": settings.key, "tls": settings.tls}
    if settings.client_id is not None:
        rest_options["client_id"] = settings.client_id
    if settings.endpoint is not None:
        rest_options["endpoint"] = settings.endpoint
    if settings.port is not None:
        rest_options["tls_port" if settings.tls else "port"] = settings.port
    if not settings.tls:
        rest_options["use_token_auth"] = True
    rest = AblyRest(**rest_options)

    realtime_options.setdefault("vcdiff_decoder", AblyVCDiffDecoder())
    realtime_options["tls"] = settings.tls
    if settings.port is None:
        realtime_options["key"] = settings.key
        if settings.endpoint is not None:
            realtime_options["endpoint"] = settings.endpoint
        if settings.client_id is not None:
            realtime_options["client_id"] = settings.client_id
    else:
        host = settings.endpoint or "127.0.0.1"
        realtime_options["endpoint"] = f"{host}:{settings.port}"

        async def token_from_rest(token_params: dict[str, Any]) -> Any:
            return await rest.auth.request_token(token_params)

        realtime_options["auth_callback"] = token_from_rest
    return rest, make_acks_exact(AblyRealtime(**realtime_options))


class AblyEdge:
    """Publishes over REST; subscribes over realtime. Each channel's handler runs in order,
    one batch at a time. Unlike the local edge, Ably has already acknowledged the client's
    publish, so a failing handler can only log, and a refusal (the client's mistake) can only
    be counted: `client_errors`, by Ably code, as the local edge counts its own."""

    def __init__(self, settings: AblySettings) -> None:
        self._settings = settings
        self.client_errors: dict[int, int] = {}
        self._rest: AblyRest | None = None
        self._realtime: AblyRealtime | None = None
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._rest, self._realtime = ably_clients(self._settings)
        await asyncio.wait_for(
            self._realtime.connection.once_async("connected"), self._settings.connect_timeout_s
        )

    async def admit_clients(self) -> None:
        """Ably keeps its channels through our restarts: clients were never held back."""

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        if self._realtime is not None:
            await self._realtime.close()
        if self._rest is not None:
            await self._rest.close()
        self._rest = self._realtime = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, channel: str, messages: Sequence[OutboundMessage]) -> None:
        if self._rest is None:
            raise RuntimeError("AblyEdge.publish before start")
        await self._rest.channels.get(channel).publish([sdk_message(m) for m in messages])

    async def push_to_user(self, user_id: str, notice: PushNotice) -> None:
        if self._rest is None:
            raise RuntimeError("AblyEdge.push_to_user before start")
        await self._rest.push.admin.publish({"clientId": user_id}, notice.as_push())

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        if self._realtime is None:
            raise RuntimeError("AblyEdge.subscribe before start")
        queue: asyncio.Queue[InboundMessage] = asyncio.Queue(self._settings.inbound_queue_max)
        seen = SeenIds(self._settings.seen_ids_per_channel)

        def on_message(message: Message) -> None:
            if message.id in seen:
                return
            try:
                queue.put_nowait(inbound_message(message))
            except asyncio.QueueFull:
                log.error("edge inbound queue full; message dropped", extra={"channel": channel})
                return
            # Only once queued: a dropped message may still come back with a later rewind.
            seen.add(message.id)

        rewind = self._settings.subscribe_rewind
        options: dict[str, Any] = {"params": {"rewind": rewind}} if rewind else {}
        await self._realtime.channels.get(channel, **options).subscribe(on_message)
        worker = asyncio.create_task(
            _drain(queue, handler, channel, self.client_errors), name=f"ably-in-{channel}"
        )
        self._workers.append(worker)


class SeenIds:
    """The newest `size` message ids, to deliver each message once per process life."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def add(self, message_id: str | None) -> None:
        if message_id is None:
            return
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


async def _drain(
    queue: asyncio.Queue[InboundMessage],
    handler: MessageHandler,
    channel: str,
    client_errors: dict[int, int],
) -> None:
    while True:
        batch = [await queue.get()]
        while len(batch) < HANDLER_BATCH_MAX and not queue.empty():
            batch.append(queue.get_nowait())
        await _handle(batch, handler, channel, client_errors)


async def _handle(
    batch: list[InboundMessage],
    handler: MessageHandler,
    channel: str,
    client_errors: dict[int, int],
) -> None:
    """A refusal refuses the handler's whole call and keeps nothing of it: then each message
    goes alone, so that one bad message costs only itself, and is counted, not logged."""
    try:
        await handler(batch)
    except PublishRefused as refused:
        if len(batch) > 1:
            for message in batch:
                await _handle([message], handler, channel, client_errors)
        else:
            client_errors[refused.code] = client_errors.get(refused.code, 0) + 1
    except Exception:
        log.exception("edge handler failed", extra={"channel": channel})


def sdk_message(message: OutboundMessage) -> Message:
    data = message.data
    if not (data is None or isinstance(data, str | bytes | dict | list)):
        data = orjson.dumps(data).decode()
    extras = dict(message.extras) if message.extras else None
    return Message(name=message.name, data=data, id=message.id, extras=extras)


def inbound_message(message: Message) -> InboundMessage:
    data = message.data
    if isinstance(data, bytearray):
        data = bytes(data)
    return InboundMessage(
        id=message.id,
        name=message.name,
        data=data,
        client_id=message.client_id,
        connection_id=message.connection_id,
        timestamp_ms=int(message.timestamp or 0),
        encoding=message.encoding or "",
        extras=message.extras,
    )
