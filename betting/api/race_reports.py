"""What the console shows of a race beyond its book: the house's figures once it is decided
(staked, paid back, profit or loss), and the list of its bets from the bet history."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from betting.api.errors import HttpError
from betting.api.services import Services
from betting.domain.errors import InvalidValue
from betting.domain.ids import ID_RULE, is_valid_id
from betting.history import queries
from betting.history.database import DatabaseUnavailable

DECIDED_STATES = frozenset({"resulted", "settled", "void"})
# A bet's stake is the house's once accepted; these are the statuses an accepted bet has.
TAKEN = frozenset({"accepted", "won", "lost", "void", "refunded"})
SETTLED = frozenset({"won", "lost", "void", "refunded"})


def house_figures(bets: Any, race_id: str) -> dict[str, int]:
    """The house's money on a race from the read model's bets: what was staked, what the
    settled bets paid back, and the difference. A scan of the bets, so it is worked out for
    decided races only, on request."""
    staked = paid = settled = unsettled = 0
    for bet in bets.values():
        if bet.get("race_id") != race_id or bet.get("status") not in TAKEN:
            continue
        staked += bet["stake_minor"]
        if bet["status"] in SETTLED:
            settled += 1
            paid += bet.get("payout_minor") or 0
        else:
            unsettled += 1
    return {
        "staked_minor": staked,
        "paid_minor": paid,
        "house_pnl_minor": staked - paid,
        "settled_bets": settled,
        "unsettled_bets": unsettled,
    }


def with_house_figures(book: dict[str, Any], bets: Any) -> dict[str, Any]:
    if book["state"] in DECIDED_STATES:
        book["house"] = house_figures(bets, book["race_id"])
    return book


async def race_bets(request: Request, services: Services) -> Response:
    """A page of a race's bets from the history database, by user then bet id."""
    race_id = request.path_params["race_id"]
    if not is_valid_id(race_id):
        raise HttpError(422, f"race_id: expected {ID_RULE}")
    store = services.history
    if store is None or not store.opened:
        raise HttpError(503, "bet history is not available (history.kind, or starting)")
    try:
        limit = queries.parse_limit(request.query_params.get("limit"))
        page = await queries.race_bets(store.db, race_id, limit, request.query_params.get("cursor"))
    except InvalidValue as error:
        raise HttpError(400, str(error)) from None
    except DatabaseUnavailable:
        raise HttpError(503, "the history database cannot be reached now") from None
    return JSONResponse(page.as_json("bets"))
