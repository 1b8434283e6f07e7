"""Bets-in: bets from clients' shard channels onto the `bets` topic (the Ably Kafka rule's role).

The envelope is checked here (an identified client, a JSON object with a bet id and a race id);
the fields of the bet itself are checked by the engine, which answers each bad one with an
INVALID outcome on the bettor's channel. The user is always the publishing client's id, never
what the message claims, and the receive time is stamped here.

With the local edge a publish is acknowledged only after `handle` returns, that is once the
bets are durably in the log. Every message a call was given is checked before any is
produced: one bad envelope refuses the call whole (a 400-class NACK naming the message and
the field, `bets[2].race_id: ...`), so nothing of a refused publish reaches the log and the
client can correct and resend it. The local edge then answers each ProtocolMessage of the
call on its own, so valid bets published alongside, in other ProtocolMessages, are ACKed.
A refusal is the client's mistake: counted by the edge, never logged.

When the log is unreachable the publish is NACKed with a 500 status, never ACKed: at once
if the producer gives up (`LogUnavailable`, code 50000), and with 50003 once the edge's
`bet_publish_timeout_ms` has passed if it is still waiting. Either way the produce may still
complete later, so a NACKed bet can reach the log after all: the client retries with the same
bet id, and the engine answers the retry with the first bet's outcome, placing it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson

from betting.channels import bets_channel
from betting.codec import SCHEMA
from betting.domain.errors import InvalidValue
from betting.domain.ids import parse_id
from betting.edge.port import EdgePort, InboundMessage, PublishRefused, PublishUnavailable
from betting.log.port import LogUnavailable, Outgoing, Producer

INVALID_DATA = 40013  # Ably: invalid message data or encoding
INVALID_CLIENT_ID = 40012
UNIDENTIFIED_CLIENT = 40161  # Ably: the operation requires an identified client


class EnvelopeRefused(PublishRefused, ValueError):
    """A bet message the edge refuses outright: the client hears why."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class BetsIn:
    def __init__(
        self,
        edge: EdgePort,
        producer: Producer,
        bets_topic: str,
        shards: int,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._edge = edge
        self._producer = producer
        self._topic = bets_topic
        self._shards = shards
        self._clock_ms = clock_ms
        self.forwarded = 0

    async def start(self) -> None:
        for shard in range(self._shards):
            await self._edge.subscribe(bets_channel(shard), self.handle)

    async def handle(self, messages: Sequence[InboundMessage]) -> None:
        received_at_ms = self._clock_ms()
        records = [
            self._record(index, message, received_at_ms) for index, message in enumerate(messages)
        ]
        try:
            await self._producer.send(records)
        except LogUnavailable:
            raise PublishUnavailable(
                "The event log is unavailable; retry the bet with the same bet id"
            ) from None
        self.forwarded += len(records)

    def _record(self, index: int, message: InboundMessage, received_at_ms: int) -> Outgoing:
        bet = envelope(message, f"bets[{index}]")
        bet["v"] = SCHEMA
        bet["user_id"] = message.client_id
        bet["received_at_ms"] = received_at_ms
        return Outgoing(self._topic, str(bet["race_id"]).encode(), orjson.dumps(bet))


def envelope(message: InboundMessage, where: str = "bet") -> dict[str, object]:
    """The bet a message carries, with a valid bet id and race id; EnvelopeRefused naming
    `where` and the field otherwise. The bet's other fields are the engine's to judge."""
    if not message.client_id:
        raise EnvelopeRefused(
            f"{where}: bets must come from an identified client (a token with clientId)",
            UNIDENTIFIED_CLIENT,
        )
    try:
        parse_id(message.client_id, f"{where}: clientId")
    except InvalidValue as error:
        raise EnvelopeRefused(str(error), INVALID_CLIENT_ID) from None
    data = message.data
    if isinstance(data, (bytes, str)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise EnvelopeRefused(f"{where}: a bet must be a JSON object", INVALID_DATA) from None
    if not isinstance(data, dict):
        raise EnvelopeRefused(f"{where}: a bet must be a JSON object", INVALID_DATA)
    for name in ("bet_id", "race_id"):
        try:
            parse_id(data.get(name), f"{where}.{name}")
        except InvalidValue as error:
            raise EnvelopeRefused(str(error), INVALID_DATA) from None
    return dict(data)
