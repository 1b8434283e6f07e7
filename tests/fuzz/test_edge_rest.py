"""The local edge's REST side, byte for byte: request lines, paths, query parameters (limit,
direction, start), headers (Content-Length, Content-Type, Accept, Authorization with good and
bad keys and tokens, oversized heads) and bodies (messages, TokenRequests, msgpack with bytes,
ext types and integer keys). Each request must get a 2xx or 4xx answer, never a 5xx, a
silence or a dropped connection."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import (
    DIGIT_LOOKALIKES,
    JSON,
    MSGPACK,
    encode,
    hostile_text,
    hostile_value,
    long_digits,
    mutate_bytes,
    short,
)
from tests.fuzz.protocol_messages import channel_name, message
from tests.fuzz.serve_under_test import EDGE_KEY, Serve
from tests.fuzz.wire import bettor_token, http_exchange, http_request

INPUTS = 1_600
HEAD_MAX = 16 * 1024  # the edge's request head limit
BAD_LENGTHS: list[str | Callable[[random.Random], str]] = [
    "²", "①", "1²", "١٢", long_digits, "-1", "1e3", "0x10", " ", "", "12abc", "99999999999", "1,2",
]  # fmt: skip
QUERY_VALUES = ["%C2%B2", "²", "0", "1", "-1", "1000", "1001", "forwards", "backwards",
                "%00", "%FF", "1e3", "NaN"]  # fmt: skip


class Secrets:
    """Valid credentials to start from: the root key, a bettor's token, a signed request."""

    def __init__(self, serve: Serve) -> None:
        self.token = bettor_token(serve.api, serve.edge_port, "fuzz-rest")
        import urllib.request

        request = urllib.request.Request(
            f"{serve.api}/auth/token", b'{"user_id": "fuzz-rest"}',
            {"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            self.token_request: dict[str, Any] = orjson.loads(response.read())["token_request"]


def authorization(rng: random.Random, secrets: Secrets) -> str | None:
    roll = rng.random()
    if roll < 0.3:
        return "Basic " + base64.b64encode(EDGE_KEY.encode()).decode()
    if roll < 0.5:
        return f"Bearer {secrets.token}"
    if roll < 0.6:
        return None
    return rng.choice(
        [
            "Basic !!!not-base64",
            "Basic " + base64.b64encode(b"\xff\xfe\x00").decode(),
            "Basic " + base64.b64encode(b"local.root:wrong").decode(),
            "Basic " + base64.b64encode(b"nokey").decode(),
            f"Basic {EDGE_KEY}",
            "Bearer " + hostile_text(rng)[:200],
            "Bearer " + secrets.token[:-3] + "abc",
            "Bearer eyJ" + base64.urlsafe_b64encode(b'{"keyName":1}').decode() + ".x",
            "Digest x",
            "Basic",
            "Bearer",
        ]
    )


def query(rng: random.Random) -> str:
    parts = []
    for name in rng.sample(["limit", "direction", "start", "end", "x"], rng.randrange(0, 4)):
        roll = rng.random()
        if roll < 0.6:
            value = rng.choice(QUERY_VALUES)
        elif roll < 0.8:
            value = quote(hostile_text(rng)[:5_000], errors="surrogatepass")
        else:
            value = rng.choice(DIGIT_LOOKALIKES)
        parts.append(f"{name}={value}")
    return "?" + "&".join(parts) if parts else ""


def token_request_body(rng: random.Random, secrets: Secrets) -> Any:
    body = dict(secrets.token_request)
    for _ in range(rng.randrange(0, 3)):
        name = rng.choice(["ttl", "capability", "clientId", "timestamp", "nonce", "mac",
                           "keyName"])  # fmt: skip
        roll = rng.random()
        if roll < 0.2:
            body.pop(name, None)
        elif name == "capability" and roll < 0.6:
            body[name] = rng.choice(['{"*":["*"]}', "{", "[]", '{"a":"b"}', '{"a":[1]}'])
        else:
            body[name] = rng.choice([hostile_text(rng), hostile_value(rng, JSON)])
    return body


def target(rng: random.Random) -> tuple[str, str]:
    """(method, target) with the body kind each route wants."""
    roll = rng.random()
    if roll < 0.45:
        name = channel_name(rng)
        text = name if isinstance(name, str) else str(name)
        encoded = (
            quote(text, safe="", errors="surrogatepass")
            if rng.random() < 0.8
            else text.replace(" ", "+")
        )
        return rng.choice(["GET", "POST", "POST"]), f"/channels/{encoded}/messages{query(rng)}"
    if roll < 0.7:
        key = rng.choice(
            [
                "local.root",
                "local.root",
                "nokey",
                quote(hostile_text(rng)[:100], errors="surrogatepass"),
            ]
        )
        return rng.choice(["POST", "POST", "GET"]), f"/keys/{key}/requestToken"
    if roll < 0.8:
        return rng.choice(["GET", "OPTIONS", "POST"]), "/time" + query(rng)
    path = rng.choice(["/", "//", "/channels", "/channels//messages", "/keys//requestToken",
                       "/%", "/channels/a/messages/b", "*", "http://x/time"])  # fmt: skip
    if rng.random() < 0.5:
        path = "/" + hostile_text(rng)[:3_000].replace(" ", "%20")
    return rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "get", "GE\x00T"]), path


def body_for(rng: random.Random, path: str, secrets: Secrets) -> tuple[bytes, str]:
    wire = MSGPACK if rng.random() < 0.3 else JSON
    content_type = "application/x-msgpack" if wire == MSGPACK else "application/json"
    if "/requestToken" in path:
        value: Any = token_request_body(rng, secrets)
    elif "/messages" in path:
        count = rng.choice([0, 1, 1, 2])
        value = [message(rng, wire) for _ in range(count)] if rng.random() < 0.5 else \
            message(rng, wire)  # fmt: skip
    else:
        value = hostile_value(rng, wire)
    body = encode(value, wire)
    roll = rng.random()
    if roll < 0.08:
        body = mutate_bytes(rng, body)
    elif roll < 0.12:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50)))
    elif roll < 0.14:
        content_type = rng.choice(["text/plain", "application/x-msgpack; charset=x", "", "\x00"])
    return body, content_type


def request(rng: random.Random, secrets: Secrets) -> tuple[bytes, bool]:
    """A request, and whether its head is over the edge's limit (it must then be refused)."""
    method, path = target(rng)
    body, content_type = body_for(rng, path, secrets) if method != "GET" else (b"", "")
    headers: list[tuple[str, str]] = []
    credential = authorization(rng, secrets)
    if credential is not None:
        headers.append(("Authorization", credential))
    if content_type:
        headers.append(("Content-Type", content_type))
    if rng.random() < 0.2:
        headers.append(("Accept", "application/x-msgpack"))
    content_length = None
    roll = rng.random()
    if roll < 0.12:
        bad = rng.choice(BAD_LENGTHS)
        content_length = bad(rng) if callable(bad) else bad
    elif roll < 0.15:
        headers.append(("Transfer-Encoding", "chunked"))
    elif roll < 0.18:
        headers.append(("X-Padding", "p" * rng.choice([8_000, HEAD_MAX + 1_000, 40_000])))
    elif roll < 0.2:
        headers.append(("Content-Length", str(len(body))))  # a second one
    raw = http_request(method, path, headers, body, content_length=content_length)
    head_size = raw.find(b"\r\n\r\n") + 4
    return raw, head_size > HEAD_MAX


def route(raw: bytes) -> str:
    """A 5xx's class: the route, and whether Authorization held non-ASCII bytes (serve logs
    a repeated error once per window, so its log cannot tell the causes apart)."""
    line = raw.split(b"\r\n", 1)[0].split(b" ")
    path = line[1].split(b"?", 1)[0].decode(errors="replace") if len(line) > 1 else ""
    parts = path.strip("/").split("/")
    name = "/".join(part if n % 2 == 0 else "*" for n, part in enumerate(parts))
    authorization = [h for h in raw.split(b"\r\n") if h.lower().startswith(b"authorization:")]
    if any(max(header, default=0) >= 0x80 for header in authorization):
        name += " with a non-ASCII Authorization"
    elif b"?" in line[1] if len(line) > 1 else False:
        name += " with a query"
    return f"{line[0].decode(errors='replace')} /{name}"


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("edge-rest", seed, serve)
    campaign.begin(check_bettor)
    rng = random.Random(seed)
    secrets = Secrets(serve)
    for _ in range(INPUTS):
        raw, head_too_large = request(rng, secrets)
        answer = http_exchange(serve.edge_port, raw)
        reproducer = short(raw, 400)
        campaign.count(400 <= answer.status < 500)
        if answer.status == 0:
            symptom = "timed out" if answer.timed_out else "closed with no answer"
            campaign.crash("edge REST: no answer", symptom, reproducer, len(raw))
        elif answer.status >= 500:
            kind = f"edge REST: {answer.status} on {route(raw)}"
            campaign.crash(kind, short(answer.body, 200), reproducer, len(raw))
        elif head_too_large and answer.status < 400:
            campaign.crash("edge REST: head over 16 KB accepted", f"answered {answer.status}",
                           reproducer, len(raw))  # fmt: skip
        if not campaign.after_input(reproducer, len(raw)):
            break
    campaign.finish()
    return campaign


def test_edge_rest(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0xED6E))
    assert not campaign.crashes, campaign.report()
