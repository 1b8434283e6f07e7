"""The history store on SQLite and on a real PostgreSQL server: rows with their positions,
fenced writes, repeats, the schema version, and the paginated queries."""

from __future__ import annotations

import pytest

from betting.domain.errors import InvalidValue
from betting.history import queries
from betting.history.schema import SCHEMA_VERSION, SchemaTooNew, migrate
from betting.history.store import At, Batch, HistoryStore, Transfer, TransferRow
from tests.history.support import (
    BET_RESULTS,
    ON_BOTH,
    SETTLEMENTS,
    bet_row,
    new_store,
    outcome,
    settlement_row,
)


async def bet_keys(store: HistoryStore) -> list[tuple[str, str, int]]:
    rows = await store.db.fetch(
        "SELECT user_id, bet_id, log_offset FROM history_bets ORDER BY user_id, bet_id"
    )
    return [(str(u), str(b), int(o)) for u, b, o in rows]


@ON_BOTH
async def test_rows_and_positions_are_written_together(store: HistoryStore) -> None:
    batch = Batch(
        {(BET_RESULTS, 0): 3, (SETTLEMENTS, 1): 8},
        bets=[bet_row(outcome("alice", "b1"), 0, 0), bet_row(outcome("bob", "b1"), 0, 2)],
        settlements=[settlement_row("alice", "b1", "r-1", 1, 7)],
    )
    written = await store.write(batch)
    assert (written.rows, written.stale) == (3, 0)
    assert await bet_keys(store) == [("alice", "b1", 0), ("bob", "b1", 2)]
    assert await store.positions([(BET_RESULTS, 0), (SETTLEMENTS, 1), (BET_RESULTS, 5)]) == {
        (BET_RESULTS, 0): 3,
        (SETTLEMENTS, 1): 8,
    }


@ON_BOTH
async def test_a_batch_read_again_writes_nothing_and_moves_nothing_back(
    store: HistoryStore,
) -> None:
    first = Batch({(BET_RESULTS, 0): 2}, bets=[bet_row(outcome("alice", "b1"), 0, 1)])
    await store.write(first)
    # A restart (or a revoked owner, late) reads from offset 0: everything below 2 is stale.
    again = Batch(
        {(BET_RESULTS, 0): 3},
        bets=[bet_row(outcome("carol", "c0"), 0, 0), bet_row(outcome("alice", "b1"), 0, 1),
              bet_row(outcome("dave", "d2"), 0, 2)],
    )  # fmt: skip
    written = await store.write(again)
    assert (written.rows, written.stale) == (1, 2)
    assert await bet_keys(store) == [("alice", "b1", 1), ("dave", "d2", 2)]
    late = Batch({(BET_RESULTS, 0): 1}, bets=[bet_row(outcome("erin", "e0"), 0, 0)])
    assert (await store.write(late)).stale == 1
    assert await store.positions([(BET_RESULTS, 0)]) == {(BET_RESULTS, 0): 3}


@ON_BOTH
async def test_a_repeated_outcome_keeps_the_first_row(store: HistoryStore) -> None:
    """The engine answers a retried bet id with its first outcome again, at a new offset."""
    first = outcome("alice", "b1", decided_at_ms=1_000)
    repeat_later = outcome("alice", "b1", decided_at_ms=9_999, accepted=False)
    await store.write(Batch({(BET_RESULTS, 0): 1}, bets=[bet_row(first, 0, 0)]))
    await store.write(
        Batch({(BET_RESULTS, 0): 3}, bets=[bet_row(first, 0, 1), bet_row(repeat_later, 0, 2)])
    )
    page = await queries.user_bets(store.db, "alice")
    assert [(b["bet_id"], b["status"], b["decided_at_ms"]) for b in page.items] == [
        ("b1", "accepted", 1_000)
    ]
    assert await bet_keys(store) == [("alice", "b1", 0)]


@ON_BOTH
async def test_transfers_have_a_table_and_a_writer(store: HistoryStore) -> None:
    transfer = Transfer("t-1", "user:alice", "house", 500, "stake", 1_000, "r-1", "b1")
    at = At("transfers", 0, 0)
    await store.record_transfers([TransferRow(transfer, at)], {("transfers", 0): 1})
    await store.record_transfers([TransferRow(transfer, at)], {("transfers", 0): 1})
    rows = await store.db.fetch("SELECT transfer_id, amount_minor FROM history_transfers")
    assert [tuple(row) for row in rows] == [("t-1", 500)]


@ON_BOTH
async def test_the_schema_is_made_once_and_a_newer_one_is_refused(
    database_kind: str, history_target: str
) -> None:
    store = new_store(database_kind, history_target)
    await store.open()
    try:
        assert await migrate(store.db) == SCHEMA_VERSION  # already there: nothing to do
        async with store.db.transaction() as tx:
            await tx.execute("UPDATE history_schema SET version = $1", SCHEMA_VERSION + 1)
    finally:
        await store.close()
    newer = new_store(database_kind, history_target)
    with pytest.raises(SchemaTooNew, match="newer than this code"):
        await newer.open()
    assert not newer.opened


@ON_BOTH
async def test_the_queries_read_what_was_written(store: HistoryStore) -> None:
    bets = [
        bet_row(outcome("alice", "a1", "r-1", decided_at_ms=100), 0, 0),
        bet_row(outcome("alice", "a2", "r-2", decided_at_ms=300), 1, 0),
        bet_row(outcome("alice", "a3", "r-1", decided_at_ms=200, accepted=False), 0, 1),
        bet_row(outcome("bob", "b1", "r-1", decided_at_ms=150, stake_minor=700), 0, 2),
    ]
    settlements = [settlement_row("alice", "a1", "r-1", 0, 0, at_ms=5_000)]
    positions = {(BET_RESULTS, 0): 3, (BET_RESULTS, 1): 1, (SETTLEMENTS, 0): 1}
    await store.write(Batch(positions, bets=bets, settlements=settlements))

    mine = await queries.user_bets(store.db, "alice", limit=2)
    assert [b["bet_id"] for b in mine.items] == ["a2", "a3"]
    assert mine.next_cursor == "200.a3"
    rest = await queries.user_bets(store.db, "alice", limit=2, cursor=mine.next_cursor)
    assert [b["bet_id"] for b in rest.items] == ["a1"] and rest.next_cursor is None
    assert rest.items[0]["settlement"] == {
        "result": "won",
        "payout_minor": 1_250,
        "settled_at_ms": 5_000,
    }
    assert rest.items[0]["odds"] == "2.50" and mine.items[1]["reason"] == "STAKE_TOO_LOW"

    race = await queries.race_bets(store.db, "r-1", limit=10)
    assert [(b["user_id"], b["bet_id"]) for b in race.items] == [
        ("alice", "a1"),
        ("alice", "a3"),
        ("bob", "b1"),
    ]
    statement = await queries.user_statement(store.db, "alice")
    assert [(s["bet_id"], s["payout_minor"]) for s in statement.items] == [("a1", 1_250)]
    stats = await queries.race_stats(store.db)
    assert stats.items == [
        {"race_id": "r-1", "bets": 3, "accepted": 2, "staked_minor": 1_200, "settled": 1,
         "paid_minor": 1_250},
        {"race_id": "r-2", "bets": 1, "accepted": 1, "staked_minor": 500, "settled": 0,
         "paid_minor": 0},
    ]  # fmt: skip
    page = await queries.race_stats(store.db, limit=1)
    assert page.next_cursor == "r-1"
    after = await queries.race_stats(store.db, limit=1, cursor=page.next_cursor)
    assert [s["race_id"] for s in after.items] == ["r-2"]


@ON_BOTH
@pytest.mark.parametrize(
    "cursor",
    ["", "100", "x.a1", "-1.a1", "100.", "100.a b", "1e3.a1", "٣.a1", "9" * 400, "100.a1/b"],
)
async def test_a_cursor_not_made_here_is_refused_by_name(store: HistoryStore, cursor: str) -> None:
    with pytest.raises(InvalidValue, match="cursor"):
        await queries.user_bets(store.db, "alice", cursor=cursor)


@pytest.mark.parametrize("cursor", ["", "alice", "alice/", "/b1", "al ice/b1", "a/b/c"])
async def test_a_race_cursor_not_made_here_is_refused(tmp_path: object, cursor: str) -> None:
    with pytest.raises(InvalidValue, match="cursor"):
        queries._pair_cursor(cursor)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "", "1_0", " 5"])
def test_a_limit_out_of_range_is_refused(limit: str) -> None:
    with pytest.raises(InvalidValue, match="limit"):
        queries.parse_limit(limit)
