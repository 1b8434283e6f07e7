"""Which channel each record reaches, and as what: the forwarders' routing rules.

Each rule decodes its record strictly (`betting.codec`, raising `CodecError` for anything
malformed) and sends the record's canonical form, so only checked fields of checked values
reach a channel, and a channel name is built from ids only.
"""

from __future__ import annotations

from typing import Any

from betting import codec
from betting.channels import odds_channel, user_channel
from betting.domain.money import format_minor
from betting.domain.settlement import SettlementResult

Messages = list[tuple[str, str, dict[str, Any]]]


def odds_route(value: bytes) -> Messages:
    odds = codec.decode_odds(value)
    return [(odds_channel(odds.race_id), "odds", codec.odds_to_dict(odds))]


def outcome_route(value: bytes) -> Messages:
    outcome = codec.decode_outcome(value)
    return [(user_channel(outcome.user_id), "outcome", codec.outcome_to_dict(outcome))]


def settlement_route(value: bytes) -> Messages:
    """The settlement itself, and the notice a bettor reads: won (with the payout), lost, or
    refunded (a void race or a withdrawn runner: the stake back)."""
    settlement = codec.decode_settlement(value)
    channel = user_channel(settlement.user_id)
    messages: Messages = [(channel, "settlement", codec.settlement_to_dict(settlement))]
    race_id, runner_id = settlement.race_id, settlement.runner_id
    if settlement.result is SettlementResult.WON:
        text = f"You won {format_minor(settlement.payout_minor)} on {runner_id} in {race_id}"
        messages.append((channel, "notice", {"kind": "win", "race_id": race_id, "text": text}))
    elif settlement.result is SettlementResult.LOST:
        text = f"Your bet on {runner_id} in {race_id} lost"
        messages.append((channel, "notice", {"kind": "loss", "race_id": race_id, "text": text}))
    elif settlement.result is SettlementResult.REFUNDED:
        text = (
            f"Your stake of {format_minor(settlement.payout_minor)} on {runner_id} in {race_id} "
            "was refunded"
        )
        messages.append((channel, "notice", {"kind": "refund", "race_id": race_id, "text": text}))
    return messages
