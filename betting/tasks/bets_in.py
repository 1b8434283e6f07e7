"""Bets-in: bets from clients' shard channels onto the `bets` topic (the Ably Kafka rule's role).

The envelope is checked here (an identified client, a JSON object with a bet id and a race id);
the fields of the bet itself are checked by the engine, which answers each bad one with an
INVALID outcome on the bettor's channel. The user is always the publishing client's id, never
what the message claims, and the receive time is stamped here.

With the local edge a publish is acknowledged only after `handle` returns, that is once the
bets are durably in the log; a refused envelope fails the whole publish with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson

from betting.channels import bets_channel
from betting.codec import ID_MAX, SCHEMA
from betting.domain.ids import is_valid_id
from betting.edge.port import EdgePort, InboundMessage
from betting.log.port import Outgoing, Producer


class EnvelopeRefused(ValueError):
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
        records = [self._record(message, received_at_ms) for message in messages]
        await self._producer.send(records)
        self.forwarded += len(records)

    def _record(self, message: InboundMessage, received_at_ms: int) -> Outgoing:
        bet = envelope(message)
        bet["v"] = SCHEMA
        bet["user_id"] = message.client_id
        bet["received_at_ms"] = received_at_ms
        race_id = str(bet["race_id"])
        return Outgoing(self._topic, race_id.encode(), orjson.dumps(bet))


def envelope(message: InboundMessage) -> dict[str, object]:
    if not is_valid_id(message.client_id):
        raise EnvelopeRefused("bets must come from an identified client (a token with clientId)")
    data = message.data
    if isinstance(data, (bytes, str)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise EnvelopeRefused("a bet must be a JSON object") from None
    if not isinstance(data, dict):
        raise EnvelopeRefused("a bet must be a JSON object")
    for name in ("bet_id", "race_id"):
        value = data.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= ID_MAX:
            raise EnvelopeRefused(f"bet.{name}: expected a string of 1 to {ID_MAX} characters")
    return dict(data)
