"""The history's tables, created when missing and migrated forward by a schema version.

`history_schema` holds one row, the version the tables are at. `migrate` runs, in one
transaction, every step past it (each step a tuple of statements); a database at a version
newer than this code knows stops start-up instead of being written by older code. The same
DDL runs on SQLite and PostgreSQL: TEXT, BIGINT and INTEGER only, and the row-value
comparisons the keyset queries use exist in both.

Bets and settlements are keyed by (user_id, bet_id): the bettor's idempotency key is theirs,
as the engine keys it. A race's book refuses another bet under a key it has decided; a user
reusing their own bet id on another race makes a second bet there (no book sees both) and
one row here (the first).
"""

from __future__ import annotations

from betting.history.database import Database

VERSION_1 = (
    # Where the sink has written up to, per log partition: the next offset to read. It moves
    # in the same transaction as the rows it stands for.
    """CREATE TABLE history_positions (
        log_topic TEXT NOT NULL,
        log_partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (log_topic, log_partition)
    )""",
    # One row per bet: its first outcome (a retry is answered with the same one again).
    """CREATE TABLE history_bets (
        user_id TEXT NOT NULL,
        bet_id TEXT NOT NULL,
        race_id TEXT NOT NULL,
        runner_id TEXT NOT NULL,
        stake_minor BIGINT NOT NULL,
        status TEXT NOT NULL,
        odds TEXT,
        reason TEXT,
        detail TEXT NOT NULL,
        odds_version BIGINT NOT NULL,
        decided_at_ms BIGINT NOT NULL,
        log_partition INTEGER NOT NULL,
        log_offset BIGINT NOT NULL,
        PRIMARY KEY (user_id, bet_id)
    )""",
    # A user's bets, newest first (the keyset is decided_at_ms, then bet_id).
    "CREATE INDEX history_bets_by_user_time ON history_bets (user_id, decided_at_ms, bet_id)",
    # A race's bets, and the per-race counts and sums.
    "CREATE INDEX history_bets_by_race ON history_bets (race_id, user_id, bet_id)",
    """CREATE TABLE history_settlements (
        user_id TEXT NOT NULL,
        bet_id TEXT NOT NULL,
        race_id TEXT NOT NULL,
        runner_id TEXT NOT NULL,
        stake_minor BIGINT NOT NULL,
        result TEXT NOT NULL,
        payout_minor BIGINT NOT NULL,
        settled_at_ms BIGINT NOT NULL,
        log_partition INTEGER NOT NULL,
        log_offset BIGINT NOT NULL,
        PRIMARY KEY (user_id, bet_id)
    )""",
    # A user's statement, newest first.
    """CREATE INDEX history_settlements_by_user_time
        ON history_settlements (user_id, settled_at_ms, bet_id)""",
    "CREATE INDEX history_settlements_by_race ON history_settlements (race_id)",
    # Ledger transfers (the wallet): each a movement between two accounts, keyed by
    # its own id so a replay writes it once. Nothing feeds it yet.
    """CREATE TABLE history_transfers (
        transfer_id TEXT NOT NULL PRIMARY KEY,
        debit_account TEXT NOT NULL,
        credit_account TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        kind TEXT NOT NULL,
        race_id TEXT,
        bet_id TEXT,
        at_ms BIGINT NOT NULL,
        log_partition INTEGER NOT NULL,
        log_offset BIGINT NOT NULL
    )""",
    # An account's statement, from either side of a transfer.
    "CREATE INDEX history_transfers_by_debit ON history_transfers (debit_account, at_ms)",
    "CREATE INDEX history_transfers_by_credit ON history_transfers (credit_account, at_ms)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (VERSION_1,)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was migrated by newer code than this."""


async def migrate(db: Database) -> int:
    """Bring the tables to `SCHEMA_VERSION`; returns the version found before."""
    async with db.transaction() as tx:
        if db.dialect.schema_lock:
            await tx.execute(db.dialect.schema_lock)
        await tx.execute("CREATE TABLE IF NOT EXISTS history_schema (version INTEGER NOT NULL)")
        rows = await tx.fetch("SELECT version FROM history_schema")
        found = int(rows[0][0]) if rows else 0
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"history schema version {found} is newer than this code's {SCHEMA_VERSION}"
            )
        for steps in MIGRATIONS[found:]:
            for statement in steps:
                await tx.execute(statement)
        if not rows:
            await tx.execute("INSERT INTO history_schema (version) VALUES ($1)", SCHEMA_VERSION)
        elif found < SCHEMA_VERSION:
            await tx.execute("UPDATE history_schema SET version = $1", SCHEMA_VERSION)
        return found
