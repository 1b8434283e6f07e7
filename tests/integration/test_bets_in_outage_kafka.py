"""Bets-in on the real broker while it is down: a bet is NACKed (retryable) within the
edge's bound, never ACKed before the log has it, and its retry lands once the broker is back."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from ably import AblyException

from betting.channels import bets_channel
from betting.devtools.kafka_broker import KafkaBroker
from betting.edge.local.testing import ROOT_KEY, running_edge, sdk_clients
from betting.tasks.bets_in import BetsIn
from tests.integration.kafka_pipeline import open_log, pipeline_env, pipeline_settings, read_topic

pytestmark = pytest.mark.kafka

TIMEOUT_S = 60.0
PUBLISH_TIMEOUT_MS = 2_000  # the bound under test; short, so the broker is down only briefly


def bet(bet_id: str) -> dict[str, object]:
    return {"bet_id": bet_id, "race_id": "race-outage", "runner_id": "1", "stake_minor": 100}


async def test_a_bet_during_an_outage_is_nacked_then_its_retry_lands(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    settings = pipeline_settings(pipeline_env(kafka_broker.bootstrap, unique_name))
    event_log = await open_log(settings)
    topic = settings.topics.bets

    async def bet_ids() -> list[str]:
        return [
            str(orjson.loads(record.value)["bet_id"])
            for record in await read_topic(event_log, topic)
        ]

    try:
        async with (
            running_edge(publish_timeout_ms=PUBLISH_TIMEOUT_MS) as edge,
            sdk_clients(edge, key=ROOT_KEY, client_id="punter-1") as (_, bettor),
        ):
            await BetsIn(edge, event_log.producer(), topic, 1).start()
            channel = bettor.channels.get(bets_channel(0))
            await channel.publish("bet", bet("before"))
            assert await bet_ids() == ["before"]  # an ACK: the log has it

            await asyncio.to_thread(kafka_broker.shutdown)
            try:
                with pytest.raises(AblyException) as nacked:
                    await asyncio.wait_for(channel.publish("bet", bet("during")), TIMEOUT_S)
                # The producer would wait out its 10 s request timeout: the edge's bound
                # answers first, with Ably's retryable timeout error.
                assert (nacked.value.code, nacked.value.status_code) == (50003, 500)
            finally:
                await asyncio.to_thread(kafka_broker.restart)

            deadline = time.monotonic() + TIMEOUT_S
            while True:  # the bettor retries with the same bet id, as the page does
                try:
                    await channel.publish("bet", bet("during"))
                    break
                except AblyException as error:
                    assert error.status_code == 500, error
                    assert time.monotonic() < deadline, "no retry was ever ACKed"
                    await asyncio.sleep(0.5)  # the bettor's backoff between retries
            landed = await bet_ids()  # right after the ACK: already in the log
            # The NACKed produce may have completed too: the engine answers repeats once.
            assert 1 <= landed.count("during") <= 2 and landed[0] == "before"
    finally:
        await event_log.stop()
