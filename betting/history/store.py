"""The history store: bets, settlements and transfers, written with the log positions they
were read up to, in one transaction.

`write(batch)` is the exactly-once step. Inside one transaction it
1. locks the position rows of the batch's partitions (in a fixed order, so two writers never
   deadlock), and reads where each was written up to;
2. drops every row read from below that position (a record a previous life, or another
   instance, already wrote: a replay after a crash, or a partition moved mid-batch);
3. inserts the rest, ignoring one whose key is already there (a bet's repeated outcome);
4. moves the positions on.
A kill at any moment leaves either all of it or none; the sink restarts from the positions
stored here, never from the log's own committed offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from betting.domain.model import Outcome
from betting.domain.settlement import Settlement
from betting.history.database import Database, Transaction
from betting.history.schema import migrate
from betting.log.port import TopicPartition


@dataclass(frozen=True, slots=True)
class At:
    """Where a row was read: its record's partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class BetRow:
    outcome: Outcome
    at: At


@dataclass(frozen=True, slots=True)
class SettlementRow:
    settlement: Settlement
    settled_at_ms: int  # the record's log time: a settlement carries none of its own
    at: At


@dataclass(frozen=True, slots=True)
class Transfer:
    """A ledger movement between two accounts, in minor units (the wallet's)."""

    transfer_id: str
    debit_account: str
    credit_account: str
    amount_minor: int
    kind: str
    at_ms: int
    race_id: str | None = None
    bet_id: str | None = None


@dataclass(frozen=True, slots=True)
class TransferRow:
    transfer: Transfer
    at: At


@dataclass
class Batch:
    """Rows read from the log, and the next offset of every partition they were read from
    (records that made no row, such as one that did not decode, move their partition too)."""

    positions: dict[TopicPartition, int]
    bets: list[BetRow] = field(default_factory=list)
    settlements: list[SettlementRow] = field(default_factory=list)
    transfers: list[TransferRow] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    rows: int  # rows offered past the stored positions (repeats among them are ignored)
    stale: int  # rows from below a stored position: written before, dropped


INSERT_BET = """INSERT INTO history_bets (user_id, bet_id, race_id, runner_id, stake_minor,
    status, odds, reason, detail, odds_version, decided_at_ms, log_partition, log_offset)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (user_id, bet_id) DO NOTHING"""
INSERT_SETTLEMENT = """INSERT INTO history_settlements (user_id, bet_id, race_id, runner_id,
    stake_minor, result, payout_minor, settled_at_ms, log_partition, log_offset)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (user_id, bet_id) DO NOTHING"""
INSERT_TRANSFER = """INSERT INTO history_transfers (transfer_id, debit_account, credit_account,
    amount_minor, kind, race_id, bet_id, at_ms, log_partition, log_offset)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (transfer_id) DO NOTHING"""


def bet_values(row: BetRow) -> tuple[object, ...]:
    o = row.outcome
    return (
        *(o.user_id, o.bet_id, o.race_id, o.runner_id, o.stake_minor),
        "accepted" if o.accepted else "rejected",
        str(o.odds) if o.odds is not None else None,
        str(o.reason) if o.reason is not None else None,
        *(o.detail, o.odds_version, o.decided_at_ms, row.at.partition, row.at.offset),
    )


def settlement_values(row: SettlementRow) -> tuple[object, ...]:
    s = row.settlement
    return (
        *(s.user_id, s.bet_id, s.race_id, s.runner_id, s.stake_minor, str(s.result)),
        *(s.payout_minor, row.settled_at_ms, row.at.partition, row.at.offset),
    )


def transfer_values(row: TransferRow) -> tuple[object, ...]:
    t = row.transfer
    return (
        *(t.transfer_id, t.debit_account, t.credit_account, t.amount_minor, t.kind),
        *(t.race_id, t.bet_id, t.at_ms, row.at.partition, row.at.offset),
    )


class HistoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.opened = False  # open, and its schema up to date: queries may run

    async def open(self) -> None:
        await self.db.open()
        try:
            await migrate(self.db)
        except BaseException:
            await self.db.close()
            raise
        self.opened = True

    async def close(self) -> None:
        self.opened = False
        await self.db.close()

    async def positions(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset to read of each partition written before (others are absent)."""
        wanted = set(partitions)
        rows = await self.db.fetch(
            "SELECT log_topic, log_partition, next_offset FROM history_positions"
        )
        found = {(str(t), int(p)): int(n) for t, p, n in rows}
        return {where: offset for where, offset in found.items() if where in wanted}

    async def forget_positions(self, topics: Sequence[str]) -> None:
        """For a log that starts empty on every run (the in-memory one): its offsets start at
        0 again, so positions kept from an earlier run would skip the new records."""
        async with self.db.transaction() as tx:
            for topic in topics:
                await tx.execute("DELETE FROM history_positions WHERE log_topic = $1", topic)

    async def write(self, batch: Batch) -> Written:
        async with self.db.transaction() as tx:
            stored = await self.lock_positions(tx, batch.positions)
            written = await self.insert_rows(tx, batch, stored)
            await self.save_positions(tx, batch.positions, stored)
            await self.before_commit(written)
            return written

    async def record_transfers(
        self, transfers: Sequence[TransferRow], positions: Mapping[TopicPartition, int]
    ) -> Written:
        """The ledger's writer: transfers and the positions of the records they came from.
        Not fed yet: the wallet's topic is added to the sink when the wallet lands."""
        return await self.write(Batch(dict(positions), transfers=list(transfers)))

    # The steps of `write`, apart so a test can take them out of one transaction and show
    # what that would break.

    async def lock_positions(
        self, tx: Transaction, positions: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        ordered = sorted(positions)
        await tx.executemany(
            """INSERT INTO history_positions (log_topic, log_partition, next_offset)
            VALUES ($1, $2, 0) ON CONFLICT (log_topic, log_partition) DO NOTHING""",
            ordered,
        )
        stored: dict[TopicPartition, int] = {}
        for topic, partition in ordered:
            rows = await tx.fetch(
                "SELECT next_offset FROM history_positions"
                " WHERE log_topic = $1 AND log_partition = $2" + self.db.dialect.for_update,
                topic,
                partition,
            )
            stored[(topic, partition)] = int(rows[0][0])
        return stored

    async def insert_rows(
        self, tx: Transaction, batch: Batch, stored: Mapping[TopicPartition, int]
    ) -> Written:
        def fresh(at: At) -> bool:
            return at.offset >= stored.get((at.topic, at.partition), 0)

        bets = [bet_values(row) for row in batch.bets if fresh(row.at)]
        settlements = [settlement_values(row) for row in batch.settlements if fresh(row.at)]
        transfers = [transfer_values(row) for row in batch.transfers if fresh(row.at)]
        await tx.executemany(INSERT_BET, bets)
        await tx.executemany(INSERT_SETTLEMENT, settlements)
        await tx.executemany(INSERT_TRANSFER, transfers)
        offered = len(batch.bets) + len(batch.settlements) + len(batch.transfers)
        rows = len(bets) + len(settlements) + len(transfers)
        return Written(rows=rows, stale=offered - rows)

    async def save_positions(
        self,
        tx: Transaction,
        positions: Mapping[TopicPartition, int],
        stored: Mapping[TopicPartition, int],
    ) -> None:
        moved = [
            (topic, partition, offset)
            for (topic, partition), offset in sorted(positions.items())
            if offset > stored.get((topic, partition), 0)  # never backwards
        ]
        await tx.executemany(
            "UPDATE history_positions SET next_offset = $3"
            " WHERE log_topic = $1 AND log_partition = $2",
            moved,
        )

    async def before_commit(self, written: Written) -> None:
        """Called inside the transaction, before it commits: a test hook (a kill here is
        the worst moment for exactly-once)."""
        return None
