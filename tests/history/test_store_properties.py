"""Properties of the history store on SQLite (hypothesis).

- Any delivery of the log, with batches read again from anywhere below where the reader had
  got to (restarts, a revoked owner's late batch) and repeated outcomes, gives the rows of
  reading each record once: for each bet, its first record.
- Following the cursors returns every row of the query exactly once, in its order.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from betting.history import queries
from betting.history.database import SqliteDatabase
from betting.history.store import Batch, HistoryStore
from tests.history.support import BET_RESULTS, bet_row, outcome, settlement_row

T = TypeVar("T")
PARTITIONS = 2
PROPERTY = settings(max_examples=60, deadline=None)


def on_fresh_store(work: Callable[[HistoryStore], Awaitable[T]]) -> T:
    async def run() -> T:
        with tempfile.TemporaryDirectory() as folder:
            store = HistoryStore(SqliteDatabase(Path(folder) / "h.sqlite3"))
            await store.open()
            try:
                return await work(store)
            finally:
                await store.close()

    return asyncio.run(run())


# A partition's records: (user, bet number, decision time). A bet's records all sit in one
# partition, as a race's do (its id names the partition here).
records_strategy = st.lists(
    st.tuples(st.sampled_from(["ann", "bo"]), st.integers(0, 6), st.integers(0, 50)),
    max_size=25,
)
# A delivery step: for a partition, read again from `rewind` records below where the reader
# got to, then `size` records, in one batch.
steps_strategy = st.lists(
    st.tuples(st.integers(0, PARTITIONS - 1), st.integers(0, 10), st.integers(1, 8)),
    max_size=30,
)


def bet_of(partition: int, record: tuple[str, int, int], offset: int) -> object:
    user, number, at_ms = record
    return bet_row(outcome(user, f"p{partition}-b{number}", decided_at_ms=at_ms), partition, offset)


@PROPERTY
@given(
    logs=st.lists(records_strategy, min_size=PARTITIONS, max_size=PARTITIONS),
    steps=steps_strategy,
)
def test_any_redelivery_gives_the_rows_of_reading_once(
    logs: list[list[tuple[str, int, int]]], steps: list[tuple[int, int, int]]
) -> None:
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for partition, records in enumerate(logs):
        for offset, (user, number, at_ms) in enumerate(records):
            expected.setdefault((user, f"p{partition}-b{number}"), (at_ms, offset))

    def chunk(partition: int, start: int, end: int) -> Batch:
        records = logs[partition][start:end]
        rows = [bet_of(partition, r, start + i) for i, r in enumerate(records)]
        return Batch({(BET_RESULTS, partition): start + len(records)}, bets=rows)  # type: ignore[arg-type]

    async def deliver(store: HistoryStore) -> dict[tuple[str, str], tuple[int, int]]:
        reached = [0] * PARTITIONS
        for partition, rewind, size in steps:
            start = max(0, reached[partition] - rewind)
            end = min(len(logs[partition]), start + size)
            if end > start:
                await store.write(chunk(partition, start, end))
                reached[partition] = end
        for partition in range(PARTITIONS):  # the last life reads on to the end
            stored = await store.positions([(BET_RESULTS, partition)])
            start = stored.get((BET_RESULTS, partition), 0)
            if start < len(logs[partition]):
                await store.write(chunk(partition, start, len(logs[partition])))
        rows = await store.db.fetch(
            "SELECT user_id, bet_id, decided_at_ms, log_offset FROM history_bets"
        )
        return {(u, b): (int(ms), int(offset)) for u, b, ms, offset in rows}

    assert on_fresh_store(deliver) == expected


bets_strategy = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bo", "cy"]),
        st.integers(0, 40),
        st.integers(0, 5),
        st.sampled_from(["r-1", "r-2"]),
    ),
    unique_by=lambda bet: (bet[0], bet[1]),
    max_size=40,
)


@PROPERTY
@given(bets=bets_strategy, limit=st.integers(1, 7))
def test_following_the_cursors_returns_every_row_once_in_order(
    bets: list[tuple[str, int, int, str]], limit: int
) -> None:
    """Times repeat (ties are broken by bet id), so a cursor must name both."""

    async def pages(store: HistoryStore) -> None:
        rows = [bet_row(outcome(u, f"b{n}", race, decided_at_ms=ms), 0, i)
                for i, (u, n, ms, race) in enumerate(bets)]  # fmt: skip
        settled = [settlement_row(u, f"b{n}", race, 0, i, at_ms=ms)
                   for i, (u, n, ms, race) in enumerate(bets)]  # fmt: skip
        positions = {(BET_RESULTS, 0): len(bets), ("settlements", 0): len(bets)}
        await store.write(Batch(positions, bets=rows, settlements=settled))

        async def every(query: Callable[[str | None], Awaitable[queries.Page]]) -> list[str]:
            seen: list[str] = []
            cursor: str | None = None
            while True:
                page = await query(cursor)
                assert len(page.items) <= limit
                seen += [f"{item.get('user_id', '')}/{item['bet_id']}" for item in page.items]
                if page.next_cursor is None:
                    return seen
                cursor = page.next_cursor

        newest_first = sorted(((ms, f"b{n}") for u, n, ms, _ in bets if u == "ann"), reverse=True)
        mine = await every(lambda c: queries.user_bets(store.db, "ann", limit, c))
        assert mine == [f"ann/{bet}" for _, bet in newest_first]
        statement = await every(lambda c: queries.user_statement(store.db, "ann", limit, c))
        assert statement == [f"/{bet}" for _, bet in newest_first]
        race = await every(lambda c: queries.race_bets(store.db, "r-1", limit, c))
        assert race == sorted(f"{u}/b{n}" for u, n, _, r in bets if r == "r-1")
        stats: list[dict[str, object]] = []
        cursor: str | None = None
        while True:
            page = await queries.race_stats(store.db, limit, cursor)
            stats += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [(s["race_id"], s["bets"]) for s in stats] == sorted(
            (r, sum(1 for *_, other in bets if other == r)) for r in {b[3] for b in bets}
        )

    on_fresh_store(pages)
