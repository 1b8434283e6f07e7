"""The event log: one port (`port.py`), two adapters (`kafka.py`, `memory.py`)."""

from __future__ import annotations

import os

from betting.config import EventLogKind, Settings
from betting.log.port import EventLog, TopicSpec


def build_event_log(settings: Settings) -> EventLog:
    if settings.event_log.kind is EventLogKind.KAFKA:
        from dataclasses import replace

        from betting.log.kafka import KafkaLog

        kafka = settings.kafka
        # KAFKA_BOOTSTRAP, the variable the tests and `make kafka` use, wins over the file.
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        if bootstrap:
            kafka = replace(kafka, bootstrap=bootstrap)
        return KafkaLog(kafka)
    from betting.log.memory import MemoryLog

    return MemoryLog(settings.kafka.partitions)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    topics, count = settings.topics, settings.kafka.partitions
    plain = [
        topics.bets,
        topics.races,
        topics.odds,
        topics.bet_results,
        topics.dead_letters,
        topics.settlements,
        topics.command_results,
    ]
    return [TopicSpec(name, count) for name in plain] + [
        TopicSpec(topics.book_changelog, count, compacted=True),
        TopicSpec(topics.users, count, compacted=True),
    ]
