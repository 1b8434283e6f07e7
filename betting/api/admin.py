"""The operator's API under /admin: create and run races, read books and bets.

Commands are written to the `races` topic and applied by the engine, so they replicate and
replay like bets; each carries a request id (the client's, or a new one), which makes a retry
harmless. A command is checked against the read model first, so an unknown race, an illegal
transition or a result that names runners the race does not have is answered 404, 409 or 422
at once; the engine remains the judge, and what it did with each command (applied, or refused
and why) is at `GET /admin/commands/{request_id}`, which every 202 answer names.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from betting import codec
from betting.api.errors import HttpError, error_response, json_body
from betting.api.openapi import ADMIN_OPENAPI
from betting.api.race_reports import race_bets, with_house_figures
from betting.api.services import Services
from betting.domain import serial
from betting.domain.book import command_allowed
from betting.domain.errors import DomainError, InvalidValue
from betting.domain.events import (
    CloseRace,
    CreateRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    StartRace,
    SuspendRace,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.ids import ID_RULE, is_valid_id
from betting.domain.model import RaceState, Runner
from betting.log.port import Outgoing

# The old id pattern, still imported by the public API; the admin API uses `is_valid_id`.
RUNNERS_MAX = 30
SIMPLE_ACTIONS: dict[str, type[RaceCommand]] = {
    "open": OpenRace,
    "suspend": SuspendRace,
    "resume": ResumeRace,
    "close": CloseRace,
}
Handler = Callable[[Request], Awaitable[Response]]


def admin_routes(services: Services) -> list[Route]:
    def guarded(handler: Callable[[Request, Services], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                check_token(request, services.settings.admin.token)
                return await handler(request, services)
            except HttpError as error:
                return error_response(error.status, error.message)

        return endpoint

    return [
        Route("/admin/openapi.json", openapi, methods=["GET"]),
        Route("/admin/races", guarded(create_race), methods=["POST"]),
        Route("/admin/races", guarded(list_races), methods=["GET"]),
        Route("/admin/races/{race_id}", guarded(get_race), methods=["GET"]),
        Route("/admin/races/{race_id}/bets", guarded(race_bets), methods=["GET"]),
        Route("/admin/races/{race_id}/{action}", guarded(race_action), methods=["POST"]),
        Route("/admin/users/{user_id}/bets", guarded(user_bets), methods=["GET"]),
        Route("/admin/users/{user_id}/bets/{bet_id}", guarded(get_bet), methods=["GET"]),
        Route("/admin/stats", guarded(stats), methods=["GET"]),
        Route("/admin/commands/{request_id}", guarded(command_result), methods=["GET"]),
    ]


def check_token(request: Request, token: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HttpError(401, "an admin bearer token is required")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HttpError(403, "the admin token is not valid")


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(ADMIN_OPENAPI)


# -- commands ----------------------------------------------------------------------------------


async def create_race(request: Request, services: Services) -> Response:
    body = await json_body(request, services.settings.admin.body_max_bytes)
    race_id = identifier(body.get("race_id") or f"race-{uuid.uuid4().hex[:8]}", "race_id")
    views = ready_views(services)
    repeated = answered_before(services, body, race_id, "create")
    if repeated is not None:
        return repeated
    if race_id in views.races:
        raise HttpError(409, f"race {race_id!r} exists")
    settings = services.settings
    try:
        race = CreateRace(
            race_id=race_id,
            name=text(body.get("name"), "name", limit=200),
            runners=runners(body.get("runners")),
            scheduled_start_ms=integer(body.get("scheduled_start_ms"), "scheduled_start_ms"),
            at_ms=now_ms(),
            pricing=settings.pricing.params(optional_margin(body.get("margin_bp"))),
            risk=settings.risk.params(),
        )
    except DomainError as error:
        raise HttpError(422, str(error)) from None
    return await send_command(services, race, "create", body)


async def race_action(request: Request, services: Services) -> Response:
    race_id, action = request.path_params["race_id"], request.path_params["action"]
    body = await json_body(request, services.settings.admin.body_max_bytes)
    view = ready_views(services).races.get(race_id)
    if view is None:
        raise HttpError(404, f"no race {race_id!r}")
    command = build_command(race_id, action, body, services.settings.engine.race_length_mm)
    repeated = answered_before(services, body, race_id, action)
    if repeated is not None:
        return repeated
    state = RaceState(view.state)
    if not command_allowed(state, view.header.in_play, type(command)):
        raise HttpError(409, f"race {race_id}: cannot {action} when {state}")
    if isinstance(command, ResultRace):
        check_placings(command.placings, view.header)
        check_dead_heats(command)
    elif isinstance(command, WithdrawRunner):
        check_withdrawal(command.runner_id, view.header)
    return await send_command(services, command, action, body)


def build_command(
    race_id: str, action: str, body: dict[str, Any], length_mm: int = 1_000_000
) -> RaceCommand:
    at_ms = now_ms()
    if action in SIMPLE_ACTIONS:
        return SIMPLE_ACTIONS[action](race_id, at_ms)  # type: ignore[call-arg, arg-type]
    if action == "start":
        seed = body.get("seed", uuid.uuid4().int & (2**63 - 1))
        return StartRace(race_id, integer(seed, "seed"), at_ms, length_mm)
    if action == "result":
        placings = body.get("placings")
        if not isinstance(placings, list) or not placings:
            raise HttpError(422, "placings: a list of runner ids, winner first")
        placed = tuple(identifier(p, "placings[]") for p in placings)
        return ResultRace(race_id, placed, at_ms, dead_heats(body.get("dead_heats")))
    if action == "void":
        return VoidRace(race_id, text(body.get("reason"), "reason", 200), at_ms)
    if action == "withdraw":
        return WithdrawRunner(race_id, identifier(body.get("runner_id"), "runner_id"), at_ms)
    raise HttpError(
        404,
        f"no action {action!r}: open, suspend, resume, start, close, result, void, withdraw",
    )


def dead_heats(value: object) -> tuple[tuple[str, ...], ...]:
    """A result's ties: absent, or a list of groups of two or more runner ids."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > RUNNERS_MAX:
        raise HttpError(422, f"dead_heats: a list of at most {RUNNERS_MAX} groups of runner ids")
    groups = []
    for n, group in enumerate(value):
        if not isinstance(group, list) or not 2 <= len(group) <= RUNNERS_MAX:
            raise HttpError(422, f"dead_heats[{n}]: a list of two or more runner ids")
        groups.append(tuple(identifier(r, f"dead_heats[{n}][]") for r in group))
    return tuple(groups)


def check_dead_heats(command: ResultRace) -> None:
    """Each tie is of placed runners, next to each other in the placings, each in one tie."""
    placings, seen = command.placings, set[str]()
    for n, group in enumerate(command.dead_heats):
        if not set(group) <= set(placings):
            raise HttpError(422, f"dead_heats[{n}]: every runner in a dead heat is placed")
        if seen & set(group) or len(set(group)) != len(group):
            raise HttpError(422, f"dead_heats[{n}]: a runner is in a dead heat once")
        start = min(placings.index(runner_id) for runner_id in group)
        if set(placings[start : start + len(group)]) != set(group):
            raise HttpError(422, f"dead_heats[{n}]: tied runners are placed next to each other")
        seen |= set(group)


def check_withdrawal(runner_id: str, header: codec.BookHeader) -> None:
    running = header.running()
    if runner_id not in {runner.runner_id for runner in header.race.runners}:
        raise HttpError(422, f"runner_id: the race has no runner {runner_id!r}")
    if runner_id not in running:
        raise HttpError(409, f"runner {runner_id!r} is withdrawn already")
    if len(running) == 1:
        raise HttpError(409, "the last runner cannot be withdrawn")


def check_placings(placings: tuple[str, ...], header: codec.BookHeader) -> None:
    """A result the engine would refuse is refused here, naming the runner: each placed runner
    is one of the race's, still running, and placed once."""
    runners = [runner.runner_id for runner in header.race.runners]
    running = set(header.running())
    seen: set[str] = set()
    for n, runner_id in enumerate(placings):
        if runner_id in seen:
            raise HttpError(422, f"placings[{n}]: runner {runner_id!r} is placed twice")
        if runner_id not in runners:
            raise HttpError(422, f"placings[{n}]: the race has no runner {runner_id!r}")
        if runner_id not in running:
            raise HttpError(422, f"placings[{n}]: runner {runner_id!r} is withdrawn")
        seen.add(runner_id)


def answered_before(
    services: Services, body: dict[str, Any], race_id: str, name: str
) -> Response | None:
    """A retry of a command applied (or still pending) under its request id gets the first
    answer again, instead of a 409 from the state the first one brought about."""
    request_id = request_id_of(body)
    if request_id is None:
        return None
    known = ready_views(services).commands.get(request_id)
    if known is None or known["status"] == "refused":
        return None  # a refused command may be sent again: the race may take it now
    if (known["race_id"], known["command"]) != (race_id, name):
        raise HttpError(409, f"request_id {request_id!r} was used for another command")
    return accepted(race_id, request_id, str(known["status"]))


def request_id_of(body: dict[str, Any]) -> str | None:
    """The client's request id, or None when it sent none: a value that is there but not an
    id (a list, "", a number) is refused, never silently replaced by a new one."""
    value = body.get("request_id")
    return None if value is None else identifier(value, "request_id")


def accepted(race_id: str, request_id: str, status: str = "pending") -> Response:
    where = f"/admin/commands/{request_id}"
    answer = {"race_id": race_id, "request_id": request_id, "status": status,
              "result": where}  # fmt: skip
    return JSONResponse(answer, 202, headers={"Location": where})


async def send_command(
    services: Services, command: CreateRace | RaceCommand, name: str, body: dict[str, Any]
) -> Response:
    """Log the command; the answer names its request id and where its result will be."""
    if services.producer is None:
        raise HttpError(503, "the event log is not available yet")
    request_id = request_id_of(body) or uuid.uuid4().hex
    value = codec.encode_command(command, request_id)
    topic = services.settings.topics.races
    views = ready_views(services)
    # Pending before it is logged: the engine's answer may be read before send returns.
    before = views.note_command(request_id, command.race_id, name, command.at_ms)
    try:
        await services.producer.send([Outgoing(topic, command.race_id.encode(), value)])
    except BaseException:
        views.forget_command(request_id, before)
        raise
    return accepted(command.race_id, request_id)


# -- reads -------------------------------------------------------------------------------------


async def list_races(request: Request, services: Services) -> Response:
    views = ready_views(services)
    return JSONResponse({"races": [view.book() for view in views.races.values()]})


async def get_race(request: Request, services: Services) -> Response:
    views = ready_views(services)
    view = views.races.get(request.path_params["race_id"])
    if view is None:
        raise HttpError(404, f"no race {request.path_params['race_id']!r}")
    return JSONResponse(with_house_figures(view.book(), views.bets))


async def get_bet(request: Request, services: Services) -> Response:
    """A bet is its bettor's: (user, bet id) names it, a bet id alone does not."""
    user_id, bet_id = request.path_params["user_id"], request.path_params["bet_id"]
    bet = ready_views(services).bet(user_id, bet_id)
    if bet is None:
        raise HttpError(404, f"no bet {bet_id!r} of user {user_id!r}")
    return JSONResponse(bet)


async def user_bets(request: Request, services: Services) -> Response:
    return JSONResponse({"bets": ready_views(services).bets_of(request.path_params["user_id"])})


async def stats(request: Request, services: Services) -> Response:
    return JSONResponse(ready_views(services).stats())


async def command_result(request: Request, services: Services) -> Response:
    """What the engine did with a command: pending, applied, or refused with the reason."""
    request_id = request.path_params["request_id"]
    if not is_valid_id(request_id):
        raise HttpError(422, f"request_id: expected {ID_RULE}")
    result = ready_views(services).commands.get(request_id)
    if result is None:
        kept = services.settings.admin.command_results_max
        raise HttpError(404, f"no command {request_id!r} among the last {kept} known here")
    return JSONResponse(result)


# -- validation --------------------------------------------------------------------------------


def ready_views(services: Services) -> Any:
    if services.views is None:
        raise HttpError(503, "the read model is not available yet")
    return services.views


def identifier(value: object, name: str) -> str:
    """An id (race, runner, request), by the one rule every id follows."""
    if not is_valid_id(value):
        raise HttpError(422, f"{name}: expected {ID_RULE}")
    return value  # type: ignore[return-value]


def text(value: object, name: str, limit: int) -> str:
    """Free text (a name, a reason) as the engine's codec will check it again: printable."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise HttpError(422, f"{name}: a string of 1 to {limit} characters")
    try:
        return serial.check_text(value, name, limit)
    except InvalidValue as error:
        raise HttpError(422, str(error)) from None


def integer(value: object, name: str, low: int = 0, high: int = 2**63 - 1) -> int:
    if type(value) is not int or not low <= value <= high:
        raise HttpError(422, f"{name}: an integer in [{low}, {high}]")
    return value


def optional_margin(value: object) -> int | None:
    return None if value is None else integer(value, "margin_bp", 0, 5_000)


def runners(value: object) -> tuple[Runner, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= RUNNERS_MAX:
        raise HttpError(422, f"runners: a list of 1 to {RUNNERS_MAX} runners")
    result = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise HttpError(422, f"runners[{n}]: an object with runner_id and name")
        rating = item.get("rating")
        result.append(
            Runner(
                identifier(item.get("runner_id"), f"runners[{n}].runner_id"),
                text(item.get("name"), f"runners[{n}].name", 100),
                None if rating is None else integer(rating, f"runners[{n}].rating", 1, 10**9),
            )
        )
    if len({runner.runner_id for runner in result}) != len(result):
        raise HttpError(422, "runners: runner ids must be unique")
    return tuple(result)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
