"""The garbage collector tuned for a process that keeps every bet of a race in memory.

Serve and the benchmark's load generator use it: a collection walking many thousands of
long-lived objects stalls every task on the loop for that long (10-50 ms was measured).
"""

from __future__ import annotations

import asyncio
import gc

THRESHOLDS = (5_000, 10, 10)
FREEZE_INTERVAL_S = 1.0


def quiet() -> None:
    """Freeze what start-up built; young collections every few thousand allocations."""
    gc.collect()
    gc.freeze()  # what start-up built is never collected again
    gc.set_threshold(*THRESHOLDS)


async def freeze_survivors() -> None:
    """Move what survived the young collections out of the collector's sight every second.

    Whatever lives a second here (outcomes, books, views) mostly lives for the race, so
    walking it again and again bought nothing; frozen, no collection has more than about a
    second of allocations to walk. The cost: a reference cycle that is garbage but not yet
    collected at a freeze is never freed; young collections every few thousand allocations
    keep that small.
    """
    while True:
        await asyncio.sleep(FREEZE_INTERVAL_S)
        gc.freeze()
