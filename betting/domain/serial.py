"""Plain-data forms of domain values (dicts and lists of str and int).

Both book snapshots and the wire codecs at the edges build on these, so one value has one
shape everywhere. Decoding trusts nothing: a wrong type or a missing field is `InvalidValue`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from betting.domain.errors import InvalidValue
from betting.domain.events import CreateRace
from betting.domain.model import Bet, FavourablePolicy, Outcome, RejectReason, Runner
from betting.domain.money import Odds
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams


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


def race_from_dict(data: dict[str, Any]) -> CreateRace:
    try:
        risk_fields = dict(data["risk"])
        risk_fields["favourable_policy"] = FavourablePolicy(risk_fields["favourable_policy"])
        return CreateRace(
            race_id=_text(data["race_id"], "race_id"),
            name=_text(data["name"], "name"),
            runners=tuple(Runner(**runner) for runner in data["runners"]),
            scheduled_start_ms=_integer(data["scheduled_start_ms"], "scheduled_start_ms"),
            at_ms=_integer(data["at_ms"], "at_ms"),
            pricing=PricingParams(**data["pricing"]),
            risk=RiskParams(**risk_fields),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidValue(f"race definition: {error}") from error


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


def bet_from_list(row: list[Any]) -> Bet:
    try:
        (bet_id, user_id, race_id, runner_id, stake, odds, version, received, sent) = row
        return Bet(bet_id, user_id, race_id, runner_id, stake, Odds(odds), version, received, sent)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"bet: {error}") from error


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


def outcome_from_list(row: list[Any]) -> Outcome:
    try:
        (
            bet_id,
            user_id,
            race_id,
            runner_id,
            stake,
            accepted,
            odds,
            reason,
            detail,
            version,
            at,
        ) = row
        return Outcome(
            bet_id,
            user_id,
            race_id,
            runner_id,
            stake,
            accepted,
            Odds(odds) if odds is not None else None,
            RejectReason(reason) if reason is not None else None,
            detail,
            version,
            at,
        )
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"outcome: {error}") from error


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValue(f"{name} must be a non-empty string")
    return value


def _integer(value: object, name: str) -> int:
    if type(value) is not int:
        raise InvalidValue(f"{name} must be an integer")
    return value
