"""Records a reader could not take: counted per topic, and said at most once a minute each.

Readers of topics the engine writes (the read model, the forwarders, the engine's own
restore) cannot move a bad record to dead letters inside a transaction, and must not stop or
stall for it either: they skip it, count it for /metrics, and log one short line now and then,
never a traceback and never one line per record.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("betting.skipped")
SAY_INTERVAL_S = 60.0
ERROR_SHOWN_MAX = 200


class Skipped:
    def __init__(self, reader: str, clock_s: Callable[[], float] = time.monotonic) -> None:
        self.reader = reader
        self.counts: Counter[str] = Counter()  # topic -> records skipped
        self._clock_s = clock_s
        self._said_at_s: dict[str, float] = {}  # one entry per topic read: bounded

    def skip(self, topic: str, error: object) -> None:
        self.counts[topic] += 1
        now_s = self._clock_s()
        said_at_s = self._said_at_s.get(topic)
        if said_at_s is not None and now_s - said_at_s < SAY_INTERVAL_S:
            return
        self._said_at_s[topic] = now_s
        fields = {
            "reader": self.reader,
            "topic": topic,
            "skipped": self.counts[topic],
            "error": str(error)[:ERROR_SHOWN_MAX],
        }
        # One message per reader and topic: the log's repeat filter thins by message.
        log.warning(f"records skipped by {self.reader} on {topic}", extra={"fields": fields})
