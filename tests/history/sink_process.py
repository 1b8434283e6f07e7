"""The history sink in its own process, for tests that kill it.

Run as `python -m tests.history.sink_process`, configured like serve from the environment
(event log, topics, group, history database). With `--kill-after-rows N` it SIGKILLs itself
inside the database transaction that takes its row count (this life's) to N or past, after
the rows and positions are written and before the commit: the worst moment for
exactly-once. `--offsets-apart` commits the positions in a transaction of their own before
the rows' (the mistake this design avoids), to show what the kill test catches then.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from betting import config, logs
from betting.history.store import Batch, HistoryStore, Written
from betting.log import build_event_log
from betting.tasks.history_sink import HistorySink, build_store


class KillingStore(HistoryStore):
    kill_after_rows = 0
    offsets_apart = False
    rows = 0

    async def before_commit(self, written: Written) -> None:
        self.rows += written.rows
        if self.kill_after_rows and self.rows >= self.kill_after_rows:
            os.kill(os.getpid(), signal.SIGKILL)

    async def write(self, batch: Batch) -> Written:
        if not self.offsets_apart:
            return await super().write(batch)
        async with self.db.transaction() as tx:  # positions first, on their own
            stored = await self.lock_positions(tx, batch.positions)
            await self.save_positions(tx, batch.positions, stored)
        async with self.db.transaction() as tx:
            written = await self.insert_rows(tx, batch, stored)
            await self.before_commit(written)
            return written


async def main(kill_after_rows: int, offsets_apart: bool) -> None:
    settings = config.load()
    logs.configure("WARNING")
    built = build_store(settings)
    assert built is not None, "set BETTING_HISTORY__KIND"
    store = KillingStore(built.db)
    store.kill_after_rows, store.offsets_apart = kill_after_rows, offsets_apart
    event_log = build_event_log(settings)
    await event_log.start()
    work = asyncio.create_task(HistorySink(event_log, store, settings).run())
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, work.cancel)
    try:
        await work
    except asyncio.CancelledError:
        pass
    finally:
        await event_log.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after-rows", type=int, default=0)
    parser.add_argument("--offsets-apart", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.kill_after_rows, arguments.offsets_apart))
