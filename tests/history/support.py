"""Helpers of the history tests: the databases to run on, and rows as the engine writes them."""

from __future__ import annotations

import uuid

import pytest

from betting.devtools.postgres_server import PostgresServer
from betting.domain.model import Outcome, RejectReason
from betting.domain.money import Odds
from betting.domain.settlement import Settlement, SettlementResult
from betting.history.database import PostgresDatabase, SqliteDatabase
from betting.history.store import At, BetRow, HistoryStore, SettlementRow

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
ON_BOTH = pytest.mark.parametrize("database_kind", DATABASES, indirect=True)
BET_RESULTS, SETTLEMENTS = "bet-results", "settlements"


def fresh_database_dsn(server: PostgresServer) -> str:
    return server.create_database(f"history_{uuid.uuid4().hex[:12]}")


def new_store(database_kind: str, target: str) -> HistoryStore:
    if database_kind == "postgres":
        return HistoryStore(PostgresDatabase(target))
    return HistoryStore(SqliteDatabase(target))


def outcome(
    user_id: str,
    bet_id: str,
    race_id: str = "r-1",
    decided_at_ms: int = 1_000,
    accepted: bool = True,
    stake_minor: int = 500,
) -> Outcome:
    return Outcome(
        bet_id,
        user_id,
        race_id,
        "runner-1",
        stake_minor,
        accepted,
        Odds.parse("2.50") if accepted else None,
        None if accepted else RejectReason.STAKE_TOO_LOW,
        "" if accepted else "below the minimum",
        3,
        decided_at_ms,
    )


def bet_row(outcome: Outcome, partition: int, offset: int) -> BetRow:
    return BetRow(outcome, At(BET_RESULTS, partition, offset))


def settlement_row(
    user_id: str, bet_id: str, race_id: str, partition: int, offset: int, at_ms: int = 2_000
) -> SettlementRow:
    settlement = Settlement(bet_id, user_id, race_id, "runner-1", 500, SettlementResult.WON, 1_250)
    return SettlementRow(settlement, at_ms, At(SETTLEMENTS, partition, offset))
