"""What the engine did with each race command: applied, or refused with a reason.

The admin API answers a command 202 once it is in the `races` topic; the engine is the judge.
For every command it consumes, the engine writes one result to `command-results` (keyed by
race id, in the partition of the command) in the same transaction as the command's other
outputs, so a replay answers the same and nothing is answered that did not happen. The read
model keeps the latest results by request id, for `GET /admin/commands/{request_id}`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import orjson

from betting.codec import SCHEMA, CodecError, load_object
from betting.domain.errors import DomainError, IllegalTransition
from betting.domain.ids import is_valid_id

DETAIL_MAX = 500
COMMAND_NAMES = frozenset(
    {"create", "open", "suspend", "resume", "start", "close", "result", "void", "withdraw",
     "strengths", "settle"}
)  # fmt: skip


class CommandStatus(enum.StrEnum):
    PENDING = "pending"  # in the races topic, not yet answered by the engine
    APPLIED = "applied"
    REFUSED = "refused"


class RefusalReason(enum.StrEnum):
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"  # the race's state does not take it now
    INVALID_VALUE = "INVALID_VALUE"  # a field the domain refuses (a runner placed twice, say)
    UNKNOWN_RACE = "UNKNOWN_RACE"
    RACE_EXISTS = "RACE_EXISTS"  # a create for a race created under another request id
    INVALID = "INVALID"  # the record did not decode


@dataclass(frozen=True, slots=True)
class CommandResult:
    request_id: str  # "" when the command had none (or it could not be read)
    race_id: str
    command: str  # "open", "result", ...; "" when it could not be read
    status: CommandStatus
    reason: RefusalReason | None
    detail: str
    at_ms: int  # when the engine decided

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "race_id": self.race_id,
            "command": self.command,
            "status": str(self.status),
            "reason": str(self.reason) if self.reason else None,
            "detail": self.detail,
            "at_ms": self.at_ms,
        }


def applied(
    request_id: str, race_id: str, command: str, at_ms: int, detail: str = ""
) -> CommandResult:
    return CommandResult(request_id, race_id, command, CommandStatus.APPLIED, None, detail, at_ms)


def refused(
    request_id: str, race_id: str, command: str, reason: RefusalReason, detail: str, at_ms: int
) -> CommandResult:
    return CommandResult(
        request_id, race_id, command, CommandStatus.REFUSED, reason, detail[:DETAIL_MAX], at_ms
    )


def reason_of(error: DomainError) -> RefusalReason:
    if isinstance(error, IllegalTransition):
        return RefusalReason.ILLEGAL_TRANSITION
    return RefusalReason.INVALID_VALUE


def encode(result: CommandResult) -> bytes:
    return orjson.dumps({"v": SCHEMA, **result.as_dict()})


def decode(value: bytes) -> CommandResult:
    """A result as the engine wrote it; anything else raises `CodecError` naming the field."""
    fields = load_object(value, "command_result")
    data = fields.data
    try:
        status = CommandStatus(str(data.get("status")))
        reason = None if data.get("reason") is None else RefusalReason(str(data.get("reason")))
    except ValueError as error:
        raise CodecError(f"command_result: {error}") from None
    request_id, race_id, command, detail = (
        data.get(name) for name in ("request_id", "race_id", "command", "detail")
    )
    if not (request_id == "" or is_valid_id(request_id)):
        raise CodecError("command_result.request_id: expected an id or nothing")
    if not isinstance(race_id, str) or len(race_id) > 128:
        raise CodecError("command_result.race_id: expected a string of at most 128 characters")
    if not (command == "" or _is_command_name(command)):
        raise CodecError("command_result.command: expected a command name")
    if not isinstance(detail, str) or len(detail) > DETAIL_MAX:
        raise CodecError(f"command_result.detail: expected at most {DETAIL_MAX} characters")
    if (status is CommandStatus.REFUSED) != (reason is not None):
        raise CodecError("command_result.reason: a refusal has a reason, nothing else does")
    at_ms = fields.integer("at_ms")
    return CommandResult(request_id, race_id, command, status, reason, detail, at_ms)  # type: ignore[arg-type]


def identity(value: bytes) -> tuple[str, str, str]:
    """The request id, race id and command name of a command record that may not decode,
    each "" when it cannot be read as such: enough to tell its sender it was refused."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "", "", ""
    return identity_of(data)


def identity_of(data: object) -> tuple[str, str, str]:
    if not isinstance(data, dict):
        return "", "", ""
    request_id, race_id, command = (data.get(n) for n in ("request_id", "race_id", "type"))
    return (
        request_id if is_valid_id(request_id) else "",  # type: ignore[return-value]
        race_id if is_valid_id(race_id) else "",
        command if _is_command_name(command) else "",
    )


def _is_command_name(value: object) -> bool:
    return isinstance(value, str) and value in COMMAND_NAMES  # a list is not even hashable
