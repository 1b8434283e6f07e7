"""History queries, paginated by keyset: each page ends with a cursor naming its last row,
and the next page starts strictly after it, so a row written meanwhile never shifts a page
and no row is returned twice. Each query has an index that serves it in order (schema.py).

Cursors are opaque to a client and checked like any outside input: `<ms>.<bet id>` for a
user's bets and statement (a time, then a bet id, unique per user), `<user id>/<bet id>` for a
race's bets, a race id for the per-race stats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from betting.domain.errors import InvalidValue
from betting.domain.ids import parse_id
from betting.domain.numbers import parse_int
from betting.domain.serial import TIME_MS_MAX
from betting.history.database import Database, Row

LIMIT_DEFAULT = 50
LIMIT_MAX = 500
CURSOR_MAX = 300


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None: this was the last page

    def as_json(self, name: str) -> dict[str, Any]:
        return {name: self.items, "next_cursor": self.next_cursor}


def parse_limit(text: str | None) -> int:
    if text is None:
        return LIMIT_DEFAULT
    return parse_int(text, "limit", 1, LIMIT_MAX)


def _time_cursor(cursor: str) -> tuple[int, str]:
    if len(cursor) > CURSOR_MAX:
        raise InvalidValue("cursor: too long")
    ms, dot, bet_id = cursor.partition(".")
    if not dot:
        raise InvalidValue("cursor: expected one this API returned")
    return parse_int(ms, "cursor", 0, TIME_MS_MAX), parse_id(bet_id, "cursor")


def _pair_cursor(cursor: str) -> tuple[str, str]:
    if len(cursor) > CURSOR_MAX:
        raise InvalidValue("cursor: too long")
    user_id, slash, bet_id = cursor.partition("/")
    if not slash:
        raise InvalidValue("cursor: expected one this API returned")
    return parse_id(user_id, "cursor"), parse_id(bet_id, "cursor")


BET_COLUMNS = """b.bet_id, b.user_id, b.race_id, b.runner_id, b.stake_minor, b.status, b.odds,
    b.reason, b.detail, b.odds_version, b.decided_at_ms, s.result, s.payout_minor,
    s.settled_at_ms"""
BET_FROM = """history_bets b LEFT JOIN history_settlements s
    ON s.user_id = b.user_id AND s.bet_id = b.bet_id"""


def _bet(row: Row) -> dict[str, Any]:
    names = ("bet_id", "user_id", "race_id", "runner_id", "stake_minor", "status", "odds")
    item = dict(zip(names, row[:7], strict=True))
    item.update(reason=row[7], detail=row[8], odds_version=row[9], decided_at_ms=row[10])
    item["settlement"] = (
        None
        if row[11] is None
        else {"result": row[11], "payout_minor": row[12], "settled_at_ms": row[13]}
    )
    return item


async def user_bets(
    db: Database, user_id: str, limit: int = LIMIT_DEFAULT, cursor: str | None = None
) -> Page:
    """A user's bets, newest first, each with its settlement once there is one."""
    select = f"SELECT {BET_COLUMNS} FROM {BET_FROM} WHERE b.user_id = $1"
    order = " ORDER BY b.decided_at_ms DESC, b.bet_id DESC LIMIT $2"
    if cursor is None:
        rows = await db.fetch(select + order, user_id, limit)
    else:
        ms, bet_id = _time_cursor(cursor)
        where = " AND (b.decided_at_ms, b.bet_id) < ($3, $4)"
        rows = await db.fetch(select + where + order, user_id, limit, ms, bet_id)
    items = [_bet(row) for row in rows]
    last = items[-1] if len(items) == limit else None
    return Page(items, f"{last['decided_at_ms']}.{last['bet_id']}" if last else None)


async def race_bets(
    db: Database, race_id: str, limit: int = LIMIT_DEFAULT, cursor: str | None = None
) -> Page:
    """A race's bets, by user then bet id."""
    select = f"SELECT {BET_COLUMNS} FROM {BET_FROM} WHERE b.race_id = $1"
    order = " ORDER BY b.user_id, b.bet_id LIMIT $2"
    if cursor is None:
        rows = await db.fetch(select + order, race_id, limit)
    else:
        user_id, bet_id = _pair_cursor(cursor)
        where = " AND (b.user_id, b.bet_id) > ($3, $4)"
        rows = await db.fetch(select + where + order, race_id, limit, user_id, bet_id)
    items = [_bet(row) for row in rows]
    last = items[-1] if len(items) == limit else None
    return Page(items, f"{last['user_id']}/{last['bet_id']}" if last else None)


async def user_statement(
    db: Database, user_id: str, limit: int = LIMIT_DEFAULT, cursor: str | None = None
) -> Page:
    """A user's settlements, newest first: what each settled bet paid."""
    select = """SELECT bet_id, race_id, runner_id, stake_minor, result, payout_minor,
        settled_at_ms FROM history_settlements WHERE user_id = $1"""
    order = " ORDER BY settled_at_ms DESC, bet_id DESC LIMIT $2"
    if cursor is None:
        rows = await db.fetch(select + order, user_id, limit)
    else:
        ms, bet_id = _time_cursor(cursor)
        where = " AND (settled_at_ms, bet_id) < ($3, $4)"
        rows = await db.fetch(select + where + order, user_id, limit, ms, bet_id)
    names = ("bet_id", "race_id", "runner_id", "stake_minor", "result", "payout_minor")
    items = [{**dict(zip(names, row[:6], strict=True)), "settled_at_ms": row[6]} for row in rows]
    last = items[-1] if len(items) == limit else None
    return Page(items, f"{last['settled_at_ms']}.{last['bet_id']}" if last else None)


RACE_STATS = """SELECT race_id, COUNT(*),
    SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status = 'accepted' THEN stake_minor ELSE 0 END),
    (SELECT COUNT(*) FROM history_settlements s WHERE s.race_id = b.race_id),
    (SELECT COALESCE(SUM(payout_minor), 0) FROM history_settlements s
        WHERE s.race_id = b.race_id)
    FROM history_bets b"""


async def race_stats(db: Database, limit: int = LIMIT_DEFAULT, cursor: str | None = None) -> Page:
    """Per race, by race id: bets decided and accepted, stakes taken, settlements and payouts."""
    group = " GROUP BY race_id ORDER BY race_id LIMIT $1"
    if cursor is None:
        rows = await db.fetch(RACE_STATS + group, limit)
    else:
        after = parse_id(cursor, "cursor")
        rows = await db.fetch(RACE_STATS + " WHERE race_id > $2" + group, limit, after)
    names = ("race_id", "bets", "accepted", "staked_minor", "settled", "paid_minor")
    # PostgreSQL sums BIGINTs as exact NUMERICs (Decimal): int() keeps them exact.
    items = [{names[0]: row[0], **{n: int(v) for n, v in zip(names[1:], row[1:], strict=True)}}
             for row in rows]  # fmt: skip
    last = items[-1] if len(items) == limit else None
    return Page(items, str(last["race_id"]) if last else None)
