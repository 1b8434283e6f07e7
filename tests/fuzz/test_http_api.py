"""The admin and public HTTP APIs, with bodies generated from the admin API's own OpenAPI
document (`GET /admin/openapi.json`) and from a schema of the public endpoints written the
same way: valid instances, then mutated ones, with hostile path parameters, Authorization and
Content-Length headers. Never a 5xx or a silence; a body the schema refuses is never
accepted; the hostile-input findings that live on these routes are checked as they are met."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote, unquote

from betting.domain.ids import is_valid_id
from tests.fuzz.bettor import check_bettor
from tests.fuzz.campaign import Campaign, campaign_seed
from tests.fuzz.hostile import DIGIT_LOOKALIKES, JSON, encode, hostile_text, long_digits, short
from tests.fuzz.schema import Schema, admits, mutate, valid
from tests.fuzz.serve_under_test import ADMIN_TOKEN, Serve, admin_call, open_race
from tests.fuzz.wire import http_exchange, http_request

INPUTS = 1_600
FRESH_RACE_EVERY = 150
HUGE_BODY_EVERY = 400
ACTION_FIELDS = {"result": ("placings",), "void": ("reason",), "start": ("seed",)}
RUNNERS = [f"car-{n}" for n in range(7)]
PUBLIC_OPENAPI: Schema = {
    "paths": {
        "/auth/token": {"post": {"requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": ["user_id"],
            "properties": {"user_id": {"type": "string", "maxLength": 64}}}}}}}},
        "/api/users/{user_id}/notifications": {"post": {"requestBody": {"content": {
            "application/json": {"schema": {"type": "object", "required": ["enabled"],
                                             "properties": {"enabled": {"type": "boolean"}}}}}}},
                                               "get": {}},
        "/api/users/{user_id}/bets": {"get": {}},
        "/api/users/{user_id}/history": {"get": {}},
        "/api/races": {"get": {}},
        "/api/config": {"get": {}},
        "/healthz": {"get": {}},
        "/readyz": {"get": {}},
        "/metrics": {"get": {}},
    }
}  # fmt: skip


def operations(document: Schema) -> list[tuple[str, str, Schema | None]]:  # (method, path, body)
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            found.append((method.upper(), path, schema))
    return found


def path_value(rng: random.Random, name: str, ids: list[str], races: list[str]) -> str:
    roll = rng.random()
    if name == "action" and roll < 0.8:
        return rng.choice(["open", "suspend", "resume", "start", "close", "result", "void"])
    if name == "race_id" and roll < 0.6:
        return rng.choice(races[-4:])  # the newest open and closed races
    if roll < 0.6:
        return rng.choice(ids)
    if roll < 0.8:
        return quote(hostile_text(rng)[:3_000], safe="", errors="surrogatepass")
    return rng.choice(["alice%0A", "x%40example.com", "%00", "..", "a%2Fb", "%C2%B2", "~"])


def authorization(rng: random.Random, path: str) -> str | None:
    roll = rng.random()
    if path.startswith("/admin") and roll < 0.75:
        return f"Bearer {ADMIN_TOKEN}"
    if roll < 0.85:
        return None
    return rng.choice([f"bearer {ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN}x", "Bearer ", "Basic x",
                       "Bearer " + hostile_text(rng)[:100], f"Bearer  {ADMIN_TOKEN}"])  # fmt: skip


class Target:
    """The races the campaign has made, with their runners, for ids and the result oracle."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.races: list[str] = []
        self.fresh_race()

    def fresh_race(self) -> None:
        """One open race, and one closed (only a closed race takes a result)."""
        for closed in (False, True):
            race_id = f"api-race-{len(self.races)}"
            open_race(self.serve, race_id)
            if closed:
                status, answer = admin_call(self.serve, "POST", f"/admin/races/{race_id}/close")
                assert status == 202, answer
            self.races.append(race_id)

    @property
    def ids(self) -> list[str]:
        return [*self.races[-5:], *RUNNERS, "no-such-race", "alice", "x@example.com"]


Operation = tuple[str, str, Schema | None]


def one_request(
    rng: random.Random, target: Target, document: Schema, ops: list[Operation]
) -> tuple[bytes, dict[str, Any]]:
    method, template, schema = rng.choice(ops)
    path = template
    params: dict[str, str] = {}
    while "{" in path:
        name = path[path.index("{") + 1 : path.index("}")]
        params[name] = path_value(rng, name, target.ids, target.races)
        path = path.replace("{" + name + "}", params[name], 1)
    body_value: Any = None
    body = b""
    if schema is not None:
        body_value = valid(rng, schema, document, target.ids)
        for _ in range(rng.choice([0, 1, 1, 2])):
            body_value = mutate(rng, body_value, schema, document)
        body = encode(body_value, JSON)
        if rng.random() < 0.05:
            body = rng.choice([b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b"{}" * 40_000])
            body_value = None
    headers = [("Content-Type", "application/json")]
    credential = authorization(rng, path)
    if credential is not None:
        headers.append(("Authorization", credential))
    content_length = None
    if rng.random() < 0.06:
        content_length = rng.choice([*DIGIT_LOOKALIKES, long_digits(rng), "-1", "1e3", "x"])
    raw = http_request(method, path, headers, body, content_length=content_length)
    facts = {"method": method, "template": template, "schema": schema, "body": body_value,
             "params": params, "credential": credential, "raw_body": body}  # fmt: skip
    return raw, facts


def huge_declared_body(rng: random.Random, ops: list[Operation]) -> tuple[bytes, dict[str, Any]]:
    """32 MB declared and 5 KB sent, to /auth/token or a route with a body: the answer (a
    413) must come without the rest, which never arrives."""
    method, template, schema = rng.choice([op for op in ops if op[2] is not None])
    if rng.random() < 0.5:
        method, template, schema = "POST", "/auth/token", None
    path = template.replace("{race_id}", "api-race-0").replace("{action}", "void")
    path = path.replace("{user_id}", "alice")
    body = b'{"user_id": "' + b"x" * 5_000
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {ADMIN_TOKEN}")]
    raw = http_request(method, path, headers, body, content_length=str(32 << 20))
    facts = {"method": method, "template": template, "schema": schema, "body": None,
             "params": {}, "credential": None, "raw_body": body}  # fmt: skip
    return raw, facts


def violation(
    facts: dict[str, Any], status: int, document: Schema, known_races: list[str]
) -> str | None:
    """A hostile-input finding on these routes, or a body accepted against the schema."""
    template, body = facts["template"], facts["body"]
    schema = facts["schema"]
    if status == 202 and schema is not None and isinstance(body, dict):
        action = facts["params"].get("action")
        if action is not None:  # an action reads only its own fields and the request id
            used = {"request_id", *ACTION_FIELDS.get(action, ())}
            body = {name: value for name, value in body.items() if name in used}
        if not admits(body, schema, document):
            return "admin: a body the OpenAPI schema refuses was accepted"
    body = facts["body"]
    params = facts["params"]
    result = params.get("action") == "result" and params.get("race_id") in known_races
    if status == 202 and result and isinstance(body, dict):  # runners RUNNERS, known here
        placings = body.get("placings")
        if isinstance(placings, list) and (
            len(set(map(str, placings))) != len(placings) or any(p not in RUNNERS for p in placings)
        ):
            return "admin: result with an unknown or repeated runner accepted"
    token = template == "/auth/token" and status == 200 and isinstance(body, dict)
    if token and not is_valid_id(body.get("user_id")):
        return "auth: a token for a user id outside the one id rule"
    user_id = unquote(params.get("user_id", ""))
    refused = template.endswith("/notifications") and status == 422 and is_valid_id(user_id)
    if refused and isinstance(body, dict) and isinstance(body.get("enabled"), bool):
        return "public: notifications refuse an id that /auth/token accepts"
    without_credential = facts["credential"] is None
    if template.startswith("/api/users/") and status == 200 and without_credential:
        return "public: a user's bets or notifications served without a credential"
    return None


def run(serve: Serve, seed: int) -> Campaign:
    campaign = Campaign("http-api", seed, serve)
    campaign.begin(check_bettor)
    rng = random.Random(seed)
    status, document = admin_call(serve, "GET", "/admin/openapi.json")
    assert status == 200 and document["paths"], document
    ops = operations(document) + operations(PUBLIC_OPENAPI)
    target = Target(serve)
    pid = serve.pid
    for n in range(INPUTS):
        if n and n % FRESH_RACE_EVERY == 0:
            target.fresh_race()
        raw, facts = one_request(rng, target, document, ops)
        if n % HUGE_BODY_EVERY == HUGE_BODY_EVERY - 1:
            raw, facts = huge_declared_body(rng, ops)
        answer = http_exchange(serve.http_port, raw)
        reproducer = short(raw, 400)
        campaign.count(400 <= answer.status < 500)
        if answer.status == 0:
            symptom = "timed out" if answer.timed_out else "closed with no answer"
            campaign.crash(f"http: no answer on {facts['template']}", symptom, reproducer,
                           len(raw))  # fmt: skip
        elif answer.status >= 500:
            campaign.crash(f"http: {answer.status} on {facts['method']} {facts['template']}",
                           short(answer.body, 200), reproducer, len(raw))  # fmt: skip
        else:
            found = violation(facts, answer.status, document, target.races)
            if found is not None:
                campaign.crash(found, f"answered {answer.status}: {short(answer.body, 120)}",
                               reproducer, len(raw))  # fmt: skip
        if not campaign.after_input(reproducer, len(raw)):
            break
        if serve.pid != pid:
            target, pid = Target(serve), serve.pid
    campaign.finish()
    return campaign


def test_http_api(serve: Serve) -> None:
    campaign = run(serve, campaign_seed(0x4774))
    assert not campaign.crashes, campaign.report()


def test_the_public_schema_names_real_routes() -> None:
    """The hand-written public schema must not drift from the routes (a 404 would hide all)."""
    assert json.dumps(PUBLIC_OPENAPI)  # plain data
    from betting.api.public import public_routes

    served = {route.path for route in public_routes(None)}  # type: ignore[arg-type]
    assert served <= set(PUBLIC_OPENAPI["paths"])
