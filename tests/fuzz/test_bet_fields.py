"""Bets published over the edge with every field of the envelope mutated, alone or beside
valid bets in one ProtocolMessage, as JSON and msgpack. Each publish must be NACKed with a
4xx reason, or ACKed and then every bet in it answered on the bettor's own channel, for that
bettor; serve must stay up."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from betting.channels import bets_channel, bets_shard, odds_channel, user_channel
from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import (
    DIGIT_LOOKALIKES,
    JSON,
    MSGPACK,
    encode,
    hostile_scalar,
    hostile_text,
    long_digits,
    short,
)
from tests.fuzz.serve_under_test import BET_SHARDS, Serve, open_race
from tests.fuzz.wire import (
    ACK,
    ATTACHED,
    ERROR,
    MESSAGE,
    NACK,
    Answer,
    Realtime,
    bettor_token,
    message_data,
)

INPUTS = 1_600
OUTCOME_TIMEOUT_S = 3.0
RACE = "fuzz-race"
FIELDS = ["bet_id", "race_id", "runner_id", "stake_minor", "odds", "odds_version",
          "client_sent_at_ms"]  # fmt: skip
FORGED = {"user_id": "victim", "received_at_ms": 1, "v": 99, "status": "accepted", "payout": 10**9}
ODDS = ["1.01", "1000", "1000.01", "1.001", "0", "-2.0", "1e2", "2", "2.5", "3.33", ".5", "5.",
        "1.00", "NaN", "Infinity", "0x10", "4,5", "4.50 "]  # fmt: skip
STAKES = [0, 99, 100, 10_000_000, 10_000_001, -1, 2**63, 2**64 - 1, "1000", 1000.0, True]


@dataclass
class Market:
    """What the bettor has seen of the race: the newest prices and odds version."""

    prices: dict[str, str] = field(default_factory=dict)
    version: int = 0

    def hear(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            if frame.get("action") != MESSAGE or frame.get("channel") != odds_channel(RACE):
                continue
            for message in frame.get("messages") or []:
                data = message_data(message)
                if isinstance(data, dict) and isinstance(data.get("prices"), list | dict):
                    self.prices, self.version = dict(data["prices"]), int(data["version"])


def good_bet(rng: random.Random, market: Market) -> dict[str, Any]:
    runner = rng.choice(sorted(market.prices) or ["car-0"])
    return {
        "bet_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "race_id": RACE,
        "runner_id": runner,
        "stake_minor": rng.choice([100, 1_000, 50_000]),
        "odds": market.prices.get(runner, "2.00"),
        "odds_version": market.version,
        "client_sent_at_ms": 1,
    }


def hostile_field(rng: random.Random, name: str, wire: str) -> Any:
    roll = rng.random()
    if name == "odds" and roll < 0.6:
        return rng.choice([*ODDS, *DIGIT_LOOKALIKES, long_digits(rng), "1." + long_digits(rng)])
    if name == "stake_minor" and roll < 0.5:
        return rng.choice([*STAKES, long_digits(rng), rng.choice(DIGIT_LOOKALIKES)])
    if name in ("odds_version", "client_sent_at_ms") and roll < 0.5:
        return rng.choice([-1, 2**63, 2**64 - 1, "1", "²", 1.5, None, long_digits(rng)])
    if name in ("bet_id", "race_id", "runner_id") and roll < 0.5:
        return rng.choice(["no-such-race", "car-99", "", "x" * 129, "alice\n", "a:b", "*"])
    if roll < 0.8:
        return hostile_text(rng)
    return hostile_scalar(rng, wire)


def mutated_bet(rng: random.Random, market: Market, wire: str) -> dict[str, Any]:
    bet = good_bet(rng, market)
    for _ in range(rng.choice([1, 1, 2, 3])):
        name = rng.choice([*FIELDS, "extra"])
        if name == "extra":
            forged = rng.choice(sorted(FORGED))
            bet[forged] = FORGED[forged]
        elif rng.random() < 0.15:
            bet.pop(name, None)
        else:
            bet[name] = hostile_field(rng, name, wire)
    return bet


def text_frame(payload: bytes) -> str | bytes:
    """JSON goes as a text frame, unless a hostile field made it invalid UTF-8 (a lone
    surrogate): then as the bytes themselves, which the edge must refuse as they are."""
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return payload


def as_message(rng: random.Random, bet: dict[str, Any], wire: str) -> dict[str, Any]:
    """The bet as an SDK would send it: an object, a JSON string, or base64 of JSON."""
    roll = rng.random()
    if roll < 0.8:
        return {"name": "bet", "data": bet}
    text = encode(bet, JSON)
    if roll < 0.9:
        return {"name": "bet", "data": text.decode("utf-8", "surrogatepass"), "encoding": "json"}
    return {"name": "bet", "data": base64.b64encode(text).decode(), "encoding": "json/base64"}


class Bettor:
    """The fuzzing bettor's two sockets (JSON, msgpack), attached to its channel and the odds."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.user_id = "fuzz-bettor"  # fixed: its shard, and so every input, is the same each run
        self.sockets: dict[str, Realtime] = {}
        self.market = Market()
        self.serial = 0

    def socket(self, wire: str) -> Realtime:
        realtime = self.sockets.get(wire)
        if realtime is None or not realtime.is_open:
            token = bettor_token(self.serve.api, self.serve.edge_port, self.user_id)
            realtime = Realtime(self.serve.edge_port, wire, token=token)
            realtime.open()
            for channel in (user_channel(self.user_id), odds_channel(RACE)):
                params = {"rewind": "1"} if channel == odds_channel(RACE) else {}
                message = {"action": 10, "channel": channel, "params": params}
                answer = realtime.exchange(encode(message, wire), _attached(channel))
                self.market.hear(answer.frames)
            self.sockets[wire] = realtime
        return realtime

    def close(self) -> None:
        for realtime in self.sockets.values():
            realtime.close()
        self.sockets.clear()


def _attached(channel: str) -> Any:
    return lambda answer: any(f.get("channel") == channel for f in answer.of(ATTACHED))


def outcomes(answer: Answer, user_channel_name: str) -> list[dict[str, Any]]:
    found = []
    for frame in answer.of(MESSAGE):
        if frame.get("channel") == user_channel_name:
            for message in frame.get("messages") or []:
                data = message_data(message)
                if isinstance(data, dict):
                    found.append(data)
    return found


def answered(serial: int, bet_ids: list[str], channel: str) -> Any:
    """Done when the publish is NACKed, or ACKed and every bet id has an outcome."""

    def done(answer: Answer) -> bool:
        if any(f.get("msgSerial") == serial for f in answer.of(NACK)):
            return True
        if not any(f.get("msgSerial") == serial for f in answer.of(ACK)):
            return False
        heard = {o.get("bet_id") for o in outcomes(answer, channel)}
        return all(bet_id in heard for bet_id in bet_ids)

    return done


def judge(campaign: Campaign, bettor: Bettor, answer: Answer, serial: int,
          bet_ids: list[str], reproducer: str, size: int) -> bool:  # fmt: skip
    """Classify one publish's answer; True when it was refused."""
    channel = user_channel(bettor.user_id)
    nacked = [f for f in answer.of(NACK) if f.get("msgSerial") == serial]
    acked = any(f.get("msgSerial") == serial for f in answer.of(ACK))
    for frame in nacked:
        error = frame.get("error") or {}
        if not isinstance(error.get("code"), int) or error["code"] >= 50000:
            campaign.crash(f"bet: NACK {error.get('code')}", str(error.get("message")),
                           reproducer, size)  # fmt: skip
    for outcome in outcomes(answer, channel):
        if outcome.get("user_id") != bettor.user_id:
            campaign.crash("bet: outcome for another user", str(outcome)[:200], reproducer, size)
    if acked and not nacked:
        heard = {o.get("bet_id") for o in outcomes(answer, channel)}
        if not all(bet_id in heard for bet_id in bet_ids):
            campaign.crash("bet: ACKed but never answered", f"no outcome in "
                           f"{OUTCOME_TIMEOUT_S}s", reproducer, size)  # fmt: skip
    elif not nacked:
        if answer.closed and not answer.close_frame and not answer.of(ERROR):
            campaign.crash("bet: socket dropped", "no ACK, NACK or close", reproducer, size)
        elif answer.timed_out:
            campaign.crash("bet: publish never ACKed or NACKed", "timeout", reproducer, size)
    return bool(nacked)


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("bet-fields", seed, serve)
    campaign.begin(check_bettor)
    rng = random.Random(seed)
    open_race(serve, RACE)
    bettor, pid = Bettor(serve), serve.pid
    for _ in range(INPUTS):
        wire = JSON if rng.random() < 0.7 else MSGPACK
        bets = [mutated_bet(rng, bettor.market, wire)]
        if rng.random() < 0.2:  # a bad bet beside good ones in one ProtocolMessage
            bets += [good_bet(rng, bettor.market) for _ in range(rng.randrange(1, 3))]
            rng.shuffle(bets)
        bettor.serial += 1
        serial = bettor.serial
        shard = bets_channel(bets_shard(bettor.user_id, BET_SHARDS))
        if rng.random() < 0.05:  # another shard, or one that does not exist
            shard = rng.choice([bets_channel(n) for n in (0, 3, 4, 9, -1)] + ["inbound:bets:01"])
        publish = {"action": 15, "channel": shard, "msgSerial": serial,
                   "messages": [as_message(rng, bet, wire) for bet in bets]}  # fmt: skip
        bet_ids = [b["bet_id"] for b in bets if isinstance(b.get("bet_id"), str)]
        payload = encode(publish, wire)
        reproducer = f"on {shard}: {short(bets if len(bets) > 1 else bets[0])}"
        try:
            realtime = bettor.socket(wire)
            channel = user_channel(bettor.user_id)
            answer = realtime.exchange(
                text_frame(payload) if wire == JSON else payload,
                answered(serial, bet_ids, channel),
                OUTCOME_TIMEOUT_S,
            )
        except Exception as error:  # cannot even connect: serve is down or refusing
            answer = Answer(closed=True)
            campaign.crash("bet: cannot connect", f"{type(error).__name__}: {error}"[:200],
                           reproducer, len(payload))  # fmt: skip
        bettor.market.hear(answer.frames)
        campaign.count(judge(campaign, bettor, answer, serial, bet_ids, reproducer, len(payload)))
        if not campaign.after_input(reproducer, len(payload)):
            break
        if serve.pid != pid:  # restarted after it died: a new race, new sockets
            bettor.close()
            open_race(serve, RACE)
            bettor, pid = Bettor(serve), serve.pid
    bettor.close()
    campaign.finish()
    return campaign


def test_bet_fields(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0xBE7))
    assert not campaign.crashes, campaign.report()
