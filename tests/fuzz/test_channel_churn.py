"""Channel churn: names that each cost the edge memory if it keeps them. DETACH of any name,
ATTACH to odds channels of races that do not exist, and a bettor's REST publishes to bet
channels of shards that do not exist, each with names or bodies of up to about 200 KB. The
edge must refuse or release them: RSS may not grow by the campaign's bound (50 MB) while
about 100 MB goes by."""

from __future__ import annotations

import random
from urllib.parse import quote

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import JSON, encode
from tests.fuzz.serve_under_test import EDGE_KEY, Serve
from tests.fuzz.wire import Realtime, bettor_token, http_exchange, http_request, try_open

INPUTS = 480
NAME_BYTES = 200_000
BODY_BYTES = 60_000


def name(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("abcdefgh") for _ in range(32)) + "x" * NAME_BYTES


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("channel-churn", seed, serve)
    campaign.begin(check_bettor)
    rng = random.Random(seed)
    token = bettor_token(serve.api, serve.edge_port, "fuzz-churn")
    realtime = Realtime(serve.edge_port, JSON, key=EDGE_KEY, client_id="fuzz-churn")
    for number in range(INPUTS):
        kind = number % 3
        if kind == 2:
            shard = f"inbound:bets:{rng.randrange(4, 10**9)}"
            body = encode({"name": "bet", "data": "y" * BODY_BYTES}, JSON)
            headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
            path = f"/channels/{quote(shard, safe='')}/messages"
            answer = http_exchange(serve.edge_port, http_request("POST", path, headers, body))
            campaign.count(400 <= answer.status < 500)
            if answer.status == 0 or answer.status >= 500:
                campaign.crash(f"churn: REST publish answered {answer.status}", "", shard)
            reproducer = f"REST publish of {BODY_BYTES} bytes to {shard}"
        else:
            if not realtime.is_open and try_open(realtime) is None:
                campaign.crash("churn: cannot connect", "", "(connect)")
                break
            action = 12 if kind == 0 else 10
            channel = name(rng, "fuzz:" if kind == 0 else "outbound:odds:")
            reply = realtime.exchange(encode({"action": action, "channel": channel}, JSON).decode())
            campaign.count(reply.refused)
            problem = reply.problem()
            reproducer = f"{'DETACH' if kind == 0 else 'ATTACH'} of a {len(channel)}-char name"
            if problem is not None:
                campaign.crash(problem[0], problem[1], reproducer)
            if kind == 1 and realtime.is_open:  # detach again, as a client leaving would
                realtime.exchange(encode({"action": 12, "channel": channel}, JSON).decode())
        if not campaign.after_input(reproducer):
            break
    realtime.close()
    campaign.finish()
    return campaign


def test_channel_churn(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0xC4))
    assert not campaign.crashes, campaign.report()
