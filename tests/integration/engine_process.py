"""An engine in its own process, for tests that kill it.

Run as `python -m tests.integration.engine_process`.
With `--kill-in-batch N` (or `--kill-on-topic T`: the first batch writing to topic T) it sends
that batch's outputs and offsets inside the transaction, then SIGKILLs itself before the
commit: the worst moment for exactly-once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import replace

from betting import config
from betting.health import Readiness
from betting.log.kafka import KafkaLog, KafkaProcessor, _send_all
from betting.log.port import Outgoing, PartitionListener, Processor
from betting.log.port import TopicPartition as TopicPartitionKey
from betting.tasks.engine import Engine


class KillingProcessor(KafkaProcessor):
    kill_in_batch = 0
    kill_on_topic = ""  # or: the first transaction that writes to this topic
    batches = 0

    async def commit(  # type: ignore[override]
        self, outputs: Sequence[Outgoing], positions: Mapping[TopicPartitionKey, int]
    ) -> None:
        self.batches += 1
        doomed = self.batches == self.kill_in_batch or any(
            self.kill_on_topic and record.topic == self.kill_on_topic for record in outputs
        )
        if not doomed or not outputs:
            await super().commit(outputs, positions)
            return
        by_partition: dict[int, list[Outgoing]] = {}
        for record in outputs:
            assert record.partition is not None
            by_partition.setdefault(record.partition, []).append(record)
        for number, records in by_partition.items():  # every partition's transaction open
            producer = self._producers[number]
            await producer.begin_transaction()
            await _send_all(producer, records)
            await producer.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class KillingLog(KafkaLog):
    kill_in_batch = 0
    kill_on_topic = ""

    def processor(
        self, group_id: str, topics: Sequence[str], listener: PartitionListener, instance_id: str
    ) -> Processor:
        processor = KillingProcessor(
            self._options,
            group_id,
            topics,
            listener,
            self.settings.transactional_id_prefix,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
        )
        processor.kill_in_batch = self.kill_in_batch
        processor.kill_on_topic = self.kill_on_topic
        return processor


async def main(kill_in_batch: int, kill_on_topic: str, instance_id: str) -> None:
    settings = config.load()  # the test passes topics, group and bootstrap in the environment
    event_log = KillingLog(replace(settings.kafka, bootstrap=os.environ["KAFKA_BOOTSTRAP"]))
    event_log.kill_in_batch = kill_in_batch
    event_log.kill_on_topic = kill_on_topic
    await event_log.start()
    engine = Engine(event_log, settings, Readiness(), instance_id=instance_id)
    print("engine started", flush=True)
    await engine.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-in-batch", type=int, default=0)
    parser.add_argument("--kill-on-topic", default="")
    parser.add_argument("--instance", default="a")
    args = parser.parse_args()
    asyncio.run(main(args.kill_in_batch, args.kill_on_topic, args.instance))
