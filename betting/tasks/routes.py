"""Which channel each record reaches, and as what: the forwarders' routing rules."""

from __future__ import annotations

from typing import Any

from betting.channels import odds_channel, user_channel
from betting.domain.money import format_minor

Messages = list[tuple[str, str, dict[str, Any]]]


def odds_route(odds: dict[str, Any]) -> Messages:
    return [(odds_channel(str(odds["race_id"])), "odds", odds)]


def outcome_route(outcome: dict[str, Any]) -> Messages:
    user_id = outcome.get("user_id")
    if not user_id:
        return []  # an INVALID outcome for a record whose user could not be read
    return [(user_channel(str(user_id)), "outcome", outcome)]


def settlement_route(settlement: dict[str, Any]) -> Messages:
    """The settlement itself, and the notice a bettor reads: won (with the payout) or lost."""
    channel = user_channel(str(settlement["user_id"]))
    result, payout = str(settlement["result"]), int(settlement["payout_minor"])
    messages: Messages = [(channel, "settlement", settlement)]
    race_id = str(settlement["race_id"])
    if result == "won":
        text = f"You won {format_minor(payout)} on {settlement['runner_id']} in {race_id}"
        messages.append((channel, "notice", {"kind": "win", "race_id": race_id, "text": text}))
    elif result == "lost":
        text = f"Your bet on {settlement['runner_id']} in {race_id} lost"
        messages.append((channel, "notice", {"kind": "loss", "race_id": race_id, "text": text}))
    return messages
