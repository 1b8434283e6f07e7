"""Plain-data forms of domain values (dicts and lists of str and int).

Both book snapshots and the wire codecs at the edges build on these, so one value has one
shape everywhere. Decoding trusts nothing: every field is checked for type (`type(x) is int`,
so a bool is not a number), range and length, ids by the one id rule, and names are bounded
printable text. A wrong type, a missing field or a value out of range is `InvalidValue`, and
its message never quotes more than a few characters of what it refused.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from betting.domain.deductions import Withdrawal
from betting.domain.errors import InvalidValue
from betting.domain.events import CreateRace
from betting.domain.ids import ID_MAX, parse_id
from betting.domain.model import Bet, FavourablePolicy, Outcome, RaceState, RejectReason, Runner
from betting.domain.money import LADDER, Odds
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams

NAME_MAX = 200  # race and runner names, void reasons
DETAIL_MAX = 1_000  # an outcome's detail
RUNNERS_MAX = 100
TIME_MS_MAX = 4_102_444_800_000  # 2100-01-01: any later time is a broken clock or an attack
STAKE_MINOR_MAX = 10**15
COUNT_MAX = 2**63 - 1  # versions, seeds: any signed 64-bit count
STRENGTH_MAX = 10**9
LENGTH_MM_MIN = 1_000
LENGTH_MM_MAX = 100_000_000  # as `engine.race_length_mm` allows
HEADER_LIST_MAX = 10_000_000  # held bets, remembered versions (risk.version_history_max)
SHOWN_MAX = 40  # characters of a refused value quoted in an error


def shown(value: object) -> str:
    """A refused value for an error message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 3]}..."


def check_id(value: object, name: str) -> str:
    return parse_id(value, name)


def check_optional_id(value: object, name: str) -> str:
    """An id, or "" where the value may be absent (an INVALID outcome's runner)."""
    return "" if value == "" else parse_id(value, name)


def check_text(value: object, name: str, limit: int = NAME_MAX, empty: bool = False) -> str:
    """Free text: printable (no control, format or separator characters but the space)."""
    if (
        not isinstance(value, str)
        or len(value) > limit
        or (not value and not empty)
        or not value.isprintable()
    ):
        low = 0 if empty else 1
        raise InvalidValue(f"{name}: expected {low} to {limit} printable characters")
    return value


def check_integer(value: object, name: str, low: int = 0, high: int = COUNT_MAX) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidValue(f"{name}: expected an integer in [{low}, {high}], got {shown(value)}")
    return value


def check_time(value: object, name: str) -> int:
    return check_integer(value, name, 0, TIME_MS_MAX)


def check_flag(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise InvalidValue(f"{name}: expected true or false, got {shown(value)}")
    return value


def check_list(value: object, name: str, limit: int, low: int = 0) -> list[Any]:
    if not isinstance(value, list) or not low <= len(value) <= limit:
        raise InvalidValue(f"{name}: expected a list of {low} to {limit} items")
    return value


def check_object(value: object, name: str, keys: frozenset[str]) -> dict[str, Any]:
    """A JSON object whose keys are all known (each one is then checked by its reader)."""
    if not isinstance(value, dict):
        raise InvalidValue(f"{name}: expected an object")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise InvalidValue(f"{name}: unknown field {shown(unknown[0])}")
    return value


def check_choice(value: object, name: str, kind: type[Any]) -> Any:
    """A member of a string enum."""
    if not isinstance(value, str) or value not in kind._value2member_map_:
        raise InvalidValue(f"{name}: unknown value {shown(value)}")
    return kind(value)


# -- races ---------------------------------------------------------------------------------


def race_to_dict(race: CreateRace) -> dict[str, Any]:
    return {
        "race_id": race.race_id,
        "name": race.name,
        "runners": [asdict(runner) for runner in race.runners],
        "scheduled_start_ms": race.scheduled_start_ms,
        "at_ms": race.at_ms,
        "pricing": asdict(race.pricing),
        "risk": {**asdict(race.risk), "favourable_policy": str(race.risk.favourable_policy)},
    }


_RACE_KEYS = frozenset(
    {"race_id", "name", "runners", "scheduled_start_ms", "at_ms", "pricing", "risk"}
)
_RUNNER_KEYS = frozenset({"runner_id", "name", "rating"})
_PRICING_KEYS = frozenset(field.name for field in fields(PricingParams))
_RISK_KEYS = frozenset(field.name for field in fields(RiskParams))


def race_from_dict(data: object) -> CreateRace:
    race = check_object(data, "race", _RACE_KEYS)
    for name in _RACE_KEYS:
        if name not in race:
            raise InvalidValue(f"race.{name}: missing")
    runners = check_list(race["runners"], "race.runners", RUNNERS_MAX, low=1)
    return CreateRace(
        race_id=check_id(race["race_id"], "race.race_id"),
        name=check_text(race["name"], "race.name"),
        runners=tuple(_runner(item, f"race.runners[{n}]") for n, item in enumerate(runners)),
        scheduled_start_ms=check_time(race["scheduled_start_ms"], "race.scheduled_start_ms"),
        at_ms=check_time(race["at_ms"], "race.at_ms"),
        pricing=_pricing(race["pricing"]),
        risk=_risk(race["risk"]),
    )


def _runner(data: object, name: str) -> Runner:
    runner = check_object(data, name, _RUNNER_KEYS)
    rating = runner.get("rating")
    return Runner(
        check_id(runner.get("runner_id"), f"{name}.runner_id"),
        check_text(runner.get("name"), f"{name}.name"),
        None if rating is None else check_integer(rating, f"{name}.rating", 1, STRENGTH_MAX),
    )


def _pricing(data: object) -> PricingParams:
    pricing = check_object(data, "race.pricing", _PRICING_KEYS)
    values = {key: check_integer(value, f"race.pricing.{key}") for key, value in pricing.items()}
    return PricingParams(**values)  # ranges are checked by PricingParams itself


def _risk(data: object) -> RiskParams:
    risk = check_object(data, "race.risk", _RISK_KEYS)
    values: dict[str, Any] = {}
    for key, value in risk.items():
        if key == "favourable_policy":
            values[key] = check_choice(value, "race.risk.favourable_policy", FavourablePolicy)
        else:
            values[key] = check_integer(value, f"race.risk.{key}")
    return RiskParams(**values)


# -- bets and outcomes ---------------------------------------------------------------------


def bet_to_list(bet: Bet) -> list[Any]:
    return [
        bet.bet_id,
        bet.user_id,
        bet.race_id,
        bet.runner_id,
        bet.stake_minor,
        bet.odds_seen.hundredths,
        bet.odds_version,
        bet.received_at_ms,
        bet.client_sent_at_ms,
    ]


def bet_from_list(row: object) -> Bet:
    items = check_list(row, "bet", 9, low=9)
    bet_id, user_id, race_id, runner_id, stake, odds, version, received, sent = items
    return Bet(
        check_id(bet_id, "bet.bet_id"),
        check_id(user_id, "bet.user_id"),
        check_id(race_id, "bet.race_id"),
        check_id(runner_id, "bet.runner_id"),
        check_integer(stake, "bet.stake_minor", 0, STAKE_MINOR_MAX),
        Odds(check_integer(odds, "bet.odds")),
        check_integer(version, "bet.odds_version"),
        check_time(received, "bet.received_at_ms"),
        None if sent is None else check_time(sent, "bet.client_sent_at_ms"),
    )


def outcome_to_list(outcome: Outcome) -> list[Any]:
    return [
        outcome.bet_id,
        outcome.user_id,
        outcome.race_id,
        outcome.runner_id,
        outcome.stake_minor,
        outcome.accepted,
        outcome.odds.hundredths if outcome.odds else None,
        str(outcome.reason) if outcome.reason else None,
        outcome.detail,
        outcome.odds_version,
        outcome.decided_at_ms,
    ]


def outcome_from_list(row: object) -> Outcome:
    items = check_list(row, "outcome", 11, low=11)
    bet_id, user_id, race_id, runner_id, stake, accepted, odds, reason, detail, version, at = items
    outcome = Outcome(
        check_id(bet_id, "outcome.bet_id"),
        check_id(user_id, "outcome.user_id"),
        check_optional_id(race_id, "outcome.race_id"),
        check_optional_id(runner_id, "outcome.runner_id"),
        check_integer(stake, "outcome.stake_minor", 0, STAKE_MINOR_MAX),
        check_flag(accepted, "outcome.accepted"),
        None if odds is None else Odds(check_integer(odds, "outcome.odds")),
        None if reason is None else check_choice(reason, "outcome.reason", RejectReason),
        check_text(detail, "outcome.detail", DETAIL_MAX, empty=True),
        check_integer(version, "outcome.odds_version"),
        check_time(at, "outcome.decided_at_ms"),
    )
    if outcome.accepted != (outcome.reason is None) or (outcome.accepted and not outcome.odds):
        raise InvalidValue("outcome: accepted with odds and no reason, or rejected with one")
    if outcome.accepted and not (outcome.race_id and outcome.runner_id):
        raise InvalidValue("outcome: an accepted bet names its race and runner")
    return outcome


# -- book headers --------------------------------------------------------------------------

_HEADER_KEYS = frozenset(
    {
        "schema", "race", "state", "version", "dirty", "placings", "void_reason", "in_play",
        "started_at_ms", "seed", "length_mm", "pending", "request_ids", "strengths", "active",
        "latest_ms", "superseded", "outcomes",
    }
)  # fmt: skip
# Absent before in-play trading (bands, suspension) and before dead heats and Rule 4.
_HEADER_OPTIONAL_KEYS = frozenset({"bands", "suspended_until_ms", "dead_heats", "withdrawals"})


def check_header(data: object, race: CreateRace | None = None) -> dict[str, Any]:
    """A book snapshot (`Book.snapshot`) with every field checked; `race` becomes a
    `CreateRace`. The schema number is the caller's to check. A caller that has checked this
    very race definition already may pass what it gave, to save checking it again."""
    header = check_object(data, "header", _HEADER_KEYS | _HEADER_OPTIONAL_KEYS)
    for name in _HEADER_KEYS:
        if name not in header:
            raise InvalidValue(f"header.{name}: missing")
    race = race or race_from_dict(header["race"])
    runners = len(race.runners)
    runner_ids = {runner.runner_id for runner in race.runners}
    placings = [
        check_id(placing, "header.placings[]")
        for placing in check_list(header["placings"], "header.placings", runners)
    ]
    if not all(placing in runner_ids for placing in placings):
        raise InvalidValue("header.placings: expected runner ids of the race")
    state = check_choice(header["state"], "header.state", RaceState)
    if state in (RaceState.RESULTED, RaceState.SETTLED) and not placings:
        raise InvalidValue(f"header.placings: a race {state} has a winner")
    strengths = check_list(header["strengths"], "header.strengths", runners, runners)
    active = check_list(header["active"], "header.active", runners, runners)
    pending = check_list(header["pending"], "header.pending", HEADER_LIST_MAX)
    superseded = check_list(header["superseded"], "header.superseded", HEADER_LIST_MAX)
    in_play = check_flag(header["in_play"], "header.in_play")
    return {
        **header,
        "race": race,
        "state": state,
        "version": check_integer(header["version"], "header.version"),
        "dirty": check_flag(header["dirty"], "header.dirty"),
        "placings": placings,
        "void_reason": check_text(header["void_reason"], "header.void_reason", empty=True),
        "in_play": in_play,
        "started_at_ms": check_time(header["started_at_ms"], "header.started_at_ms"),
        "seed": check_integer(header["seed"], "header.seed"),
        # In play, the race model runs on it: a course as a StartRace gives one.
        "length_mm": check_integer(
            header["length_mm"], "header.length_mm", LENGTH_MM_MIN if in_play else 0, LENGTH_MM_MAX
        ),
        "pending": [_held(item) for item in pending],
        "request_ids": [
            check_text(request_id, "header.request_ids[]", ID_MAX)
            for request_id in check_list(header["request_ids"], "header.request_ids", 1_000)
        ],
        "strengths": [check_integer(s, "header.strengths[]", 1, STRENGTH_MAX) for s in strengths],
        "bands": _bands(header.get("bands"), runners),
        "suspended_until_ms": None
        if header.get("suspended_until_ms") is None
        else check_time(header["suspended_until_ms"], "header.suspended_until_ms"),
        "active": [check_flag(a, "header.active[]") for a in active],
        "dead_heats": _dead_heats(header.get("dead_heats", []), set(placings)),
        "withdrawals": _withdrawals(header.get("withdrawals", []), runner_ids),
        "latest_ms": check_time(header["latest_ms"], "header.latest_ms"),
        "superseded": [_superseded(item) for item in superseded],
        "outcomes": [
            outcome_from_list(row)
            for row in check_list(header["outcomes"], "header.outcomes", HEADER_LIST_MAX)
        ],
    }


def _bands(value: object, runners: int) -> list[tuple[int, int] | None] | None:
    """In play, the ladder ticks each price may show (`in_play`); None when there are none."""
    if value is None:
        return None
    bands: list[tuple[int, int] | None] = []
    for item in check_list(value, "header.bands", runners, runners):
        if item is None:
            bands.append(None)
            continue
        low, high = check_list(item, "header.bands[]", 2, 2)
        top = len(LADDER) - 1
        low = check_integer(low, "header.bands[].low", 0, top)
        bands.append((low, check_integer(high, "header.bands[].high", low, top)))
    return bands


def _dead_heats(value: object, placed: set[str]) -> list[tuple[str, ...]]:
    groups = []
    for group in check_list(value, "header.dead_heats", RUNNERS_MAX):
        ids = [
            check_id(r, "header.dead_heats[][]")
            for r in check_list(group, "header.dead_heats[]", RUNNERS_MAX, 2)
        ]
        if not set(ids) <= placed:
            raise InvalidValue("header.dead_heats: expected placed runners")
        groups.append(tuple(ids))
    return groups


def _withdrawals(value: object, runner_ids: set[str]) -> list[Withdrawal]:
    withdrawals = []
    for item in check_list(value, "header.withdrawals", RUNNERS_MAX):
        runner_id, hundredths, at_ms = check_list(item, "header.withdrawals[]", 3, 3)
        runner_id = check_id(runner_id, "header.withdrawals[].runner_id")
        if runner_id not in runner_ids:
            raise InvalidValue("header.withdrawals: expected runner ids of the race")
        odds = (
            None
            if hundredths is None
            else Odds(check_integer(hundredths, "header.withdrawals[].odds"))
        )
        withdrawals.append(
            Withdrawal(runner_id, odds, check_time(at_ms, "header.withdrawals[].at_ms"))
        )
    return withdrawals


def _held(item: object) -> tuple[int, Bet]:
    due_ms, row = check_list(item, "header.pending[]", 2, 2)
    return check_integer(due_ms, "header.pending[].due_ms", 0, 2 * TIME_MS_MAX), bet_from_list(row)


def _superseded(item: object) -> tuple[int, int]:
    version, at_ms = check_list(item, "header.superseded[]", 2, 2)
    return check_integer(version, "header.superseded[].version"), check_time(
        at_ms, "header.superseded[].at_ms"
    )
